#!/usr/bin/env bash
# Sets up (with test-only dependencies) and runs the whole test suite.
# Extra arguments go to pytest, e.g. bash scripts/test.sh tests/attacks -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "${TF_ADVNET_VENV:-.venv}/bin/python" -m pytest -q -p no:cacheprovider "${@:-tests}"
