"""``smolvla-eval``: closed-loop success of a policy on held-out simulator scenes, sync vs async.

Examples::

    smolvla-eval checkpoints/smolvla_so101_sim               # 50 seeds from 100000, both modes
    smolvla-eval ./my_finetune --episodes 10 --modes async --video-episodes 1
    smolvla-eval --policy scripted --episodes 20             # the scripted expert: a baseline
    smolvla-eval ./ckpt --latency 0.25 --json results.json   # a fixed latency per chunk

A benchmark, not a test: it prints a table and writes JSON, it asserts nothing.

Every episode goes through the demo's path (:mod:`smolvla_ros.runner.run`): the policy is loaded
by ``load_policy`` (units from the checkpoint, the simulator's virtual calibration), the scene is
``Simulator.reset(seed)`` and the episode runs in :class:`~smolvla_ros.pipeline.SimPipeline` with
the chunk latency measured on this CPU (``PipelineConfig(latency_s=None)``, unless ``--latency``
fixes it): while the policy computes, simulated time runs on by as long as it took. Sync and
async differ only in the runtime's mode (``RunOptions.runtime_config``); the seeds, the policy
(and its noise seed) and every other setting are the same.

Held-out seeds: recording demonstrations uses the scene seeds 0..N-1, so the evaluation starts
at 100000 (``--seed-start``). Episode k of every mode runs on the scene seed ``seed_start + k``.

Per episode: grasp success (the cube was lifted, ``Simulator.cube_lifted``, at any tick); place
success (the cube rests in the bin at the end, ``Simulator.cube_in_bin``); time to success (the
simulated seconds to the first tick with the cube resting in the bin; the episode then runs
:data:`SETTLE_S` more and stops); the median chunk latency; starvation ticks (the executor's queue
ran empty after the first chunk). Per mode: success rates with 95 % Wilson intervals, the median
time to success, the median latency; with both modes, one line comparing them.

Output (``<output>/<UTC time>-eval-<policy>/``): ``eval.json`` (or ``--json PATH``) and, for the
first ``--video-episodes`` episodes of each mode, ``video-<mode>-seed<seed>.mp4`` (the runner's
video: cameras side by side with its text strip).

Exit status: 0 done; 2 a bad option or a checkpoint that cannot be loaded (said in one line,
before any episode runs; nothing is written); 130 Ctrl-C (the finished episodes are summarised
and written; the interrupted one is listed as incomplete and left out of the rates).
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_ros.ctrl_c import CtrlC
from smolvla_ros.runner.cli import (
    PRECISIONS,
    UNITS,
    UsageError,
    UsageErrorParser,
    add_num_threads_argument,
    check_choice,
    check_finite,
    check_threads,
)
from smolvla_ros.runner.run import (
    EXIT_INTERRUPTED,
    VIDEO_FPS,
    PolicyChoice,
    RunnerError,
    RunOptions,
    RunRecorder,
    load_policy,
    make_run_folder,
)
from smolvla_ros.tasks import SIM_TASK

PROG = 'smolvla-eval'
EVAL_FORMAT = 'smolvla-eval/1'
MODES = ('async', 'sync')
# Recording uses the scene seeds 0..N-1; evaluation defaults to seeds no recording reaches.
SEED_START = 100000
# Simulated seconds an episode runs on after the cube first rests in the bin: long enough to
# see it stay there (the arm retreating must not knock it out), short enough not to pad
# the wall time of a benchmark of 50 x 2 episodes.
SETTLE_S = 0.5
# Two-sided 95 % normal quantile for the Wilson interval.
Z_95 = 1.959963984540054
# Columns of the summary table when the output is not a terminal.
TABLE_WIDTH = 110
# Simulated time is a sum of float steps.
_TIME_EPS_S = 1e-9


@dataclass(frozen=True)
class EvalOptions:
    """A validated ``smolvla-eval`` command line (units in brackets).

    Attributes:
        policy: 'smolvla' or 'scripted'.
        checkpoint: SmolVLA checkpoint folder or hub repo id; None: the default choice
            (pretrained SmolVLA, else the shipped checkpoint; never random weights).
        episodes: episodes per mode (>= 1). seed_start: scene seed of episode 0 (>= 0).
        modes: runtime modes, in order ('async', 'sync').
        max_seconds: simulated length limit of an episode [s].
        video_episodes: episodes per mode with a video (the first ones).
        output: folder the evaluation folder is created in.
        latency_s: None: each chunk's latency measured on this CPU; else fixed [s].
        json_path: where the JSON goes; None: ``eval.json`` in the evaluation folder.
        instruction, image_size [px (width, height)], device, precision, num_threads, units:
            as smolvla-run.
    """

    policy: str = 'smolvla'
    checkpoint: str | None = None
    episodes: int = 50
    seed_start: int = SEED_START
    modes: tuple[str, ...] = MODES
    max_seconds: float = 30.0
    video_episodes: int = 3
    output: Path = Path('runs')
    latency_s: float | None = None
    json_path: Path | None = None
    instruction: str = SIM_TASK
    image_size: tuple[int, int] = (256, 256)
    device: str = 'cpu'
    precision: str = 'fp32'
    num_threads: int | None = None
    units: str | None = None

    def run_options(self, mode: str) -> RunOptions:
        """The runner's options for one mode (every other setting the runner's default)."""
        return RunOptions(
            policy=self.policy,
            checkpoint=self.checkpoint,
            instruction=self.instruction,
            mode=mode,
            duration_s=self.max_seconds,
            episodes=self.episodes,
            device=self.device,
            precision=self.precision,
            num_threads=self.num_threads,
            units=self.units,
            seed=self.seed_start,
            output=self.output,
            image_size=self.image_size,
            latency_s=self.latency_s,
            live=False,
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (types only; :func:`parse_options` validates)."""
    p = UsageErrorParser(
        prog=PROG,
        description='Evaluate a policy in closed loop on held-out simulator scenes, sync vs '
        'async, with the chunk latency measured on this CPU; print a table, write JSON and '
        'videos.',
    )
    p.add_argument(
        'checkpoint',
        nargs='?',
        metavar='CHECKPOINT',
        help='SmolVLA checkpoint folder or hub repo id (default: the pretrained SmolVLA if '
        'cached, else the checkpoint shipped with the project); none with --policy scripted',
    )
    p.add_argument('--policy', default='smolvla', help="'smolvla' (default) or 'scripted'")
    p.add_argument('--episodes', type=int, default=50, help='episodes per mode (50)')
    p.add_argument(
        '--seed-start',
        type=int,
        default=SEED_START,
        help=f'scene seed of the first episode ({SEED_START}; recording uses 0..N-1)',
    )
    p.add_argument(
        '--modes', default=','.join(MODES), help="comma-separated from 'async,sync' (both)"
    )
    p.add_argument(
        '--max-seconds', type=float, default=30.0, help='simulated seconds per episode (30)'
    )
    p.add_argument(
        '--video-episodes', type=int, default=3, help='episodes per mode with a video (3)'
    )
    p.add_argument('--output', default='runs', help='folder for the evaluation folder (./runs)')
    p.add_argument(
        '--latency',
        default='measured',
        help="'measured' (default: each chunk's wall time on this CPU) or fixed seconds",
    )
    p.add_argument('--json', help='write the JSON here (default: eval.json in the folder)')
    p.add_argument('--instruction', default=SIM_TASK, help='the task in words')
    p.add_argument(
        '--image-size', default='256x256', help='camera render size WIDTHxHEIGHT px (256x256)'
    )
    p.add_argument('--device', default='cpu', help="'cpu' (default), 'cuda' or 'cuda:N'")
    p.add_argument('--precision', default='fp32', help=f'{", ".join(PRECISIONS)} (fp32)')
    add_num_threads_argument(p)
    p.add_argument(
        '--units', help=f"a checkpoint's units when it does not record them: {', '.join(UNITS)}"
    )
    return p


