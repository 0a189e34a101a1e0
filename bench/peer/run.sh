#!/usr/bin/env bash
# migcheck's explicit engine against minicheck 0.4.0, in one run (see compare.py).
#
# minicheck is installed only into a venv of this benchmark's own, together with this repository
# (a regular, non-editable install of the working tree); it is never a dependency of migcheck and
# never installed into the main environment.
#
#   bash bench/peer/run.sh [--repeat 3] [--skip-class] [--pages 1 2 3]
#
# MIGCHECK_PEER_VENV (default /tmp/migcheck-peer-venv) and PYTHON (default python3.11) override
# where the venv goes and which interpreter makes it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${MIGCHECK_PEER_VENV:-/tmp/migcheck-peer-venv}"
python="${PYTHON:-python3.11}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
# Install the working tree as it is now (pip reinstalls a local directory every time), built
# from a copy of its files so that setuptools leaves no build/ directory in the repository.
src="$(mktemp -d /tmp/migcheck-peer-src.XXXXXX)"
trap 'rm -rf "$src"' EXIT
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$root" ls-files -z --cached --others --exclude-standard \
        | (cd "$root" && tar --null --ignore-failed-read -T - -cf -) | tar -C "$src" -xf -
else
    cp -r "$root/." "$src"
fi
"$venv/bin/python" -m pip install --quiet "minicheck==0.4.0" "$src"
"$venv/bin/python" "$here/compare.py" "$@"
