#!/usr/bin/env bash
# Set up (scripts/setup_env.sh) and run lint plus the test suite. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh --run-slow -k parity`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh

export MUJOCO_GL=${MUJOCO_GL:-osmesa}
export HF_HUB_OFFLINE=1

echo "==> ruff check + format --check"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "==> pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a broken suite, not a pass.
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
