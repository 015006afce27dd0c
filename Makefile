# The one command surface: CI runs exactly these targets.
SHELL := /bin/bash
CARGO ?= cargo

# BENCH_ARGS: the bench's flags (--secs S, --reps N, --streams N, --only NAME,
# --section NAME, --quick); its defaults are 3 s runs, 3 repetitions, 2000 held streams.
BENCH_ARGS ?=

.PHONY: soak deps bench all build release fmt fmt-check lint test e2e venv check-conf doc demo run clean fuzz fuzz-tools verify-unit install up down ps logs health

# The official SDKs for the end-to-end tests live in a local virtualenv.
VENV := $(CURDIR)/.venv
PYTHON := $(VENV)/bin/python

all: build

build:
	$(CARGO) build --all-targets

release:
	$(CARGO) build --release

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --all-targets -- -D warnings

## The whole suite: formatting, lints, config files, fuzz smoke, unit + in-process end-to-end
## + CLI tests (cargo), then the real-model suite (make e2e).
## System packages a fresh Debian machine lacks (cmake, toolchain, python3-venv, npm, ...).
deps:
	@bash scripts/install-deps.sh

test: deps fmt-check lint check-conf verify-unit venv fuzz
	@mkdir -p target
	@set -o pipefail; LLMGATE_PYTHON=$(PYTHON) $(CARGO) test --all-targets 2>&1 | tee target/test-output.log
	@set -o pipefail; $(MAKE) --no-print-directory e2e 2>&1 | tee target/e2e-output.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {print "cargo: " p " passed, " f " failed"}' target/test-output.log
	@awk '/ passed/ && /=====/ {line = $$0} END {print "e2e (pytest): " line}' target/e2e-output.log

## The systemd unit as systemd itself reads it (`systemd-analyze verify`), pointed at the
## freshly built binary instead of the installed one.
verify-unit:
	$(CARGO) build --bin llmgate
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	  sed "s#/usr/local/bin/llmgate#$(CURDIR)/target/debug/llmgate#g" deploy/systemd/llmgate.service > "$$dir/llmgate.service" && \
	  systemd-analyze verify "$$dir/llmgate.service" && echo "verify-unit: deploy/systemd/llmgate.service OK"

## Installs the release binary, the systemd unit, the configuration and a secrets file
## (kept if present), and the `llmgate` system user. PREFIX and DESTDIR as usual.
PREFIX ?= /usr/local
install: release
	install -D -m 0755 target/release/llmgate $(DESTDIR)$(PREFIX)/bin/llmgate
	install -D -m 0644 deploy/systemd/llmgate.service $(DESTDIR)/etc/systemd/system/llmgate.service
	install -d -m 0750 $(DESTDIR)/etc/llmgate
	[ -e $(DESTDIR)/etc/llmgate/llmgate.yaml ] || install -m 0640 conf/llmgate.yaml $(DESTDIR)/etc/llmgate/llmgate.yaml
	[ -e $(DESTDIR)/etc/llmgate/llmgate.env ] || install -m 0600 deploy/systemd/llmgate.env $(DESTDIR)/etc/llmgate/llmgate.env
	@if [ -z "$(DESTDIR)" ]; then \
	  id -u llmgate >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin llmgate; \
	  chown -R root:llmgate /etc/llmgate; \
	  systemctl daemon-reload 2>/dev/null || true; \
	  echo "installed: sudo systemctl enable --now llmgate"; \
	fi

## The compose workflow (docker-compose.yml): `make env-<runtime>` writes .env from
## deploy/env/<runtime>.env (an existing .env is kept unless FORCE=1); `make up` starts the
## gateway and that runtime (BACKEND=... or the BACKEND in .env); `down`, `ps`, `logs`,
## `health` as usual.
RUNTIMES := vllm ollama llamacpp tgi sglang localai none demo
COMPOSE ?= docker compose
BACKEND ?= $(shell sed -n 's/^BACKEND=//p' .env 2>/dev/null)
API_PORT ?= $(or $(shell sed -n 's/^API_PORT=//p' .env 2>/dev/null),8000)
$(addprefix env-,$(RUNTIMES)): env-%:
	@if [ -e .env ] && [ -z "$(FORCE)" ]; then echo ".env exists; FORCE=1 make env-$* replaces it" >&2; exit 1; fi
	cp deploy/env/$*.env .env
	@echo ".env: $* (edit MODEL and API_KEYS, then: make up)"
