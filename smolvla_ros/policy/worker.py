"""The policy worker: the one path from a chunk request to an :class:`ActionChunk`.

The executor calls :meth:`PolicyWorker.request` on its tick thread when it wants a chunk. The
worker takes the frames for that observation from the frame store right away (so the chunk's
inputs are those of the observation time), queues the request and returns; its own inference
thread runs the :class:`~smolvla_ros.policy.protocol.Policy`, checks the output, stamps the chunk
(request id, chunk id, observation and frame times, measured latency, dt) and hands it to
``submit`` (the executor's ``submit_chunk`` or a publisher). Nothing in the request path blocks
on inference.

::

    pixels -> LatestFrames -> PolicyWorker.request -> [inference thread] Policy.predict
          -> checks -> ActionChunk -> submit (ChunkExecutor.submit_chunk) -> safety -> arm

Latest request wins: a request arriving while one is computing replaces the queued one (a newer
observation makes an older unstarted one useless); the replaced request is counted. Errors never
kill the thread: a refused request (missing, stale or future frame; joint names that differ
from the policy's), an exception in ``predict``, an output with the wrong shape or a NaN, and a
submit that fails are each counted, logged and kept as ``last_error`` in :meth:`status`, and
nothing is submitted for that request.

Simulated time uses the same code synchronously: :meth:`PolicyWorker.process` (request -> input
-> predict -> checked chunk) and :meth:`PolicyWorker.deliver` (stamp the latency, submit), which
the inference thread also runs.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.latest import FrameSelectionError, LatestFrames
from smolvla_ros.policy.protocol import Policy, PolicyInput
from smolvla_ros.runtime.chunk import ActionChunk
from smolvla_ros.runtime.executor import ObservationSnapshot

_LOG = logging.getLogger(__name__)

# Why a request can be refused before inference (keys of WorkerStatus.requests_refused).
REFUSAL_REASONS: tuple[str, ...] = ('missing', 'stale', 'future', 'joint_names')
# Worker modes, mirroring PolicyStatus.msg MODE_IDLE / MODE_RUNNING / MODE_FAULT (+ closed).
WORKER_MODES: tuple[str, ...] = ('idle', 'running', 'fault', 'closed')
# Chunks over which the median latency is taken (PolicyStatus.msg: "the last 20 chunks").
_LATENCY_WINDOW = 20


class PolicyWorkerError(Exception):
    """Base class of the policy worker's errors."""


class WorkerClosedError(PolicyWorkerError, RuntimeError):
    """The worker was closed; it takes no more requests (create a new one)."""


