#!/usr/bin/env bash
# Installs, with apt, the system packages the build and the suites need and that a fresh
# Debian machine may lack: cmake and a C/C++ toolchain (Pingora's zlib-ng, llama.cpp),
# curl, Python with venv and pip (the SDK suites, registry downloads), Node.js and npm
# (Claude Code), systemd-analyze (the unit is verified), redis-server (shared limits are
# tested against a real one). Does nothing when everything is present.
set -euo pipefail
declare -A package_for=(
  [cmake]=cmake [gcc]=build-essential [g++]=build-essential [make]=make
  [pkg-config]=pkg-config [curl]=curl [python3]=python3 [npm]="nodejs npm"
  [systemd-analyze]=systemd [redis-server]=redis-server
)
packages=()
for tool in "${!package_for[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || packages+=(${package_for[$tool]})
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || packages+=(python3-venv)
python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)
[ ${#packages[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
echo "install-deps: apt-get install ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq $(printf '%s\n' "${packages[@]}" | sort -u) >/dev/null
