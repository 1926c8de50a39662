"""Simulator benchmark: physics speed without rendering, and three-camera render rate.

    python -m so_arm_driver.sim.bench [--seconds 20] [--frames 60] [--repeats 5] [--size 256]
                                      [--json PATH]

Physics is timed while the scripted expert runs a pick-and-place (contacts included), as the
ratio of simulated to wall-clock seconds. Rendering is timed as complete sets of the three
cameras per wall-clock second at ``--size`` x ``--size`` (median of ``--repeats`` runs), alone
and with one control step of physics before each set. The JSON records the usable CPUs and
the load average, since both move the figures on a shared machine; pin to one core with
``taskset -c 0`` to see the single-core figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


def bench_render(frames: int, size: int, repeats: int = 5) -> dict[str, float]:
    """Three-camera sets per wall second at ``size`` x ``size``: medians over ``repeats`` runs.

    Returns ``render_fps`` (rendering only, the arm still) and ``step_render_fps`` (one control
    step of physics, then the three cameras: what a recording or policy loop pays).
    """
    render_only, step_render = [], []
    with Simulator(SimConfig(image_width=size, image_height=size)) as sim:
        sim.render()  # creates the GL context and uploads meshes; not timed
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(frames):
                sim.render()
            render_only.append(frames / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            for _ in range(frames):
                sim.step()
                sim.render()
            step_render.append(frames / (time.perf_counter() - t0))
    return {
        'render_fps': statistics.median(render_only),
        'step_render_fps': statistics.median(step_render),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=20.0, help='simulated seconds to time')
    parser.add_argument('--frames', type=int, default=60, help='three-camera sets per run')
    parser.add_argument('--repeats', type=int, default=5, help='render runs; the median counts')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--json', type=Path, default=None)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.frames < 1 or args.repeats < 1:
        parser.error('--seconds must be > 0, --frames and --repeats at least 1')
    realtime = bench_physics(args.seconds)
    render = bench_render(args.frames, args.size, args.repeats)
    result = {
        'physics_realtime_factor': round(realtime, 1),
        'render_three_cameras_fps': round(render['render_fps'], 1),
        'step_and_render_three_cameras_fps': round(render['step_render_fps'], 1),
        'image_size': args.size,
        'repeats': args.repeats,
        'mujoco': mujoco.__version__,
        'gl_backend': os.environ.get('MUJOCO_GL'),
        'cpu_count': os.cpu_count(),
        'cpus_usable': len(os.sched_getaffinity(0)),
        'load_average_1min': round(os.getloadavg()[0], 2),
        'machine': platform.machine(),
    }
    print(f'physics: {realtime:.1f}x real time (target >= 10x)')
    print(
        f'render: {render["render_fps"]:.1f} three-camera sets/s at {args.size}x{args.size} '
        f'(target >= 15); with a control step each: {render["step_render_fps"]:.1f}/s'
    )
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding='utf-8')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
