#!/usr/bin/env bash
# migcheck's native backend against SPIN and Rumur, in one interleaved run (native_vs_peers.py).
# Installs Debian's spin and rumur when they are missing (needs apt and root, or sudo).
#
#   bash bench/peer/native_run.sh [--repeat 3] [--quick]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
missing=()
command -v spin >/dev/null || missing+=(spin)
command -v rumur >/dev/null || missing+=(rumur)
command -v gcc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    $sudo apt-get install -y -q "${missing[@]}"
fi
spin -V | head -1
rumur --version 2>&1 | head -1
exec "${PYTHON:-python}" "$here/native_vs_peers.py" "$@"
