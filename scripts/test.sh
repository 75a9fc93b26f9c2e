#!/usr/bin/env bash
# The README's test command: bootstraps .venv (with test extras) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(bash scripts/bootstrap.sh test)"
exec "$python" -m pytest -q "$@" tests
