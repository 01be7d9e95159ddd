#!/usr/bin/env bash
# Set Nova up on a fresh machine: a virtual environment in .venv with Nova, its worker and
# test tools, and the web app built into nova/web/dist (served by `nova serve` at /).
#
#   scripts/install.sh            # then: .venv/bin/nova serve
#
# PYTHON=python3.12 scripts/install.sh picks another interpreter; VENV=dir another place.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Nova needs Python 3.11 or newer"'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev]"

if command -v npm >/dev/null 2>&1; then
  # `npm ci` installs exactly what the committed lock names and never rewrites it, so the
  # checkout stays clean (the lock lists every platform's optional packages).
  npm --prefix nova/web ci --no-audit --no-fund --loglevel=error
  npm --prefix nova/web run build --silent
else
  echo "warning: npm not found: the web app is not built (the API works; / explains how to build it)" >&2
fi
echo "Nova is installed. Start it with: $VENV/bin/nova serve"