class PolicyOutputError(PolicyWorkerError, ValueError):
    """A policy returned an unusable chunk; nothing was submitted.

    Attributes:
        reason: 'shape' (not an (n >= 1, J) array) or 'non_finite' (NaN or inf).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f'policy output refused ({reason}): {message}')
        self.reason = reason


@dataclass(frozen=True)
class WorkerConfig:
    """Settings of a :class:`PolicyWorker`.

    Attributes:
        max_frame_age_s: oldest camera frame a request may use, seconds before the observation
            time. 0.2 s is six frames at 30 fps: a camera that stalled longer than that makes
            the policy act on a view the arm has moved away from.
        dt_s: override of the policy's action step, seconds (None: use ``policy.dt_s``). For a
            checkpoint trained at a different fps than its config says.
        close_timeout_s: how long :meth:`PolicyWorker.close` waits for the inference thread
            (finishing its current request), seconds.
        name: the inference thread's name (for logs and debuggers).
    """

    max_frame_age_s: float = 0.2
    dt_s: float | None = None
    close_timeout_s: float = 5.0
    name: str = 'policy-worker'

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_frame_age_s) and self.max_frame_age_s >= 0):
            raise ValueError(
                f'max_frame_age_s must be a finite number >= 0 seconds, got '
                f'{self.max_frame_age_s!r}'
            )
        if self.dt_s is not None and not (math.isfinite(self.dt_s) and self.dt_s > 0):
            raise ValueError(
                f'dt_s must be None or a finite number > 0 seconds, got {self.dt_s!r}'
            )
        if not (math.isfinite(self.close_timeout_s) and self.close_timeout_s > 0):
            raise ValueError(
                f'close_timeout_s must be a finite number > 0 seconds, got '
                f'{self.close_timeout_s!r}'
            )


@dataclass(frozen=True)
class WorkerStatus:
    """A snapshot of the worker's state (mappings are copies); PolicyStatus.msg's fields where
    they apply.

    Attributes:
        mode: 'idle', 'running' (a request is queued or computing), 'fault' (the last request
            ended in an error; ``fault`` says which) or 'closed'.
        instruction: the instruction new requests are conditioned on.
        requests: requests received (accepted, refused or replaced).
        requests_replaced: queued requests replaced by a newer one before inference started.
        requests_refused: refusals before inference, per reason in REFUSAL_REASONS.
        chunks_produced: chunks that passed the output checks.
        chunks_submitted: chunks ``submit`` accepted (returned True).
        chunks_rejected: chunks ``submit`` refused (returned False) or raised on.
        inference_errors: exceptions raised by ``policy.predict``.
        invalid_outputs: outputs refused by the checks, per reason ('shape', 'non_finite').
        last_latency_s: request-to-delivery time of the last submitted chunk, seconds (NaN
            before the first).
        median_latency_s: median of the last 20 such latencies, seconds (NaN before the first).
        image_age_s: age of the oldest frame the last request used at its observation time,
            seconds (NaN when it used none).
        state_age_s: time from the last request's observation to request(), seconds (NaN before
            the first).
        last_request_id: ``request_id`` of the last request received (-1 before the first).
        last_error: the most recent error message, kept after later successes ('' if none).
        fault: the error of the last request when ``mode`` is 'fault', else ''.
    """

    mode: str
    instruction: str
    requests: int
    requests_replaced: int
    requests_refused: Mapping[str, int]
    chunks_produced: int
    chunks_submitted: int
    chunks_rejected: int
    inference_errors: int
    invalid_outputs: Mapping[str, int]
    last_latency_s: float
    median_latency_s: float
    image_age_s: float
    state_age_s: float
    last_request_id: int
    last_error: str
    fault: str


@dataclass(frozen=True)
class _Job:
    snapshot: ObservationSnapshot
    frames: Mapping[str, Frame]
    instruction: str
    requested_at_s: float


class PolicyWorker:
    """Runs a :class:`Policy` on its own thread for chunk requests; see the module docstring.

    Args:
        policy: what computes the actions.
        submit: where finished chunks go (``ChunkExecutor.submit_chunk``); returns True when
            accepted. Called on the inference thread (or the caller's, for :meth:`deliver`).
        frames: the frame store to take camera frames from; required when the policy requires
            camera slots, optional otherwise (then its frames are passed along when present).
        instruction: the task in words.
        config: worker settings.
        now: the clock of the observation times (the executor's ``clock.now``), seconds; used
            for frame ages and the measured latency.
        start: start the inference thread now (False for a worker used only through
            :meth:`process` / :meth:`deliver`, e.g. on simulated time).

    Raises:
        ValueError: the policy requires camera slots but no frame store was given, or its
            ``dt_s`` (without a config override) is not a finite number > 0.
        TypeError: ``policy`` does not implement the Policy protocol.
    """

    def __init__(
        self,
        policy: Policy,
        submit: Callable[[ActionChunk], bool],
        *,
        frames: LatestFrames | None = None,
        instruction: str = '',
        config: WorkerConfig | None = None,
        now: Callable[[], float] = time.monotonic,
        start: bool = True,
    ) -> None:
        if not isinstance(policy, Policy):
            raise TypeError(
                f'{type(policy).__name__} does not implement the Policy protocol '
                '(joint_names, dt_s, required_slots, predict)'
            )
        self.config = config or WorkerConfig()
        self._policy = policy
        self._joint_names = tuple(policy.joint_names)
        self._required = tuple(policy.required_slots)
        if self._required and frames is None:
            raise ValueError(
                f'{type(policy).__name__} requires camera slots {self._required}; pass a '
                'LatestFrames store (frames=...) that its cameras fill'
            )
        dt = self.config.dt_s if self.config.dt_s is not None else float(policy.dt_s)
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(
                f'{type(policy).__name__}.dt_s is {dt!r}; it must be a finite number > 0 '
                'seconds (or set WorkerConfig.dt_s)'
            )
        self._dt = dt
        self._submit = submit
        self._frames = frames
        self._now = now
        self._instruction = str(instruction)
        # One lock for the queue and the counters; the condition wakes the inference thread.
        self._cond = threading.Condition()
        self._predict_lock = threading.Lock()  # policies are not thread-safe: one predict at once
        self._pending: _Job | None = None
        self._busy = False
        self._closing = False
        self._closed = False
        self._next_chunk_id = 0
        self._requests = 0
        self._replaced = 0
        self._refused: Counter[str] = Counter()
        self._invalid: Counter[str] = Counter()
        self._produced = 0
        self._submitted = 0
        self._rejected = 0
        self._inference_errors = 0
        self._latencies: deque[float] = deque(maxlen=_LATENCY_WINDOW)
        self._image_age = math.nan
        self._state_age = math.nan
        self._last_request_id = -1
        self._last_error = ''
        self._fault = ''
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name=self.config.name, daemon=True)
            self._thread.start()

    # -- properties --------------------------------------------------------------------------
    @property
    def policy(self) -> Policy:
        """The policy this worker runs."""
        return self._policy

    @property
    def dt_s(self) -> float:
        """The action step stamped on every chunk, seconds."""
        return self._dt

    @property
    def alive(self) -> bool:
        """True while the inference thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # -- any thread ---------------------------------------------------------------------------
    def set_instruction(self, instruction: str) -> None:
        """Condition requests from now on on ``instruction`` (thread-safe).

        Raises:
            TypeError: ``instruction`` is not a string (the old one is kept).
        """
        if not isinstance(instruction, str):
            raise TypeError(f'instruction must be a str, got {type(instruction).__name__}')
        with self._cond:
            self._instruction = instruction

    def request(self, snapshot: ObservationSnapshot) -> bool:
        """Ask for a chunk for ``snapshot``; returns at once (the executor's ``request_fn``).

        The frames are selected now, against ``snapshot.time_s``. A refused request is counted
        under its reason, kept as the last error and logged; nothing will be submitted for it.

        Returns:
            True when queued (a queued, unstarted request is replaced and counted), False when
            refused.

        Raises:
            WorkerClosedError: the worker was closed, or was created with ``start=False``.
        """
        if self._thread is None:
            raise WorkerClosedError(
                'this PolicyWorker was created with start=False; use process()/deliver(), or '
                'create it with start=True for threaded requests'
            )
        job = self._prepare(snapshot)
        if job is None:
            return False
        with self._cond:
            if self._closing:
                raise WorkerClosedError('the PolicyWorker is closed; create a new one')
            if self._pending is not None:
                self._replaced += 1
                _LOG.debug(
                    'request %d replaced by request %d before inference started',
                    self._pending.snapshot.request_id,
                    snapshot.request_id,
                )
            self._pending = job
            self._cond.notify_all()
        return True

    def process(self, snapshot: ObservationSnapshot) -> ActionChunk | None:
        """Synchronously run one request on the caller's thread: frames -> input -> predict ->
        checked chunk. The inference thread runs exactly these steps; simulated-time callers use
        this and :meth:`deliver` to hand the chunk over when it is due.

        Returns:
            The chunk (``inference_latency_s`` = time on ``now`` since this call), or None when
            the request was refused or inference failed (counted and kept in :meth:`status`).

        Raises:
            WorkerClosedError: the worker was closed.
        """
        job = self._prepare(snapshot)
        if job is None:
            return None
        return self._compute(job)

    def deliver(self, chunk: ActionChunk, inference_latency_s: float | None = None) -> bool:
        """Hand a chunk from :meth:`process` to ``submit``, counting the outcome.

        Args:
            chunk: the chunk.
            inference_latency_s: the latency to stamp, seconds (None keeps the chunk's).

        Returns:
            What ``submit`` returned (False also when it raised; counted as a rejection).
        """
        if inference_latency_s is not None:
            chunk = replace(chunk, inference_latency_s=float(inference_latency_s))
        try:
            accepted = bool(self._submit(chunk))
        except Exception as e:  # a broken consumer must not kill the inference thread
            self._error(
                f'submit of chunk {chunk.chunk_id} (request {chunk.request_id}) raised {e!r}',
                count='rejected',
            )
            _LOG.exception('submit failed')
            return False
        with self._cond:
            if accepted:
                self._submitted += 1
                self._latencies.append(chunk.inference_latency_s)
                self._fault = ''
            else:
                self._rejected += 1
        if not accepted:
            self._error(
                f'chunk {chunk.chunk_id} (request {chunk.request_id}) was rejected by the '
                'consumer (see its log / metrics for the reason)',
                count=None,
            )
        return accepted

    def status(self) -> WorkerStatus:
        """The counters and last outcome (thread-safe; cheap enough for a 2 Hz status topic)."""
        with self._cond:
            if self._closed or self._closing:
                mode = 'closed'
            elif self._busy or self._pending is not None:
                mode = 'running'
            elif self._fault:
                mode = 'fault'
            else:
                mode = 'idle'
            lat = list(self._latencies)
            return WorkerStatus(
                mode=mode,
                instruction=self._instruction,
                requests=self._requests,
                requests_replaced=self._replaced,
                requests_refused={r: self._refused.get(r, 0) for r in REFUSAL_REASONS},
                chunks_produced=self._produced,
                chunks_submitted=self._submitted,
                chunks_rejected=self._rejected,
                inference_errors=self._inference_errors,
                invalid_outputs={r: self._invalid.get(r, 0) for r in ('shape', 'non_finite')},
                last_latency_s=lat[-1] if lat else math.nan,
                median_latency_s=statistics.median(lat) if lat else math.nan,
                image_age_s=self._image_age,
                state_age_s=self._state_age,
                last_request_id=self._last_request_id,
                last_error=self._last_error,
                fault=self._fault if mode == 'fault' else '',
            )

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no request is queued or computing, at most ``timeout_s`` seconds (for
        tests and orderly shutdown; never call it from the control loop).

        Returns:
            True when idle, False on timeout.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._busy or self._pending is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        """Stop taking requests, drop a queued one, let the current inference finish and join
        the thread (up to ``config.close_timeout_s``). Idempotent; thread-safe.

        A thread still running after the timeout (a policy stuck in ``predict``) is left as a
        daemon and logged; its chunk is not submitted.
        """
        with self._cond:
            if self._closing:
                return
            self._closing = True
            if self._pending is not None:
                _LOG.info('close: dropping queued request %d', self._pending.snapshot.request_id)
            self._pending = None
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self.config.close_timeout_s)
            if self._thread.is_alive():
                _LOG.error(
                    'policy worker thread %r still in predict after %.1f s; left running as a '
                    'daemon, its chunk will not be submitted',
                    self.config.name,
                    self.config.close_timeout_s,
                )
        with self._cond:
            self._closed = True

    def __enter__(self) -> PolicyWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------
    def _error(self, message: str, count: str | None) -> None:
        with self._cond:
            if count == 'rejected':
                self._rejected += 1
            elif count == 'inference':
                self._inference_errors += 1
            self._last_error = message
            self._fault = message

    def _prepare(self, snapshot: ObservationSnapshot) -> _Job | None:
        """Count the request, select its frames and build the job; None when refused."""
        t_req = self._now()
        with self._cond:
            if self._closing:
                raise WorkerClosedError(
                    f'request {snapshot.request_id}: the PolicyWorker is closed; create a new one'
                )
            self._requests += 1
            self._last_request_id = snapshot.request_id
            self._state_age = t_req - snapshot.time_s
            instruction = self._instruction
        reason, message, chosen = None, '', {}
        if tuple(snapshot.joint_names) != self._joint_names:
            reason = 'joint_names'
            message = (
                f'request {snapshot.request_id}: the executor measures joints '
                f'{tuple(snapshot.joint_names)} but the policy outputs {self._joint_names}; '
                'configure both with the same joint order'
            )
        elif self._frames is not None:
            try:
                chosen = self._frames.select(
                    self._required, snapshot.time_s, self.config.max_frame_age_s
                )
            except FrameSelectionError as e:
                reason, message = e.reason, f'request {snapshot.request_id}: {e}'
        with self._cond:
            if reason is not None:
                self._refused[reason] += 1
                self._last_error = message
                self._fault = message
            else:
                ages = [snapshot.time_s - f.capture_time_s for f in chosen.values()]
                self._image_age = max(ages) if ages else math.nan
        if reason is not None:
            _LOG.warning('%s', message)
            return None
        return _Job(snapshot, MappingProxyType(dict(chosen)), instruction, t_req)

    def _compute(self, job: _Job) -> ActionChunk | None:
        """Predict and check; the chunk or None (the error counted)."""
        snap = job.snapshot
        try:
            with self._predict_lock:
                out = self._policy.predict(PolicyInput(snap, job.frames, job.instruction))
        except Exception as e:  # any policy failure is reported, never fatal to the thread
            self._error(f'request {snap.request_id}: predict raised {e!r}', count='inference')
            _LOG.exception('policy predict failed for request %d', snap.request_id)
            return None
        try:
            actions = self._check(out, snap.request_id)
        except PolicyOutputError as e:
            with self._cond:
                self._invalid[e.reason] += 1
            self._error(str(e), count=None)
            _LOG.error('%s', e)
            return None
        with self._cond:
            chunk_id = self._next_chunk_id
            self._next_chunk_id += 1
            self._produced += 1
        return ActionChunk(
            joint_names=self._joint_names,
            actions=actions,
            observation_time_s=snap.time_s,
            dt_s=self._dt,
            chunk_id=chunk_id,
            inference_latency_s=self._now() - job.requested_at_s,
            request_id=snap.request_id,
            frame_times_s={slot: f.capture_time_s for slot, f in job.frames.items()},
        )

    def _check(self, out: object, request_id: int) -> np.ndarray:
        j = len(self._joint_names)
        try:
            a = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise PolicyOutputError(
                'shape',
                f'request {request_id}: predict returned {type(out).__name__}, not an (n, {j}) '
                f'array of joint targets ({e})',
            ) from e
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] != j:
            raise PolicyOutputError(
                'shape',
                f'request {request_id}: predict returned shape {a.shape}; expected (n >= 1, {j}) '
                f'for joints {self._joint_names}',
            )
        if not np.all(np.isfinite(a)):
            rows, cols = np.nonzero(~np.isfinite(a))
            bad = sorted({self._joint_names[c] for c in cols})
            raise PolicyOutputError(
                'non_finite',
                f'request {request_id}: predict returned NaN/inf in {len(rows)} value(s), '
                f'joints {bad} (first at action {int(rows[0])})',
            )
        return a

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                job = self._pending
                self._pending = None
                self._busy = True
            try:
                assert job is not None
                chunk = self._compute(job)
                if chunk is not None:
                    with self._cond:
                        closing = self._closing
                    if not closing:
                        self.deliver(chunk, self._now() - job.requested_at_s)
            except Exception:  # belt and braces: the loop itself must never die
                _LOG.exception('policy worker loop error')
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