def _image_size(text: str) -> tuple[int, int]:
    try:
        w_text, h_text = text.lower().split('x')
        size = (int(w_text), int(h_text))
    except ValueError:
        raise UsageError(f'--image-size {text!r} is not WIDTHxHEIGHT, e.g. 256x256') from None
    if not all(16 <= v <= 1024 for v in size):
        raise UsageError(f'--image-size {text}: width and height must be 16..1024 px')
    return size


def parse_options(argv: Sequence[str] | None = None) -> EvalOptions:
    """Parse and validate a command line; nothing is created or loaded here.

    Raises:
        UsageError: a bad option; the message names it and what to do.
    """
    a = build_parser().parse_args(argv)
    check_choice('--policy', a.policy, ('smolvla', 'scripted'))
    checkpoint = a.checkpoint
    if a.policy == 'scripted' and checkpoint is not None:
        raise UsageError(
            f'--policy scripted uses no CHECKPOINT (got {checkpoint!r}); drop it or use '
            '--policy smolvla'
        )
    if checkpoint is not None:
        if not checkpoint.strip():
            raise UsageError('CHECKPOINT is empty; give a checkpoint folder or hub repo id')
        is_repo_id = checkpoint.count('/') == 1 and not checkpoint.startswith(('/', '.', '~'))
        if not Path(checkpoint).expanduser().is_dir() and not is_repo_id:
            raise UsageError(
                f'CHECKPOINT {checkpoint} is not a folder (nor a hub repo id owner/name); give '
                'the folder holding config.json and model.safetensors'
            )
    if a.episodes < 1:
        raise UsageError(f'--episodes must be >= 1, got {a.episodes}')
    if a.seed_start < 0:
        raise UsageError(f'--seed-start must be >= 0, got {a.seed_start}')
    modes = tuple(m.strip() for m in a.modes.split(',') if m.strip())
    bad = [m for m in modes if m not in MODES]
    if not modes or bad or len(set(modes)) != len(modes):
        raise UsageError(
            f'--modes {a.modes!r}: give distinct modes from {",".join(MODES)}, comma-separated'
        )
    check_finite('--max-seconds', a.max_seconds, 0.0)
    if a.max_seconds <= 0:
        raise UsageError(f'--max-seconds must be > 0 seconds, got {a.max_seconds}')
    if a.video_episodes < 0:
        raise UsageError(f'--video-episodes must be >= 0, got {a.video_episodes}')
    latency_s: float | None = None
    if a.latency != 'measured':
        try:
            latency_s = float(a.latency)
        except ValueError:
            raise UsageError(
                f"--latency {a.latency!r} is neither 'measured' nor a number of seconds"
            ) from None
        check_finite('--latency', latency_s, 0.0)
    size = _image_size(a.image_size)
    check_choice('--precision', a.precision, PRECISIONS)
    if a.units is not None:
        check_choice('--units', a.units, UNITS)
    check_threads(a.num_threads)
    if not (a.device in {'cpu', 'cuda'} or a.device.startswith('cuda:')):
        raise UsageError(f"--device {a.device!r}: use 'cpu', 'cuda' or 'cuda:N'")
    if a.device != 'cpu' and a.policy == 'smolvla':
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f'--device {a.device}: no CUDA device here; use --device cpu')
    output = Path(a.output)
    if output.exists() and not output.is_dir():
        raise UsageError(f'--output {output} exists and is not a folder')
    json_path = None
    if a.json is not None:
        json_path = Path(a.json)
        if json_path.is_dir():
            raise UsageError(f'--json {json_path} is a folder; give a file path')
        if not json_path.parent.is_dir():
            raise UsageError(f'--json {json_path}: the folder {json_path.parent} does not exist')
    return EvalOptions(
        policy=a.policy,
        checkpoint=checkpoint,
        episodes=a.episodes,
        seed_start=a.seed_start,
        modes=modes,
        max_seconds=a.max_seconds,
        video_episodes=a.video_episodes,
        output=output,
        latency_s=latency_s,
        json_path=json_path,
        instruction=a.instruction,
        image_size=size,
        device=a.device,
        precision=a.precision,
        num_threads=a.num_threads,
        units=a.units,
    )


