#!/usr/bin/env bash
# The main demo on a fresh Debian/Ubuntu machine (root or sudo): set up (scripts/setup_env.sh),
# then run SmolVLA on the simulated SO-101 with the standalone runner, no ROS needed.
# SmolVLA is lerobot/smolvla_base when the Hugging Face cache has it or it can be downloaded;
# otherwise the runner says so and falls back (a checkpoint shipped with the project, else a
# random-initialised full-size SmolVLA, announced on the terminal and on every output as
# meaningless). 40 simulated seconds: on a 2-core CPU the run takes about 1.5-2.5 minutes after
# the set-up. It prints where the video, the plots, the metrics and the rosbag2 are.
# Extra arguments go to smolvla-run (e.g. `bash scripts/demo.sh --policy scripted`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh

export MUJOCO_GL=${MUJOCO_GL:-osmesa}
# 128x128 renders: the size the shipped checkpoint (checkpoints/smolvla_so101_sim) was trained on.
exec .venv/bin/smolvla-run --duration 40 --image-size 128x128 --output runs "$@"
