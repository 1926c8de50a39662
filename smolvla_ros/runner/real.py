"""The standalone runner on a real SO arm: a Feetech bus on a serial port, OpenCV cameras.

Real time, threads, no ROS::

    OpenCVFrameSource x N --FramePump threads--> LatestFrames
    control thread (FixedRateLoop, monotonic clock): SoFollower.read_positions
        -> ChunkExecutor.tick -> SoFollower.write_goals; a request -> PolicyWorker.request
    policy thread (PolicyWorker): select frames -> Policy.predict -> ActionChunk
        -> ChunkExecutor.submit_chunk

Inference never runs on the control thread. A camera that fails or disappears is reopened with
back-off by its source; its events are printed at the end and kept in ``metrics.json``
(``cameras``); meanwhile a policy that needs that slot is refused frames (the worker counts
it), so the executor runs out its queue and holds; the run goes on.

At the end (its duration, or Ctrl-C) the arm holds the pose it has for ``HOLD_S`` seconds, then
its torque is released unless ``--keep-torque`` was given.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_ros.ctrl_c import CtrlC
from smolvla_ros.policy.protocol import Policy
from smolvla_ros.runner.run import (
    EXIT_INTERRUPTED,
    HOLD_S,
    VIDEO_FPS,
    PolicyChoice,
    RunnerError,
    RunOptions,
    RunRecorder,
    finish_run,
    load_policy,
    make_run_folder,
)


class _Rig:
    """What the recorder watches: the arm, the frame store, the chunks and the executor."""

    def __init__(self, arm: Any, frames: Any) -> None:
        self.arm = arm
        self.frames = frames
        self.executor: Any = None
        self._chunks: list[Any] = []

    @property
    def chunks(self) -> tuple[Any, ...]:
        return tuple(self._chunks)


def execute_real(opts: RunOptions, console: Any) -> tuple[int, Path]:
    """Run ``opts`` on a real (or emulated) Feetech SO arm; write the run folder.

    Returns:
        (exit code: 0 or EXIT_INTERRUPTED, the run folder).

    Raises:
        RunnerError: the arm cannot be opened, the policy cannot be loaded or needs cameras that
            were not given (nothing was created; the arm never moved).
    """
    from smolvla_ros.frames.latest import LatestFrames
    from smolvla_ros.frames.opencv_source import OpenCVFrameSource
    from smolvla_ros.frames.pump import FramePump
    from smolvla_ros.policy.worker import PolicyWorker, WorkerConfig
    from smolvla_ros.runner.artifacts.bag import BagWriter
    from smolvla_ros.runner.artifacts.video import VideoWriter
    from smolvla_ros.runner.display import Display
    from smolvla_ros.runtime.clock import MonotonicClock
    from smolvla_ros.runtime.executor import ChunkExecutor
    from smolvla_ros.runtime.loop import FixedRateLoop
    from so_arm_driver.errors import SoArmError
    from so_arm_driver.follower import ArmConfig, SoFollower

    def say(msg: str) -> None:
        console.print(msg, markup=False, highlight=False, soft_wrap=True)

    wall0 = time.perf_counter()
    config = ArmConfig(
        port=str(opts.port),
        robot=opts.robot,
        calibration_path=opts.calibration,
        torque_off_on_close=opts.release_torque,
    )
    arm = SoFollower(config)
    try:
        arm.connect()
    except (SoArmError, OSError) as e:
        raise RunnerError(f'--port {opts.port}: cannot open the arm: {e}') from e
    clock = MonotonicClock()
    frames = LatestFrames()
    sources: list[Any] = []
    pumps: list[Any] = []
    events: dict[str, list[dict[str, Any]]] = {}
    try:
        joint_names = tuple(arm.joint_names)
        choice: PolicyChoice = load_policy(
            opts, None, joint_names, say, calibration=dict(arm.calibration)
        )
        policy: Policy = choice.policy
        slots = tuple(slot for slot, _ in opts.camera_sources)
        missing = [s for s in policy.required_slots if s not in slots]
        if missing:
            raise RunnerError(
                f'the policy needs camera slot(s) {missing}; give them with --camera SLOT=DEVICE'
            )
        if choice.banner:
            say('!' * 78)
            say(choice.banner)
            say('!' * 78)
        folder = make_run_folder(opts.output, opts.policy)
        say(f'Run folder: {folder}')
        rig = _Rig(arm, frames)

        def submit(chunk: Any) -> bool:
            rig._chunks.append(chunk)
            return rig.executor.submit_chunk(chunk)

        worker = PolicyWorker(
            policy,
            submit,
            frames=frames,
            instruction=opts.instruction,
            config=WorkerConfig(name='runner-policy'),
            now=clock.now,
            start=True,
        )
        executor = ChunkExecutor(opts.runtime_config(), worker.request, clock)
        rig.executor = executor
        for slot, device in opts.camera_sources:
            log = events.setdefault(slot, [])

            def on_event(event: Any, log: list[dict[str, Any]] = log) -> None:
                log.append(
                    {
                        'kind': event.kind,
                        'device': str(event.device),
                        'time_s': event.time_s,
                        'detail': event.reason,
                    }
                )

            source = OpenCVFrameSource(
                int(device) if device.isdigit() else device,
                slot,
                width=opts.image_size[0],
                height=opts.image_size[1],
                now=clock.now,
                on_event=on_event,
            )
            sources.append(source)
            pumps.append(FramePump(source, frames.put, name=f'camera-{slot}', now=clock.now))
        for pump in pumps:
            pump.start()
        custom = {
            'banner': choice.banner,
            'policy': choice.kind,
            'policy_source': choice.source,
            'instruction': opts.instruction,
        }
        video = VideoWriter(folder / 'video.mp4', fps=VIDEO_FPS)
        bag = None
        display = Display(
            console,
            enabled=opts.live and console.is_terminal,
            title=f'smolvla-run: {choice.kind} on {opts.port} - "{opts.instruction}"',
            banner=choice.banner,
        )
        interrupted = False
        arm_report: dict[str, Any] = {'backend': 'feetech', 'port': str(opts.port)}
        t0 = clock.now()
        rec: RunRecorder | None = None
        try:
            bag = BagWriter(folder / 'bag', joint_names, slots, time.time_ns(), custom)
            rec = RunRecorder(
                rig,
                t0_s=t0,
                slots=slots,
                video=video,
                bag=bag,
                display=display,
                image_hw=(opts.image_size[1], opts.image_size[0]),
                instruction=opts.instruction,
                banner=choice.banner,
                time_offset_s=0.0,
            )
            rec.start_media_thread()
            display.stats.duration_s = opts.duration_s
            display.start()
            stop = threading.Event()

            def step(_deadline: float) -> None:
                measured = arm.read_positions()
                out = executor.tick(measured)
                arm.write_goals(out.command_rad)
                rec.on_tick(out, measured)  # type: ignore[union-attr]

            with CtrlC(stop) as interrupt:
                FixedRateLoop(clock, 1.0 / opts.rate_hz, executor.metrics).run(
                    step, duration_s=opts.duration_s, stop=stop
                )
                interrupted = interrupt.requested
                hold = np.asarray(arm.read_positions(), dtype=np.float64)
                arm.write_goals(hold)
                time.sleep(HOLD_S)
                arm_report.update(final='held', hold_s=HOLD_S, hold_goal_rad=hold.tolist())
                if opts.release_torque:
                    arm.set_torque(False)
                    arm_report['final'] = 'held, then torque released'
                arm_report['torque_released'] = bool(opts.release_torque)
        finally:
            display.stop()
            if rec is not None:
                rec.stop_media_thread()
            for pump in pumps:
                pump.close()
            for source in sources:
                source.close()
            worker.close()
            video.close()
            if bag is not None:
                bag.close()
        for slot, log in events.items():
            for e in log:
                if e['kind'] not in ('opened',):
                    say(f'camera {slot}: {e["kind"]} at {e["time_s"] - t0:.2f} s ({e["detail"]})')
        status = worker.status()
        latencies = [float(c.inference_latency_s) for c in rig.chunks]
        duration = (rec.times[-1] - rec.times[0]) if rec is not None and rec.times else 0.0
        code = finish_run(
            folder=folder,
            opts=opts,
            choice=choice,
            recorders=[] if rec is None else [rec],
            latencies=latencies,
            episodes=[
                {
                    'episode': 0,
                    'sim_time_s': duration,
                    'wall_time_s': duration,
                    'success': None,  # nothing measures success on a real scene
                    'chunks': len(rig.chunks),
                }
            ],
            worker_status=status,
            executor_summary=executor.metrics.summary(),
            arm_report=arm_report,
            video=video,
            bag=bag,
            interrupted=interrupted,
            wall0=wall0,
            joint_names=joint_names,
            say=say,
            extra={
                'cameras': {s: {'events': log} for s, log in events.items()},
                'media_errors': 0 if rec is None else rec.media_errors,
            },
        )
        return code, folder
    finally:
        arm.close()


__all__ = ['EXIT_INTERRUPTED', 'execute_real']
