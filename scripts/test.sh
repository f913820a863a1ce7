#!/usr/bin/env bash
# Sets up (with test-only dependencies) and runs the whole test suite.
# Extra arguments go to pytest, e.g. bash scripts/test.sh tests/attacks -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
VENV=${TF_ADVNET_VENV:-.venv}
if [ $# -eq 0 ]; then  # the whole suite: lint first (seconds), then the tests
  "$VENV/bin/ruff" check --quiet tf_advnet experiments benchmarks tests notebooks
fi
# One worker per core (TF_ADVNET_TEST_WORKERS overrides; 0 runs in this process); a
# test file stays on one worker, so its module fixtures (the tiny reproductions) run once
# (xdist's most-tests-first file order measured 30 s faster than slow-files-first: 501 vs 531 s).
# --durations: the slowest tests are named in every CI log, so a slow one is seen.
WORKERS=${TF_ADVNET_TEST_WORKERS:-auto}
if [ "$WORKERS" != "0" ]; then
  # One worker per core: each TensorFlow process keeps to one compute thread, so the
  # workers do not take turns on the same cores (the caller's settings win).
  export TF_NUM_INTRAOP_THREADS=${TF_NUM_INTRAOP_THREADS:-1}
  export TF_NUM_INTEROP_THREADS=${TF_NUM_INTEROP_THREADS:-2}
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
fi
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -n "$WORKERS" \
  --dist loadfile --durations=25 "${@:-tests}"
