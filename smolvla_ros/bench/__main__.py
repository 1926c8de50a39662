"""``smolvla-bench async`` / ``python -m smolvla_ros.bench async``: the async runtime benchmark.

Prints a summary and writes JSON (``--json``) and the queue plot (``--plot``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from smolvla_ros.bench.async_bench import (
    DEFAULT_CAMERA_FPS,
    MODES,
    Scenario,
    evaluate_targets,
    plot_queue,
    run_mode,
    sweep,
)
from smolvla_ros.bench.model_policy import (
    LATENCY_NOTE,
    MODEL_SIZES,
    build_random_smolvla,
    load_checkpoint_policy,
    model_chunk_size,
    model_parameters,
    warm_up,
)
from smolvla_ros.bench.policy_sim import LatencyModel
from smolvla_ros.bench.sim_arm import SIM_ARMS, BackendUnavailableError
from smolvla_ros.runtime.config import BLEND_MODES
from so_arm_driver.robots import SO101


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='smolvla-bench', description=__doc__)
    sub = p.add_subparsers(dest='bench', required=True)
    a = sub.add_parser('async', help='sync vs async vs latency-free on a simulated arm')
    a.add_argument('--json', type=Path, help='write the results here')
    a.add_argument('--plot', type=Path, help='write the queue-length PNG here')
    a.add_argument('--duration', type=float, default=60.0, help='seconds per headline mode')
    a.add_argument(
        '--sweep-duration', type=float, default=120.0, help='simulated seconds per sweep run'
    )
    a.add_argument('--no-sweep', action='store_true', help='skip the g x blending sweep')
    a.add_argument(
        '--simulated-time',
        action='store_true',
        help='run the headline modes on simulated time too (fast; no real jitter)',
    )
    a.add_argument('--chunk-size', type=int, default=50)
    a.add_argument('--dt', type=float, default=1.0 / 30.0, help='policy step, seconds')
    a.add_argument('--latency-median', type=float, default=0.35, help='seconds')
    a.add_argument('--latency-sigma', type=float, default=0.1, help='log-normal sigma')
    a.add_argument('--g', type=float, default=0.7)
    a.add_argument('--blending', choices=[m.value for m in BLEND_MODES], default='crossfade')
    a.add_argument('--tick-rate', type=float, default=30.0, help='Hz')
    a.add_argument('--sim', choices=sorted(SIM_ARMS), default='kinematic')
    a.add_argument('--seed', type=int, default=0)
    a.add_argument(
        '--policy',
        choices=('oracle', 'smolvla'),
        default='oracle',
        help='oracle: latency sampled from --latency-median/--latency-sigma; smolvla: latency '
        'measured from a real SmolVLA forward pass on every request (real time only), actions '
        "from the oracle, since a random model's actions mean nothing",
    )
    a.add_argument(
        '--model-size',
        choices=MODEL_SIZES,
        help='random-initialised SmolVLA built in-process (default small; full = the 450M '
        'smolvla_base layout); with --policy smolvla',
    )
    a.add_argument(
        '--checkpoint', type=Path, help='time this SmolVLA checkpoint instead (--policy smolvla)'
    )
    a.add_argument(
        '--camera-fps',
        type=float,
        default=DEFAULT_CAMERA_FPS,
        help='frame rate of the model cameras (MuJoCo renders, or synthetic frames), Hz',
    )
    a.add_argument('--device', default='cpu', help='torch device of the model (cpu, cuda)')
    return p


def _check_model_args(args: argparse.Namespace) -> str | None:
    """The error message for an impossible combination of the model options, or None."""
    if args.policy != 'smolvla':
        if args.model_size is not None or args.checkpoint is not None:
            return '--model-size and --checkpoint need --policy smolvla'
        return None
    if args.simulated_time:
        return (
            '--policy smolvla measures the real model latency, which needs real time: simulated '
            'time stands still while the model computes. Drop --simulated-time (or use '
            '--policy oracle with --latency-median for simulated runs)'
        )
    if args.model_size is not None and args.checkpoint is not None:
        return 'give either --model-size or --checkpoint, not both'
    if args.checkpoint is not None and not args.checkpoint.is_dir():
        return f'--checkpoint {args.checkpoint}: no such folder'
    if not args.camera_fps > 0:
        return '--camera-fps must be > 0 Hz'
    return None


def _build_model(args: argparse.Namespace, joint_names: tuple[str, ...]) -> Any:
    if args.checkpoint is not None:
        return load_checkpoint_policy(args.checkpoint, joint_names, args.dt, args.device)
    return build_random_smolvla(
        args.model_size or 'small',
        joint_names,
        chunk_size=args.chunk_size,
        dt_s=args.dt,
        device=args.device,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code (0, or 2 on bad arguments or a
    backend whose dependencies are missing)."""
    args = _parser().parse_args(argv)
    if args.duration <= 0 or args.sweep_duration <= 0:
        print('error: --duration and --sweep-duration must be > 0 seconds', file=sys.stderr)
        return 2
    problem = _check_model_args(args)
    if problem is not None:
        print(f'error: {problem}', file=sys.stderr)
        return 2
    model, model_info = None, None
    if args.policy == 'smolvla':
        from smolvla_model.errors import SmolVLAError

        try:
            model = _build_model(args, SO101.joint_names)
        except (ValueError, OSError, SmolVLAError) as e:  # a bad checkpoint, size or device
            print(f'error: cannot build the model: {e}', file=sys.stderr)
            return 2
        # The chunks are the model's own size and step; the oracle plans to match.
        args.chunk_size, args.dt = model_chunk_size(model), float(model.dt_s)
        warm_s = warm_up(model)
        model_info = {
            'source': str(args.checkpoint or f'random {args.model_size or "small"}'),
            'parameters': model_parameters(model),
            'warm_up_s': warm_s,
            'note': LATENCY_NOTE,
        }
        print(
            f'model: {model_info["source"]}, {model_info["parameters"] / 1e6:.1f} M parameters, '
            f'chunk {args.chunk_size} x {args.dt:.4f} s, first call {warm_s:.2f} s'
        )
        print(f'  {LATENCY_NOTE}')
    try:
        scenario = Scenario(
            chunk_size=args.chunk_size,
            dt_s=args.dt,
            latency=LatencyModel(args.latency_median, args.latency_sigma, args.seed),
            g=args.g,
            blending=args.blending,
            tick_rate_hz=args.tick_rate,
            sim=args.sim,
        )
        scenario.runtime_config('async')
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    started = time.monotonic()
    results = {}
    for mode in MODES:
        try:
            results[mode] = run_mode(
                scenario,
                mode,
                args.duration,
                realtime=not args.simulated_time,
                model=model,
                camera_fps=args.camera_fps,
            )
        except BackendUnavailableError as e:  # e.g. --sim mujoco without MuJoCo installed
            print(f'error: {e}', file=sys.stderr)
            return 2
        r = results[mode]
        print(
            f'{mode:>12}: {r["completions"]:3d} completions, '
            f'{r["completions_per_min"] or 0:.2f}/min, starvation {r["starvation_ticks"]} ticks, '
            f'max seam {r["max_seam_jump_rad"]:.4f} rad, '
            f'jitter p99 {r["tick_jitter_p99_ms"] or 0:.3f} ms'
        )
        cpu = r['host_cpu']
        if cpu['host_steal_s'] is not None:
            print(
                f'{"":>12}  host during the run: {cpu["host_steal_s"]:.2f} s stolen by the '
                f'hypervisor, {cpu["host_busy_other_s"]:.2f} s CPU used by other processes, '
                f'{cpu["process_cpu_s"]:.2f} s by this one'
            )
        ml = r['model_latency']
        if ml is not None:
            print(
                f'{"":>12}  model latency (measured): median {ml["median_s"] or 0:.3f} s, '
                f'p90 {ml["p90_s"] or 0:.3f} s over {ml["calls"]} calls; request to delivery '
                f'median {r["metrics"]["inference_latency_median_s"] or 0:.3f} s'
            )
        if r['arm_stepping_ms'] and r['arm_stepping_ms']['calls']:
            st = r['arm_stepping_ms']
            print(
                f'{"":>12}  physics stepping per call: p50 {st["p50_ms"]:.2f} ms, '
                f'p99 {st["p99_ms"]:.2f} ms, max {st["max_ms"]:.2f} ms'
            )
    if model is not None:
        # The theory and bounds use the latency the chunks actually had (request to delivery).
        measured = results['async']['metrics']['inference_latency_median_s'] or 0.0
        scenario = replace(scenario, latency=replace(scenario.latency, median_s=measured))
    targets = evaluate_targets(scenario, results)
    for k, v in targets.items():
        print(f'  {k}: {v}')
    if model is not None and not args.no_sweep:
        print('  sweep skipped: it runs on simulated time, which cannot measure a model latency')
    rows = [] if args.no_sweep or model is not None else sweep(scenario, args.sweep_duration)
    for row in rows:
        print(
            f'  sweep g={row["g"]:.1f} {row["blending"]:>12}: '
            f'{row["completions_per_min"] or 0:.2f}/min starvation {row["starvation_ticks"]:4d} '
            f'seam {row["max_seam_jump_rad"]:.4f} rad'
        )
    if args.plot:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot_queue(results, str(args.plot))
    report = {
        'scenario': {
            'chunk_size': scenario.chunk_size,
            'dt_s': scenario.dt_s,
            'latency_s_median': scenario.latency.median_s,
            'g': scenario.g,
            'latency_sigma': scenario.latency.sigma,
            'blending': scenario.blending,
            'tick_rate_hz': scenario.tick_rate_hz,
            'sim': scenario.sim,
            'duration_s': args.duration,
            'policy': args.policy,
            'latency_source': 'measured' if model is not None else 'sampled',
            'model': model_info,
        },
        **{m: {k: v for k, v in results[m].items() if k != 'queue_history'} for m in MODES},
        'targets': targets,
        'sweep': rows,
        'wall_time_s': time.monotonic() - started,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + '.tmp')
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(args.json)  # never leave a half-written file
    return 0


if __name__ == '__main__':
    sys.exit(main())
