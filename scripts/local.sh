#!/usr/bin/env bash
# The local runner: for `serve`, first sets everything up as the demo does (setup's own
# messages hidden, its errors shown), then runs scripts/local.py with the venv's Python.
# Paths (--app) are taken from the caller's directory. See scripts/local.py and the README.
#
#   scripts/local.sh serve [--app DIR] [--port 8000] [--host 127.0.0.1]
#   scripts/local.sh artisan 'migrate --force'
#   scripts/local.sh queue --job Succeeds demo
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${1:-}" = serve ]; then
    "$ROOT/scripts/setup.sh" >/dev/null
fi
exec "$ROOT/.venv/bin/python" "$ROOT/scripts/local.py" "$@"
