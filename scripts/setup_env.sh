#!/usr/bin/env bash
# Set up everything smolvla-ros needs on a fresh Debian/Ubuntu machine (root or sudo):
# system packages, a virtualenv in .venv, PyTorch, the project with all extras, ROS 2 Kilted from
# PyPI (the `ros` extra: rclpy, Fast DDS, the message packages) and smolvla_interfaces built with
# colcon into .ros_ws/ (scripts/build_interfaces.sh). Use ROS from a shell with
# `source scripts/ros_env.sh`.
# Idempotent: a second run only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=''
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: run as root or install sudo" >&2; exit 1; }
  SUDO='sudo'
fi

# libosmesa6: MuJoCo renders the simulator cameras on the CPU through OSMesa.
# python3-venv: the virtualenv below. git: colcon and the tests inspect the tree.
# cmake, make, g++: colcon builds smolvla_interfaces (rosidl generates and compiles C/C++).
APT_PACKAGES=(libosmesa6 python3-venv python3-dev git cmake make g++)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  $PYTHON -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)

# torch first and pinned: on this project's machines 2.13.0 is a local CPU wheel, and installing it
# before the project keeps pip from resolving an unpinned torch to a multi-GB CUDA build.
# Override with TORCH_SPEC (e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124").
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  echo "==> pip install $TORCH_SPEC"
  # shellcheck disable=SC2086
  "${PIP[@]}" $TORCH_SPEC
fi

echo "==> pip install -e .[all,dev,ros]"
"${PIP[@]}" -e '.[all,dev,ros]'

# The build tools (pinned there) and the colcon build; skipped when already up to date.
SMOLVLA_VENV="$PWD/.venv" bash scripts/build_interfaces.sh
