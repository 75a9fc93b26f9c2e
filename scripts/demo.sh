#!/usr/bin/env bash
# The README's first command: bootstraps .venv, makes a small real dataset offline
# (Fashion-MNIST from Debian's dataset-fashion-mnist package; scikit-learn's bundled digits
# when that can't be installed), converts it, trains DCGAN 32px on CPU (~10 min on 2 cores),
# and prints where the sample grids and TensorBoard events are.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(bash scripts/bootstrap.sh test)"
exec "$python" -m trainer.demo "$@"
