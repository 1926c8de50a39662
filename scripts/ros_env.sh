# shellcheck shell=bash
# Source me: make the colcon-built smolvla_interfaces (scripts/build_interfaces.sh) and the ROS 2
# wheels of the venv visible to every process started from this shell, without a system ROS.
#
#   source scripts/ros_env.sh                              (the repository's .venv)
#   SMOLVLA_VENV=/path/to/venv source scripts/ros_env.sh
#
# Why not .ros_ws/install/setup.bash: colcon's setup scripts need the ament prefix of a system ROS
# to chain to; here the ROS "install" is the venv. Three variables are enough:
# - PYTHONPATH: the generated Python package (lib/python3.X/site-packages);
# - LD_LIBRARY_PATH: its typesupport libraries (lib/), read by the dynamic loader at process start,
#   so it must be set before python starts (a conftest cannot do it). The ros-wheels-bootstrapper
#   .pth of the venv re-executes python once, adding the wheels' own library folders and keeping
#   these entries;
# - AMENT_PREFIX_PATH: the ament index (rclpy finds type support and the RMW through it).
# This script changes only those three (prepending, without duplicates on re-sourcing) and never
# the ROS networking variables: the product keeps the user's settings.

_smolvla_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_smolvla_venv=$(cd "${SMOLVLA_VENV:-$_smolvla_root/.venv}" 2>/dev/null && pwd) || _smolvla_venv=''
_smolvla_pkg="$_smolvla_root/.ros_ws/install/smolvla_interfaces"

_smolvla_prepend() {  # _smolvla_prepend VAR DIR: put DIR first in VAR unless it is already there
  local current=${!1:-}
  case ":$current:" in
    *":$2:"*) ;;
    *) export "$1=$2${current:+:$current}" ;;
  esac
}

if [ -z "$_smolvla_venv" ] || [ ! -x "$_smolvla_venv/bin/python" ]; then
  echo "ros_env.sh: no venv at ${SMOLVLA_VENV:-$_smolvla_root/.venv}: run bash scripts/setup_env.sh" >&2
elif [ ! -d "$_smolvla_pkg/lib" ]; then
  echo "ros_env.sh: smolvla_interfaces is not built: run bash scripts/build_interfaces.sh" >&2
else
  _smolvla_prepend AMENT_PREFIX_PATH "$_smolvla_venv"
  _smolvla_prepend AMENT_PREFIX_PATH "$_smolvla_pkg"
  _smolvla_prepend LD_LIBRARY_PATH "$_smolvla_pkg/lib"
  for _smolvla_site in "$_smolvla_pkg"/lib/python3.*/site-packages; do
    [ -d "$_smolvla_site" ] && _smolvla_prepend PYTHONPATH "$_smolvla_site"
  done
fi
unset -f _smolvla_prepend
unset _smolvla_root _smolvla_venv _smolvla_pkg _smolvla_site
