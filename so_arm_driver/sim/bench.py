"""Simulator benchmark: physics speed without rendering, and three-camera render rate.

    python -m so_arm_driver.sim.bench [--seconds 20] [--frames 60] [--size 256] [--json PATH]

Physics is timed while the scripted expert runs a pick-and-place (contacts included), as the
ratio of simulated to wall-clock seconds. Rendering is timed as complete sets of the three
cameras per wall-clock second at ``--size`` x ``--size``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import mujoco

from so_arm_driver.sim.config import SimConfig
from so_arm_driver.sim.expert import ExpertConfig, ScriptedExpert
from so_arm_driver.sim.kinematics import Kinematics
from so_arm_driver.sim.simulator import Simulator


def bench_physics(sim_seconds: float) -> float:
    """Simulated seconds per wall second over ``sim_seconds`` of expert-driven episodes."""
    with Simulator(SimConfig()) as sim:
        dt = sim.config.effective_control_dt_s
        expert = ScriptedExpert(Kinematics(sim.model), ExpertConfig(control_dt_s=dt))
        simulated = 0.0
        seed = 0
        wall = 0.0
        while simulated < sim_seconds:
            plan = expert.plan(sim.reset(seed))  # planning (IK) is not physics: not timed
            t0 = time.perf_counter()
            for k in range(int(plan.duration_s / dt)):
                sim.set_goals(plan.at((k + 1) * dt))
                sim.step()
            wall += time.perf_counter() - t0
            simulated += sim.time_s
            seed += 1
    return simulated / wall


def bench_render(frames: int, size: int) -> float:
    """Complete three-camera sets rendered per wall second at ``size`` x ``size``."""
    with Simulator(SimConfig(image_width=size, image_height=size)) as sim:
        sim.render()  # creates the GL context; not timed
        t0 = time.perf_counter()
        for _ in range(frames):
            sim.step()
            sim.render()
        return frames / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=20.0, help='simulated seconds to time')
    parser.add_argument('--frames', type=int, default=60, help='three-camera sets to time')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--json', type=Path, default=None)
    args = parser.parse_args(argv)
    realtime = bench_physics(args.seconds)
    fps = bench_render(args.frames, args.size)
    result = {
        'physics_realtime_factor': round(realtime, 1),
        'render_three_cameras_fps': round(fps, 1),
        'image_size': args.size,
        'mujoco': mujoco.__version__,
        'gl_backend': os.environ.get('MUJOCO_GL'),
        'cpu_count': os.cpu_count(),
        'machine': platform.machine(),
    }
    print(f'physics: {realtime:.1f}x real time (target >= 10x)')
    print(f'render: {fps:.1f} three-camera sets/s at {args.size}x{args.size} (target >= 15)')
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding='utf-8')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
