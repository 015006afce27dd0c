#!/usr/bin/env bash
# make demo: llmgate on 127.0.0.1:8000 in front of the bundled mock backend (vLLM
# behaviour) on 127.0.0.1:8001. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need cargo; then
  echo "demo: cargo is missing; install Rust from https://rustup.rs or your package manager" >&2
  exit 1
fi
if ! need cmake; then
  echo "demo: installing cmake (Pingora's zlib-ng build needs it)..."
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq cmake; else sudo apt-get update -qq && sudo apt-get install -y -qq cmake; fi
fi

echo "demo: building llmgate and the mock backend (the first build takes a few minutes)..."
cargo build --release --bin llmgate --example mock_backend

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo: stopped"
}
trap cleanup INT TERM EXIT

./target/release/examples/mock_backend --kind vllm --port 8001 --model smollm2-135m-instruct &
pids+=($!)
./target/release/llmgate -c conf/examples/demo.yaml &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8000/readyz >/dev/null 2>&1 && break
  sleep 0.1
done

cat <<'TXT'

llmgate is running on http://127.0.0.1:8000 (model: smollm2, key: demo-key). Try:

  curl -s http://127.0.0.1:8000/v1/chat/completions -H 'Authorization: Bearer demo-key' \
    -H 'Content-Type: application/json' \
    -d '{"model":"smollm2","messages":[{"role":"user","content":"Say hello"}]}'

  curl -sN http://127.0.0.1:8000/v1/chat/completions -H 'Authorization: Bearer demo-key' \
    -H 'Content-Type: application/json' \
    -d '{"model":"smollm2","stream":true,"messages":[{"role":"user","content":"Say hello"}]}'

  curl -s http://127.0.0.1:8000/v1/models -H 'Authorization: Bearer demo-key'
  curl -s http://127.0.0.1:8000/health
  curl -s http://127.0.0.1:8000/metrics | grep llmgate_requests_total

OpenAI SDK (Python):
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="demo-key")
  print(client.chat.completions.create(model="smollm2",
        messages=[{"role": "user", "content": "Say hello"}]).choices[0].message.content)

Press Ctrl-C to stop.
TXT
wait -n "${pids[@]}"
