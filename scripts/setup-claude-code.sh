#!/usr/bin/env bash
# Installs Claude Code from the npm registry into a version-keyed cache and prints the path
# of its `claude` executable.
set -euo pipefail
VERSION=2.1.330
CACHE=${LLMGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llmgate}
DIR=$CACHE/claude-code-$VERSION
BIN=$DIR/node_modules/.bin/claude
if [ ! -x "$BIN" ]; then
  command -v npm >/dev/null 2>&1 || bash "$(dirname "$0")/install-deps.sh"
  echo "setup-claude-code: npm install @anthropic-ai/claude-code@$VERSION" >&2
  mkdir -p "$DIR"
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "@anthropic-ai/claude-code@$VERSION" >&2
fi
echo "$BIN"
