#!/usr/bin/env bash
# Creates (or reuses) .venv with the pinned dependencies; prints the venv's python path.
# Usage: scripts/bootstrap.sh [base|test]   (test adds the test/demo extras)
# Every install goes through requirements/constraints.txt: anything that depends on TensorFlow
# could otherwise upgrade it past 2.15 (the last release with Estimator).
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-base}"
venv=".venv"
pick_python() {
  for p in python3.11 python3.10 python3.9 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(not ((3,9) <= sys.version_info[:2] <= (3,11)))'; then
      echo "$p"; return 0
    fi
  done
  echo "error: need Python 3.9-3.11 (TensorFlow 2.15)" >&2; return 1
}
if [ ! -x "$venv/bin/python" ]; then
  "$(pick_python)" -m venv "$venv" >&2
  "$venv/bin/pip" install -q --upgrade pip >&2
fi
reqs=(-r requirements/base.txt)
[ "$want" = "test" ] && reqs+=(-r requirements/test.txt)
stamp="$venv/.installed-$want-$(cat requirements/*.txt setup.py | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$venv/bin/pip" install -q -c requirements/constraints.txt "${reqs[@]}" >&2
  "$venv/bin/pip" install -q -c requirements/constraints.txt --no-deps -e . >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