up:
	@[ -n "$(BACKEND)" ] || { echo "BACKEND=<$(RUNTIMES)> or make env-<runtime> first" >&2; exit 1; }
	$(COMPOSE) --profile $(BACKEND) up -d --build
down:
	$(COMPOSE) --profile '*' down
ps:
	$(COMPOSE) --profile '*' ps
logs:
	$(COMPOSE) --profile '*' logs -f --tail=100
health:
	@curl -fsS http://127.0.0.1:$(API_PORT)/health && echo

## The real-model suite: llama.cpp llama-server + SmolLM2 behind llmgate, driven by the
## official openai and anthropic SDKs and by Claude Code. The first run builds llama-server
## (~8-10 min on 2 cores); it is cached outside the clone.
e2e: deps venv
	$(CARGO) build --bin llmgate
	@set -e; set -a; eval "$$(bash scripts/setup-llamacpp.sh)"; set +a; \
	  CLAUDE_BIN=$$(bash scripts/setup-claude-code.sh); export CLAUDE_BIN; \
	  LLMGATE_BIN=$(CURDIR)/target/debug/llmgate $(PYTHON) -m pytest tests/real -v -p no:cacheprovider

## The soak run (issue 7): SOAK_REQUESTS (300k) requests through 2 worker threads and 2
## deployments, with hundreds of concurrent streams, half abandoned; fails on any panic,
## dropped connection or request without an access-log record. Not part of `make test`.
SOAK_REQUESTS ?= 300000
soak:
	SOAK_REQUESTS=$(SOAK_REQUESTS) $(CARGO) test --release --test e2e soak -- --ignored --nocapture

## Build the fuzz targets and run each briefly, seeded with the golden vectors: the stream
## translators and the request translations (both directions) must never panic. cargo-fuzz needs nightly
## flags; RUSTC_BOOTSTRAP lets the one stable toolchain accept them.
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := stream_translator anthropic_request chunk_translator openai_request
fuzz: fuzz-tools
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build -O
	@mkdir -p $(addprefix fuzz/corpus/,$(FUZZ_TARGETS))
	@python3 fuzz/seed_corpus.py tests/fixtures/vectors fuzz/corpus tests/fixtures/reverse_vectors
	cd fuzz && set -o pipefail && for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 \
	    | grep -E 'number_of_executed_units|panicked|ERROR|SUMMARY' || exit 1; \
	done

fuzz-tools:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

venv: $(VENV)/.installed

$(VENV)/.installed: tests/sdk/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
	touch $@

check-conf:
	@for f in conf/llmgate.yaml conf/examples/*.yaml; do \
	  ALICE_KEY=k1 TEAM_A_KEY=k2 TEAM_B_KEY=k3 OPENAI_API_KEY=k4 GATEWAY_APP_KEY=k5 GATEWAY_MASTER_KEY=k6 \
	    $(CARGO) run -q -- -c $$f --check >/dev/null || { echo "$$f: invalid"; exit 1; }; \
	done; echo "conf/: every file valid"

doc:
	$(CARGO) doc --no-deps

## Direct vs. through-gateway on loopback, in one run, with ratios (not part of make test).
bench:
	$(CARGO) build --release --bin llmgate --example bare_pingora --example bench
	target/release/examples/bench $(BENCH_ARGS)

## The gateway on 127.0.0.1:8000 in front of a local backend (key: demo-key).
demo: deps
	bash scripts/demo.sh

run:
	$(CARGO) run --release -- -c conf/llmgate.yaml

clean:
	$(CARGO) clean
