"""``smolvla-bench async`` / ``python -m smolvla_ros.bench async``: the async runtime benchmark.

Prints a summary and writes JSON (``--json``) and the queue plot (``--plot``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from smolvla_ros.bench.async_bench import (
    MODES,
    Scenario,
    evaluate_targets,
    plot_queue,
    run_mode,
    sweep,
)
from smolvla_ros.bench.policy_sim import LatencyModel
from smolvla_ros.bench.sim_arm import SIM_ARMS, BackendUnavailableError
from smolvla_ros.runtime.config import BLEND_MODES


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
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code (0, or 2 on bad arguments or a
    backend whose dependencies are missing)."""
    args = _parser().parse_args(argv)
    if args.duration <= 0 or args.sweep_duration <= 0:
        print('error: --duration and --sweep-duration must be > 0 seconds', file=sys.stderr)
        return 2
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
                scenario, mode, args.duration, realtime=not args.simulated_time
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
        if r['arm_stepping_ms'] and r['arm_stepping_ms']['calls']:
            st = r['arm_stepping_ms']
            print(
                f'{"":>12}  physics stepping per call: p50 {st["p50_ms"]:.2f} ms, '
                f'p99 {st["p99_ms"]:.2f} ms, max {st["max_ms"]:.2f} ms'
            )
    targets = evaluate_targets(scenario, results)
    for k, v in targets.items():
        print(f'  {k}: {v}')
    rows = [] if args.no_sweep else sweep(scenario, args.sweep_duration)
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
