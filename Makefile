# The one command surface: CI runs exactly these targets.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all build release fmt fmt-check lint test venv check-conf doc demo run clean

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

## The whole suite: formatting, lints, unit, in-process end-to-end, CLI and config tests.
test: fmt-check lint check-conf venv
	@mkdir -p target
	@set -o pipefail; LLMGATE_PYTHON=$(PYTHON) $(CARGO) test --all-targets 2>&1 | tee target/test-output.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {print "summary: " p " passed, " f " failed"}' target/test-output.log

venv: $(VENV)/.installed

$(VENV)/.installed: tests/sdk/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
	touch $@

check-conf:
	@for f in conf/llmgate.yaml conf/examples/*.yaml; do \
	  ALICE_KEY=k1 TEAM_A_KEY=k2 TEAM_B_KEY=k3 OPENAI_API_KEY=k4 GATEWAY_APP_KEY=k5 \
	    $(CARGO) run -q -- -c $$f --check >/dev/null || { echo "$$f: invalid"; exit 1; }; \
	done; echo "conf/: every file valid"

doc:
	$(CARGO) doc --no-deps

## The gateway on 127.0.0.1:8000 in front of a local backend (key: demo-key).
demo:
	bash scripts/demo.sh

run:
	$(CARGO) run --release -- -c conf/llmgate.yaml

clean:
	$(CARGO) clean
