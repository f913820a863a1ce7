#!/usr/bin/env bash
# The main job on data available offline: set up, then train a standard and a PGD-AT
# classifier on Fashion-MNIST (cpu preset), attack both, print the table and plot.
# Extra flags go to `tf-advnet demo`, e.g. bash scripts/demo.sh --dataset=mnist_5k
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PYTHONUNBUFFERED=1
exec "${TF_ADVNET_VENV:-.venv}/bin/tf-advnet" demo "$@"
