#!/usr/bin/env bash
# Sets up tf_advnet on a fresh machine: a virtual environment with the pinned
# requirements, the tf_advnet package itself (editable, so the `tf-advnet` command
# runs this checkout), cleverhans 4.0.0 without its stale dependencies (see
# BUILD.md), and the Debian Fashion-MNIST package when apt is available. Idempotent
# and quick when everything is already there. Usage: bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${TF_ADVNET_VENV:-.venv}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PY --version)"
  $PY -m venv "$VENV"
fi
stamp="$VENV/.tf_advnet_stamp"
reqs_hash=$(cat requirements.txt requirements-test.txt pyproject.toml | sha256sum | cut -c1-16)
have=$(cat "$stamp" 2>/dev/null || true)
need="$reqs_hash-$want_test"
if [ "$have" != "$need" ] && [ "$have" != "$reqs_hash-1" ]; then
  echo "[setup] installing Python packages (first run: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  if [ $want_test = 1 ]; then
    "$VENV/bin/python" -m pip install -q -r requirements-test.txt
  else
    "$VENV/bin/python" -m pip install -q -r requirements.txt
  fi
  # The package, editable, its version ranges checked against the exact pins
  # (PYTHONWARNINGS: setuptools' advice on editable installs is not for users).
  PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q -e . -c requirements.txt
  # cleverhans 4.0.0 pins nose/mnist/tensorflow-probability and other packages its
  # TF2 attacks never import; installing them would drag in incompatible versions.
  "$VENV/bin/python" -m pip install -q --no-deps cleverhans==4.0.0
  echo "$need" > "$stamp"
fi

if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  SUDO=""
  [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"
  echo "[setup] installing Debian package dataset-fashion-mnist"
  ( $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
    { $SUDO apt-get update -q >/dev/null 2>&1 &&
      $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } ) ||
    echo "[setup] could not install dataset-fashion-mnist; put the IDX files under" \
         "\$TF_ADVNET_DATA/fashion_mnist/ instead (see README)"
fi
echo "[setup] ready: $VENV"
