#!/usr/bin/env bash
# The GPU benchmark (benchmarks/gpu.py) in one command, under 8 minutes on one H100:
# images/s of the standard, PGD-7 AT, BAT, L2L-DA and DeepDefense training steps with
# XLA off/on and mixed precision off/on, PGD-k / (k x grad pass), ours vs cleverhans
# PGD; writes results/benchmarks/gpu_<device>.json (and copies it to $OUT when set).
#
#   bash benchmarks/gpu.sh --prepare             # here: copy the Fashion-MNIST IDX files
#                                                # into .gpu_data/ (git-ignored) to carry
#   bash benchmarks/gpu.sh [gpu.py flags]        # there: run it (data from .gpu_data/,
#                                                # else $TF_ADVNET_DATA, else the Debian copy)
#   bash benchmarks/gpu.sh --dry_run             # every code path on the CPU
#
# PYTHON picks the interpreter (default .venv/bin/python, else python3); it needs
# TensorFlow 2.21 with CUDA (pip install "tensorflow[and-cuda]==2.21.0") and, for the
# cleverhans row, cleverhans 4.0.0 (pip install --no-deps cleverhans==4.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_DIR=/usr/share/datasets/fashion-mnist
if [[ "${1:-}" == "--prepare" ]]; then
  src=${2:-${DEBIAN_DIR}}
  mkdir -p .gpu_data/fashion_mnist
  cp "$src"/*-ubyte* .gpu_data/fashion_mnist/
  grep -qx '/.gpu_data/' .git/info/exclude 2>/dev/null || echo '/.gpu_data/' >> .git/info/exclude
  du -sh .gpu_data
  echo "carry .gpu_data with the device tool's run (carry: [\".gpu_data\"])"
  exit 0
fi

PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
if ! "$PY" -c "import tensorflow" 2>/dev/null; then
  echo "gpu.sh: $PY cannot import tensorflow; install tensorflow[and-cuda]==2.21.0" >&2
  exit 2
fi

data_flag=()
if [[ " $* " != *" --data_dir"* ]]; then
  for d in .gpu_data/fashion_mnist "${TF_ADVNET_DATA:-}" "$DEBIAN_DIR"; do
    if [[ -n "$d" && -d "$d" ]]; then data_flag=(--data_dir="$d"); break; fi
  done
fi

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
if [[ " $* " != *" --dry_run "* ]]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
fi
rc=0
# gpu.py stops starting new cells after --budget_s (330 s) and writes its JSON after
# every cell, so the hard limit below only ever cuts a cell already running.
timeout 470 "$PY" benchmarks/gpu.py "${data_flag[@]}" "$@" || rc=$?
if [[ -n "${OUT:-}" && -d "${OUT}" ]]; then
  cp results/benchmarks/gpu_*.json "$OUT"/ 2>/dev/null || true
fi
exit $rc