# -- statistics --------------------------------------------------------------------------------
def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval of a success rate (95 % for the default ``z``).

    Better than the normal approximation at small n and at rates near 0 or 1 (it never leaves
    [0, 1]). None when ``n`` is 0.

    Raises:
        ValueError: ``successes`` outside 0..n.
    """
    if not 0 <= successes <= n:
        raise ValueError(f'successes must be in 0..n, got {successes} of {n}')
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if len(values) else None


def _rate(successes: int, n: int) -> dict[str, Any]:
    ci = wilson_interval(successes, n)
    return {
        'successes': successes,
        'episodes': n,
        'rate': successes / n if n else None,
        'ci95': None if ci is None else list(ci),
    }


def summarise_mode(episodes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One mode's summary over its complete episodes (see the module docstring)."""
    done = [e for e in episodes if e['complete']]
    n = len(done)
    tts = [e['time_to_success_s'] for e in done if e['time_to_success_s'] is not None]
    latencies = [lat for e in done for lat in e['latencies_s']]
    starved = [e['starvation_ticks'] for e in done]
    return {
        'episodes': n,
        'grasp': _rate(sum(e['grasp_success'] for e in done), n),
        'place': _rate(sum(e['place_success'] for e in done), n),
        'time_to_success_s': {'median': _median(tts), 'count': len(tts)},
        'latency_s': {'median': _median(latencies), 'count': len(latencies)},
        'starvation_ticks': {
            'total': int(sum(starved)),
            'mean_per_episode': float(np.mean(starved)) if starved else None,
        },
        'wall_s_per_episode': _median([e['wall_time_s'] for e in done]),
    }


def compare_modes(summary: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Async against sync (None unless both ran): success rates, median time to success and
    how many times faster async finishes (sync's median over async's)."""
    if 'async' not in summary or 'sync' not in summary:
        return None
    a, s = summary['async'], summary['sync']
    ta, ts = a['time_to_success_s']['median'], s['time_to_success_s']['median']
    speedup = ts / ta if ta and ts else None
    pct = {m: summary[m]['place']['rate'] for m in ('async', 'sync')}
    line = (
        'async vs sync: place success '
        + ' vs '.join('-' if pct[m] is None else f'{100 * pct[m]:.0f} %' for m in pct)
        + '; median time to success '
        + ' vs '.join('-' if t is None else f'{t:.2f} s' for t in (ta, ts))
        + ('' if speedup is None else f' (async {speedup:.2f}x as fast)')
    )
    return {
        'place_rate_async': pct['async'],
        'place_rate_sync': pct['sync'],
        'median_time_to_success_async_s': ta,
        'median_time_to_success_sync_s': ts,
        'async_speedup': speedup,
        'line': line,
    }


# -- running -----------------------------------------------------------------------------------
@dataclass
class _EpisodeContext:
    """What every episode of an evaluation shares."""

    arm: Any
    choice: PolicyChoice
    slots: tuple[str, ...]
    image_hw: tuple[int, int]
    interrupt: CtrlC
    console: Any


def run_episode(
    ctx: _EpisodeContext,
    run_opts: RunOptions,
    seed: int,
    *,
    video_path: Path | None,
    overlay: tuple[int, int, int],
) -> dict[str, Any]:
    """One closed-loop episode on scene ``seed`` in ``run_opts.mode``; the record of it.

    ``overlay``: (episode 1-based, episodes, successes so far) for the video's text strip.
    """
    from smolvla_ros.pipeline import PipelineConfig, SimPipeline
    from smolvla_ros.runner.artifacts.video import VideoWriter
    from smolvla_ros.runner.display import Display

    arm, policy = ctx.arm, ctx.choice.policy
    arm.sim.reset(seed)
    if hasattr(policy, 'reset'):
        policy.reset()
    pipeline = SimPipeline(
        arm,
        policy,
        instruction=run_opts.instruction,
        runtime=run_opts.runtime_config(),
        config=PipelineConfig(camera_slots=ctx.slots, latency_s=run_opts.latency_s),
    )
    t0 = arm.sim.time_s
    first_in_bin: list[float] = []

    def stop() -> bool:
        t = arm.sim.time_s - t0
        if not first_in_bin and arm.sim.cube_in_bin():
            first_in_bin.append(t)
        settled = bool(first_in_bin) and t >= first_in_bin[0] + SETTLE_S - _TIME_EPS_S
        return settled or ctx.interrupt.requested

    video = None
    on_tick: Callable[..., None] | None = None
    try:
        if video_path is not None:
            video = VideoWriter(video_path, fps=VIDEO_FPS)
            display = Display(ctx.console, enabled=False, title=PROG, banner=ctx.choice.banner)
            display.stats.episode, display.stats.episodes, display.stats.successes = overlay
            display.stats.duration_s = run_opts.duration_s
            rec = RunRecorder(
                pipeline,
                t0_s=t0,
                slots=ctx.slots,
                video=video,
                bag=None,
                display=display,
                image_hw=ctx.image_hw,
                instruction=run_opts.instruction,
                banner=ctx.choice.banner,
                time_offset_s=0.0,
            )
            on_tick = rec.on_tick
        with pipeline:
            result = pipeline.run(run_opts.duration_s, on_tick=on_tick, stop=stop)
    finally:
        if video is not None:
            video.close()
    complete = not ctx.interrupt.requested or bool(first_in_bin and result.cube_in_bin)
    return {
        'mode': run_opts.mode,
        'seed': seed,
        'complete': complete,
        'grasp_success': bool(result.cube_lifted),
        'place_success': bool(result.cube_in_bin),
        'time_to_success_s': first_in_bin[0] if first_in_bin and result.cube_in_bin else None,
        'sim_time_s': result.sim_time_s,
        'wall_time_s': result.wall_time_s,
        'chunks': len(result.chunks),
        'latencies_s': list(result.latencies_s),
        'latency_median_s': _median(result.latencies_s),
        'starvation_ticks': int(result.metrics.get('starvation_ticks', 0)),
        'states': dict(result.states),
        'video': None if video_path is None else video_path.name,
    }


def _episode_line(ep: dict[str, Any]) -> str:
    """One line per finished episode for the terminal."""
    if ep['place_success']:
        outcome = f'placed in {ep["time_to_success_s"]:.2f} s'
    else:
        outcome = 'grasped, not placed' if ep['grasp_success'] else 'failed'
    if not ep['complete']:
        outcome += ' (interrupted)'
    return f'{ep["mode"]:5s} seed {ep["seed"]}: {outcome} ({ep["wall_time_s"]:.1f} s wall)'


def _resolve_checkpoint(opts: EvalOptions, say: Callable[[str], None]) -> EvalOptions:
    """Fill in the default checkpoint (pretrained, else shipped): an evaluation never falls
    back to random weights, whose success rate means nothing."""
    if opts.policy != 'smolvla' or opts.checkpoint is not None:
        return opts
    from smolvla_ros.policy.default_checkpoint import choose_default_checkpoint

    default = choose_default_checkpoint(download=True)
    if default.checkpoint is None:
        raise RunnerError(f'{default.message}; give CHECKPOINT (a SmolVLA checkpoint folder)')
    say(default.message)
    return replace(opts, checkpoint=default.checkpoint)


def _cpu_name() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text(encoding='utf-8').splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def evaluate(opts: EvalOptions, console: Any) -> tuple[int, dict[str, Any]]:
    """Run the evaluation ``opts`` describes; print the table; write the JSON and videos.

    Returns:
        (exit code 0 or :data:`EXIT_INTERRUPTED`, the JSON document written).

    Raises:
        RunnerError: the policy cannot be had or loaded (nothing was created, nothing ran).
    """
    from so_arm_driver.sim import SimArm, SimConfig

    def say(msg: str) -> None:
        console.print(msg, markup=False, highlight=False, soft_wrap=True)

    wall0 = time.perf_counter()
    opts = _resolve_checkpoint(opts, say)
    width, height = opts.image_size
    base = opts.run_options(opts.modes[0])
    sim_config = SimConfig(
        control_dt_s=1.0 / base.rate_hz,
        image_width=width,
        image_height=height,
        seed=opts.seed_start,
    )
    episodes: list[dict[str, Any]] = []
    with SimArm(config=sim_config) as arm:
        arm.sim.reset(opts.seed_start)
        choice = load_policy(base, arm.sim, tuple(arm.joint_names), say)
        if choice.banner:  # cannot happen with a checkpoint given; never evaluate noise
            raise RunnerError(choice.banner)
        slots = tuple(choice.policy.required_slots) or ('top',)
        folder = make_run_folder(opts.output, f'eval-{opts.policy}')
        say(f'Policy: {choice.kind} ({choice.source}); evaluation folder: {folder}')
        interrupted = False
        with CtrlC() as interrupt:
            ctx = _EpisodeContext(arm, choice, slots, (height, width), interrupt, console)
            for mode in opts.modes:
                run_opts = opts.run_options(mode)
                successes = 0
                for k in range(opts.episodes):
                    seed = opts.seed_start + k
                    video = (
                        folder / f'video-{mode}-seed{seed}.mp4'
                        if k < opts.video_episodes
                        else None
                    )
                    ep = run_episode(
                        ctx,
                        run_opts,
                        seed,
                        video_path=video,
                        overlay=(k + 1, opts.episodes, successes),
                    )
                    ep['episode'] = k
                    episodes.append(ep)
                    successes += int(ep['place_success'])
                    say(_episode_line(ep))
                    if interrupt.requested:
                        interrupted = True
                        break
                if interrupted:
                    break
    summary = {
        m: summarise_mode([e for e in episodes if e['mode'] == m])
        for m in opts.modes
        if any(e['mode'] == m for e in episodes)
    }
    comparison = compare_modes(summary)
    code = EXIT_INTERRUPTED if interrupted else 0
    doc = {
        'format': EVAL_FORMAT,
        'interrupted': interrupted,
        'exit_code': code,
        'options': {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()},
        'policy': {
            'kind': choice.kind,
            'source': choice.source,
            'notes': choice.notes,
            'required_slots': list(choice.policy.required_slots),
            'dt_s': float(choice.policy.dt_s),
        },
        'cpu': _cpu_name(),
        'latency': 'measured' if opts.latency_s is None else opts.latency_s,
        'settle_s': SETTLE_S,
        'summary': summary,
        'comparison': comparison,
        'episodes': [{k: v for k, v in e.items() if k != 'latencies_s'} for e in episodes],
        'videos': [e['video'] for e in episodes if e['video']],
        'wall_time_s': time.perf_counter() - wall0,
    }
    from smolvla_ros.runner.artifacts.metrics import write_json

    path = write_json(opts.json_path or folder / 'eval.json', doc)
    print_summary(console, summary, comparison, interrupted)
    say(f'JSON:   {path}')
    if doc['videos']:
        say(f'Videos: {", ".join(str(folder / v) for v in doc["videos"])}')
    return code, doc


def print_summary(
    console: Any,
    summary: dict[str, dict[str, Any]],
    comparison: dict[str, Any] | None,
    interrupted: bool,
) -> None:
    """The per-mode table (rich) and the comparison line."""
    from rich.table import Table

    def rate(r: dict[str, Any]) -> str:
        if not r['episodes']:
            return '-'
        lo, hi = r['ci95']
        return (
            f'{r["successes"]}/{r["episodes"]} {100 * r["rate"]:.0f}% '
            f'[{100 * lo:.0f},{100 * hi:.0f}]'
        )

    def sec(v: float | None, digits: int = 2) -> str:
        return '-' if v is None else f'{v:.{digits}f}'

    title = 'smolvla-eval' + (' (interrupted: finished episodes only)' if interrupted else '')
    table = Table(
        title=title,
        caption='rates: successes/episodes, % [95 % Wilson interval]; times: medians, seconds',
    )
    for col in ('mode', 'grasp', 'place', 'to success', 'latency', 'starved/ep', 'wall/ep'):
        table.add_column(col, justify='right', no_wrap=True)
    for mode, s in summary.items():
        starved = s['starvation_ticks']['mean_per_episode']
        table.add_row(
            mode,
            rate(s['grasp']),
            rate(s['place']),
            sec(s['time_to_success_s']['median']),
            sec(s['latency_s']['median'], 3),
            '-' if starved is None else f'{starved:.1f}',
            sec(s['wall_s_per_episode'], 1),
        )
    console.print(table)
    if comparison is not None:
        console.print(comparison['line'], markup=False, highlight=False)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (0, 2, 130; see the module docstring)."""
    try:
        opts = parse_options(argv)
    except UsageError as e:
        print(f'{PROG}: error: {e} (see {PROG} --help)', file=sys.stderr)
        return 2
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and console.width < TABLE_WIDTH:
        # A pipe or a log gets 80 columns by default: too narrow for whole table cells.
        console = Console(highlight=False, width=TABLE_WIDTH)
    try:
        code, _ = evaluate(opts, console)
    except RunnerError as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # A Ctrl-C while loading, or a second one during an episode: nothing to summarise.
        print(f'{PROG}: aborted by Ctrl-C', file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == '__main__':
    sys.exit(main())


__all__ = [
    'EVAL_FORMAT',
    'SEED_START',
    'SETTLE_S',
    'EvalOptions',
    'compare_modes',
    'evaluate',
    'main',
    'parse_options',
    'run_episode',
    'summarise_mode',
    'wilson_interval',
]
