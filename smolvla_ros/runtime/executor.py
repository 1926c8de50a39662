"""The executor core: one command per fixed-rate tick from time-aligned, blended chunks.

Threads: :meth:`ChunkExecutor.tick` runs on the control thread only; :meth:`submit_chunk`,
:meth:`emergency_stop`, :meth:`reset_emergency_stop`, :meth:`request_refused` and
:meth:`policy_status` may be called from any thread. Chunks are validated on submission and
handed over through a locked inbox that the next tick drains, so the queue itself is touched by
one thread and no sample can be executed twice or lost.

Per tick, in order: drain the inbox (merge) and the reported refusals, watchdog, interpolate the
planned command for now, safety limits, then decide whether to request the next chunk (threshold
g, at most one request in flight, observation filter with must-go on an empty queue, backoff
after refusals).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smolvla_ros.runtime.blending import blend
from smolvla_ros.runtime.chunk import ActionChunk, validate_chunk
from smolvla_ros.runtime.clock import Clock
from smolvla_ros.runtime.config import RuntimeConfig
from smolvla_ros.runtime.enums import ExecutorState, RejectReason
from smolvla_ros.runtime.errors import ChunkRejectedError
from smolvla_ros.runtime.metrics import RuntimeMetrics
from smolvla_ros.runtime.observation_filter import ObservationFilter
from smolvla_ros.runtime.safety import SafetyLimiter
from smolvla_ros.runtime.timeline import ActionTimeline

_LOG = logging.getLogger(__name__)

# A tick more than this many periods after the previous one is a host stall: at least one whole
# period was missed (ordinary jitter stays well below). Counted in metrics.stalls and logged.
STALL_PERIODS = 2.0

# Longest wait between requests while the policy side keeps refusing them (request_refused),
# seconds: the wait doubles from one tick up to this, so a refusing policy is not asked on every
# tick, yet still at least 5 times a second (and at once when it says it changed).
REFUSAL_BACKOFF_MAX_S = 0.2


@dataclass(frozen=True)
class ObservationSnapshot:
    """What the executor hands the policy side with a chunk request.

    The policy side adds what it owns (camera frames, the instruction) taken at ``time_s`` and
    must answer with an ActionChunk whose ``observation_time_s`` is ``time_s``.

    Attributes:
        request_id: increasing id of this request.
        time_s: the observation time, seconds, on the executor's clock.
        positions_rad: measured joint positions, radians, shape (J,).
        joint_names: their order.
        must_go: sent because the queue ran empty (the filter did not apply).
        queue_fill: remaining fraction of the current chunk when the request was made, [0, 1]
            (0 before the first chunk).
    """

    request_id: int
    time_s: float
    positions_rad: np.ndarray
    joint_names: tuple[str, ...]
    must_go: bool
    queue_fill: float = 0.0


@dataclass(frozen=True)
class TickOutput:
    """One tick's result.

    Attributes:
        time_s: tick time, seconds.
        command_rad: the command to send, radians, shape (J,).
        state: an ExecutorState (a str): 'tracking' (following a chunk), 'startup' (no chunk
            yet; holding), 'starved' (queue ran empty; holding), 'watchdog' (no valid chunk for
            too long; holding) or 'estop' (latched emergency stop; holding).
        queue_length: actions still queued for after ``time_s``.
        requested: a chunk request was sent on this tick.
    """

    time_s: float
    command_rad: np.ndarray
    state: ExecutorState
    queue_length: int
    requested: bool


class ChunkExecutor:
    """The async action-chunk executor.

    Args:
        config: validated runtime configuration.
        request_fn: called on the tick thread with an ObservationSnapshot when a chunk is wanted.
            It must return quickly (queue the work to a policy thread); exceptions it raises are
            counted and logged and the request is retried on a later tick. Returning ``False``
            means the policy side refused the request (a camera frame missing or stale, say):
            it is counted in ``requests_refused`` and not treated as in flight, so the next
            tick asks again instead of waiting ``request_timeout_s`` for an answer that will
            never come. Any other return value (``None``, ``True``) means accepted.
        clock: where tick times come from (MonotonicClock in production, SimClock in tests).
    """

    def __init__(
        self,
        config: RuntimeConfig,
        request_fn: Callable[[ObservationSnapshot], bool | None],
        clock: Clock,
    ) -> None:
        self.config = config
        self._request_fn = request_fn
        self._clock = clock
        names = config.joint_names
        self._j = len(names)
        self.metrics = RuntimeMetrics(names, config.history_len)
        self._limiter = SafetyLimiter(
            config.safety, self.metrics.count_clamps, config.tick_period_s
        )
        self._filter = ObservationFilter(config.observation_filter, self._j)
        self._timeline = ActionTimeline(self._j)
        self._lock = threading.Lock()
        self._inbox: deque[ActionChunk] = deque()
        self._estop = False
        self._estop_reason = ''
        # executor-clock time of the last emergency stop: nothing observed at or before it may
        # move the arm after the reset
        self._estop_t = float('-inf')
        self._rearm = True  # next tick anchors at the measured position and soft-starts
        # executor-clock time of the last hold(): like the e-stop time, nothing observed at or
        # before it may move the arm after it; but no latch, later observations are served
        self._hold_t = float('-inf')
        self._hold_reason = ''
        self._holds = 0  # hold() calls so far; a tick that sees it change drops its plan
        self._pending_config: RuntimeConfig | None = None
        # Both only ever hold plausible times (not after now + future_tolerance_s when recorded),
        # so a chunk stamped far ahead by a skewed clock cannot poison the checks of later ones.
        self._newest_obs_t = float('-inf')  # newest observation time accepted (order check)
        self._rejected_answer_t = float('-inf')  # newest observation time of a rejected chunk
        # tick-thread state
        self._prev_cmd = np.zeros(self._j)
        self._prev_vel = np.zeros(self._j)
        self._prev_t = 0.0
        self._soft_start = True
        self._hold_since: float | None = None
        self._seen_chunk = False
        self._last_valid_t: float | None = None
        self._watchdog_tripped = False
        self._in_flight: tuple[int, float] | None = None
        self._next_request_id = 0
        # policy-side events in arrival order, applied by the next tick: (request_id, reason) of
        # a refusal (request_refused) or None for 'ready' (policy_status). Bounded, since only
        # the request in flight matters and ticks may pause (stale state, inactive).
        self._policy_events: deque[tuple[int, str] | None] = deque(maxlen=16)
        self._last_named_refusal: int | None = None  # newest id policy_status named
        self._tick_index = 0  # ticks so far (tick thread): the unit of the refusal backoff
        self._request_tick = 0  # tick index of the last request sent
        self._refusal_streak = 0  # reported refusals in a row since the last merged chunk
        self._no_request_before_tick = 0
        self._last_refusal = ''
        self._chunk_size = 0
        self._holds_seen = 0

    # -- any thread ------------------------------------------------------------------------------
    def submit_chunk(self, chunk: ActionChunk, strict: bool = False) -> bool:
        """Hand a chunk to the executor (thread-safe); it is merged on the next tick.

        Args:
            chunk: the policy output.
            strict: raise instead of returning False on rejection.

        Besides :func:`validate_chunk`'s rules, the chunk is judged against the executor's own
        clock: rejected while the e-stop is latched ('estop'), when observed at or before the last
        e-stop ('before_estop'), when observed more than ``config.future_tolerance_s`` after now
        ('future') and when not newer than an accepted chunk ('out_of_order').

        Returns:
            True if queued for merging; False if rejected (the reason is counted in
            ``metrics.chunks_rejected`` and logged).

        Raises:
            ChunkRejectedError: only with ``strict=True``, for the same rejections.
        """
        now = self._clock.now()
        latest_plausible = now + self.config.future_tolerance_s
        try:
            validate_chunk(chunk, self.config.joint_names, self.config.max_chunk_length)
            t_obs = chunk.observation_time_s
            with self._lock:
                if self._estop:
                    raise ChunkRejectedError(
                        RejectReason.ESTOP,
                        f'emergency stop latched ({self._estop_reason}); reset it first',
                    )
                if t_obs <= self._estop_t:
                    raise ChunkRejectedError(
                        RejectReason.BEFORE_ESTOP,
                        f'chunk {chunk.chunk_id} was computed from an observation at '
                        f'{t_obs:.6f} s, not after the last emergency stop ({self._estop_t:.6f} '
                        's): a plan made before the stop never runs after it. Request a new one.',
                    )
                if t_obs <= self._hold_t:
                    raise ChunkRejectedError(
                        RejectReason.BEFORE_HOLD,
                        f'chunk {chunk.chunk_id} was computed from an observation at '
                        f'{t_obs:.6f} s, not after the last hold ({self._hold_t:.6f} s, '
                        f'{self._hold_reason}): a plan made before a hold never runs after it',
                    )
                if t_obs > latest_plausible:
                    raise ChunkRejectedError(
                        RejectReason.FUTURE,
                        f'chunk {chunk.chunk_id} claims an observation at {t_obs:.6f} s, '
                        f'{t_obs - now:.3f} s after the executor clock ({now:.6f} s; tolerance '
                        f'{self.config.future_tolerance_s} s). Stamp chunks with '
                        'ObservationSnapshot.time_s or synchronize the policy host clock.',
                    )
                if t_obs <= self._newest_obs_t:
                    raise ChunkRejectedError(
                        RejectReason.OUT_OF_ORDER,
                        f'chunk {chunk.chunk_id} was computed from an observation at '
                        f'{chunk.observation_time_s:.6f} s, not newer than one already received '
                        f'({self._newest_obs_t:.6f} s): duplicate or late delivery',
                    )
                self._newest_obs_t = chunk.observation_time_s
                self._inbox.append(chunk)
            return True
        except ChunkRejectedError as e:
            self.metrics.reject(e.reason)
            t_obs = chunk.observation_time_s
            # A rejected answer to the request in flight lets the next tick request again; only
            # a plausible time may count as one, or a chunk stamped far ahead would mark every
            # later request as answered and the executor would request on every tick.
            if math.isfinite(t_obs) and t_obs <= latest_plausible:
                with self._lock:
                    self._rejected_answer_t = max(self._rejected_answer_t, t_obs)
            _LOG.warning('%s', e)
            if strict:
                raise
            return False

    def request_refused(self, request_id: int, reason: str = '') -> None:
        """The policy side refused request ``request_id`` after ``request_fn`` had sent it
        (thread-safe; the next tick applies it).

        This is the asynchronous form of ``request_fn`` returning False, for a policy across a
        network (e.g. reported in a status message): if that request is still in flight it is
        no longer pending and counts in ``metrics.requests_refused``, not as a request timeout,
        and a new request may go out on the same tick. Against a request storm while the policy
        keeps refusing, the k-th refusal in a row (k >= 1) delays the next request to at least
        ``min(2 ** (k - 1), ceil(REFUSAL_BACKOFF_MAX_S * tick_rate_hz))`` ticks after the
        refused one was sent: 1, 2, 4, ... ticks, at most 0.2 s, so a refusing policy is asked
        at most once per tick and at least at 5 Hz. The streak ends when a chunk is merged.

        A refusal of any other request (already answered, timed out or superseded, or an old
        status from before this executor started) is ignored: at most it could drop a request
        still being served, which then costs one extra request, never a timeout.

        Args:
            request_id: ``ObservationSnapshot.request_id`` of the refused request.
            reason: why the policy refused it (logged; see :attr:`last_refusal`).

        Raises:
            ValueError: ``request_id`` is not an int >= 0 (nothing changes).
        """
        if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 0:
            raise ValueError(
                f'request_refused: request_id must be an int >= 0 (the refused '
                f'ObservationSnapshot.request_id), got {request_id!r}'
            )
        with self._lock:
            self._policy_events.append((request_id, str(reason)))

    def policy_status(self, last_refused_request_id: int | None, reason: str = '') -> None:
        """A status report of the policy side (thread-safe; the next tick applies it).

        A refusal the reports name for the first time is handled as :meth:`request_refused`.
        Any other report (a periodic status repeating an old refusal or naming none, or one
        sent because the policy changed: an instruction set, the node activated) means the
        policy may serve now: a refusal backoff in progress ends, so the next tick may ask
        again, within a tick or two of the policy becoming ready instead of up to
        REFUSAL_BACKOFF_MAX_S later. A policy that keeps refusing is thus asked at most once
        per tick: at the backoff's rate plus once per such report (2 Hz from policy_node).

        Args:
            last_refused_request_id: the last request the policy side refused, None if none.
            reason: why (for a refusal).

        Raises:
            ValueError: ``last_refused_request_id`` is neither None nor an int >= 0 (nothing
                changes).
        """
        if last_refused_request_id is not None and (
            isinstance(last_refused_request_id, bool)
            or not isinstance(last_refused_request_id, int)
            or last_refused_request_id < 0
        ):
            raise ValueError(
                'policy_status: last_refused_request_id must be None or an int >= 0, got '
                f'{last_refused_request_id!r}'
            )
        with self._lock:
            named = last_refused_request_id
            if named is not None and named != self._last_named_refusal:
                self._last_named_refusal = named
                self._policy_events.append((named, str(reason)))
            elif not self._policy_events or self._policy_events[-1] is not None:
                self._policy_events.append(None)  # ready; repeated readies collapse into one

    @property
    def last_refusal(self) -> str:
        """'request <id>: <reason>' of the last reported refusal that freed a request ('' if
        none); read on the tick thread."""
        return self._last_refusal

    def emergency_stop(self, reason: str = 'requested') -> None:
        """Latch the emergency stop: hold the last command, drop the queue, reject chunks and
        send no requests until :meth:`reset_emergency_stop`. Idempotent; each call moves the
        recorded e-stop time (executor clock) forward, and chunks observed at or before it are
        rejected ('before_estop') after the reset."""
        now = self._clock.now()
        with self._lock:
            self._estop_t = max(self._estop_t, now)
            if self._estop:
                return
            self._estop = True
            self._estop_reason = reason
            for _ in self._inbox:
                self.metrics.reject(RejectReason.ESTOP)
            self._inbox.clear()
        self.metrics.add(estops=1)
        _LOG.error('emergency stop: %s', reason)

    def reset_emergency_stop(self) -> None:
        """Release the latch. The next tick re-anchors at the measured position and soft-starts
        toward the next chunk it receives."""
        with self._lock:
            if not self._estop:
                return
            self._estop = False
            self._rearm = True
        _LOG.warning('emergency stop reset')

    def hold(self, reason: str = 'requested') -> None:
        """Drop the queue and hold at the current command (thread-safe; no latch).

        Chunks observed at or before now (executor clock) are rejected from here on
        ('before_hold'), queued ones and those waiting in the inbox included, and the request in
        flight is forgotten: nothing planned before the hold moves the arm after it. Unlike
        :meth:`emergency_stop` nothing latches: the next tick requests a new chunk and chunks
        observed after the hold are served as usual. Each call moves the hold time forward.
        """
        now = self._clock.now()
        with self._lock:
            self._hold_t = max(self._hold_t, now)
            self._hold_reason = reason
            self._holds += 1
            for _ in self._inbox:
                self.metrics.reject(RejectReason.BEFORE_HOLD)
            self._inbox.clear()
        self.metrics.add(holds=1)
        _LOG.warning('hold: %s', reason)

    def update_config(self, config: RuntimeConfig) -> None:
        """Swap in a new configuration between ticks (thread-safe; applied by the next tick).

        Only the scheduling settings may change at run time: ``mode``, ``g``, ``blending``,
        ``crossfade_s`` and ``observation_filter`` (the filter forgets its last observation, so
        the next wanted request goes). Everything else sizes or bounds state the executor
        already holds (joints and limits, tick rate, history, tolerances), so a change there
        needs a new executor.

        Raises:
            ValueError: another field differs from the current configuration (nothing changes).
        """
        with self._lock:
            current = self._pending_config or self.config
        fixed = [
            f
            for f in (
                'tick_rate_hz',
                'request_timeout_s',
                'history_len',
                'future_tolerance_s',
                'max_chunk_length',
                'safety',
            )
            if getattr(config, f) != getattr(current, f)
        ]
        if fixed:
            raise ValueError(
                f'update_config: {fixed} cannot change while the executor runs; only mode, g, '
                'blending, crossfade_s and observation_filter can. Build a new executor.'
            )
        with self._lock:
            self._pending_config = config

    @property
    def holds(self) -> int:
        """Number of :meth:`hold` calls so far."""
        with self._lock:
            return self._holds

    @property
    def estopped(self) -> bool:
        """True while the emergency stop is latched."""
        with self._lock:
            return self._estop

    # -- tick thread -----------------------------------------------------------------------------
    @property
    def queued_tags(self) -> list[tuple[int, int]]:
        """(chunk_id, index) of the queued samples; read on the tick thread only."""
        return self._timeline.tags

    @property
    def chunk_size(self) -> int:
        """Actions in the last merged chunk (0 before the first); the denominator of the
        queue fill. Read on the tick thread."""
        return self._chunk_size

    def planned_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """The queued plan: sample times (s, executor clock), shape (n,), and joint targets
        (rad, ``config.joint_names`` order), shape (n, J); copies. Read on the tick thread only
        (e.g. to draw the planned path between ticks)."""
        return self._timeline.times_s, self._timeline.positions_rad

    def tick(self, measured_rad: np.ndarray) -> TickOutput:
        """Compute the command for now. Call at the tick rate from one thread.

        Args:
            measured_rad: measured joint positions, radians, shape (J,); the observation for a
                request and the start of a soft start.

        Raises:
            ValueError: ``measured_rad`` has the wrong shape or is not finite (nothing changes).
        """
        measured = np.asarray(measured_rad, dtype=np.float64)
        if measured.shape != (self._j,) or not np.all(np.isfinite(measured)):
            raise ValueError(
                f'tick: measured positions must be {self._j} finite values in the order '
                f'{self.config.joint_names}, got {measured_rad!r}'
            )
        now = self._clock.now()
        with self._lock:
            chunks = list(self._inbox)
            self._inbox.clear()
            estop = self._estop
            rearm = self._rearm
            self._rearm = False
            rejected_answer_t = self._rejected_answer_t
            policy_events = list(self._policy_events)
            self._policy_events.clear()
            holds = self._holds
            hold_t = self._hold_t
            new_config, self._pending_config = self._pending_config, None
        if new_config is not None:
            self._apply_config(new_config)
        m = self.metrics
        m.add(ticks=1)
        self._tick_index += 1
        if rearm:
            self._start_from(measured, now)
        period = self.config.tick_period_s
        dt = now - self._prev_t if now > self._prev_t else period
        if dt > STALL_PERIODS * period:
            m.add(stalls=1)
            _LOG.warning(
                'control loop stalled: %.3f s since the last tick (period %.3f s); this command '
                'moves at most one period at the velocity limit',
                dt,
                period,
            )

        if holds != self._holds_seen:
            # hold(): drop everything planned before it; the robot holds from here
            self._holds_seen = holds
            m.add(actions_superseded=self._timeline.clear())
            self._in_flight = None
            self._hold_since = now
        # What the queued path alone would command now: the reference for the seam jump, so the
        # metric measures the discontinuity a merge introduces, not lag left by earlier clamps.
        before_merge = self._timeline.peek(now) if chunks else None
        merged = False
        for chunk in chunks:
            self._merge(chunk, now)
            merged = True
        if self._in_flight is not None and rejected_answer_t >= self._in_flight[1]:
            self._in_flight = None  # the answer came back invalid: allow a new request
        for event in policy_events:  # in arrival order: a 'ready' after a refusal ends its wait
            if event is None:
                self._no_request_before_tick = 0
            else:
                self._apply_refusal(*event)

        state = ExecutorState.TRACKING
        if estop:
            dropped = self._timeline.clear()
            m.add(actions_superseded=dropped)
            self._in_flight = None
            self._hold_since = now if self._hold_since is None else self._hold_since
            state = ExecutorState.ESTOP
        elif (
            self._last_valid_t is not None
            and not self._watchdog_tripped
            and now - self._last_valid_t > self.config.safety.watchdog_timeout_s
        ):
            self._watchdog_tripped = True
            m.add(watchdog_trips=1, actions_superseded=self._timeline.clear())
            # Holding from here: a chunk observed later is not stale. If the queue had already
            # run dry the arm has held since then, and a chunk observed in between (a policy
            # slower than the watchdog) is not stale either: keep the earlier hold time.
            if self._hold_since is None:
                self._hold_since = now
            _LOG.error(
                'watchdog: no valid chunk for %.3f s; holding position',
                now - self._last_valid_t,
            )

        had_samples = len(self._timeline) > 0
        if state == ExecutorState.ESTOP or not had_samples:
            target, consumed = self._prev_cmd.copy(), []
            if state != ExecutorState.ESTOP:
                if not self._seen_chunk:
                    state = ExecutorState.STARTUP
                elif self._watchdog_tripped:
                    state = ExecutorState.WATCHDOG
                else:
                    state = ExecutorState.STARVED
        else:
            target, consumed = self._timeline.advance(now)
            if not len(self._timeline):
                self._hold_since = now  # the queue ran dry: the robot holds from here
        if state == ExecutorState.STARTUP:
            m.add(startup_ticks=1)
        elif state in (ExecutorState.STARVED, ExecutorState.WATCHDOG):
            m.add(starvation_ticks=1)
        m.add(actions_executed=len(consumed))

        if merged and had_samples and before_merge is not None:
            m.record('seam_jumps_rad', float(np.max(np.abs(target - before_merge))))
        cmd = self._limiter.limit(
            target,
            self._prev_cmd,
            self._prev_vel,
            dt_s=dt,
            soft_start=self._soft_start,
            tracking=had_samples,
        )
        with self._lock:
            latched_during_tick = self._estop and not estop
            held_during_tick = self._holds != holds
        if held_during_tick and not latched_during_tick:
            # hold() ran during this tick: hold instead of sending a command planned before it
            # (the next tick drops the queue)
            cmd = self._prev_cmd.copy()
            state = ExecutorState.STARVED if self._seen_chunk else ExecutorState.STARTUP
        if latched_during_tick:
            # an e-stop latched while this tick ran: hold instead of sending a command planned
            # before it (the next tick drops the queue)
            cmd, state, estop = self._prev_cmd.copy(), ExecutorState.ESTOP, True
        if self._soft_start and had_samples and np.allclose(cmd, target, rtol=0, atol=1e-9):
            self._soft_start = False
        # the same effective dt as the limiter used, so the acceleration clamp stays consistent
        self._prev_vel = (cmd - self._prev_cmd) / self._limiter.effective_dt(dt)
        self._prev_cmd = cmd
        self._prev_t = now
        self._timeline.set_anchor(now, cmd)

        # an observation not after the last hold would be answered by a rejected chunk
        requested = False if estop or now <= hold_t else self._maybe_request(measured, now)
        queue_length = self._timeline.remaining(now)
        m.record('queue_history', (now, queue_length))
        return TickOutput(now, cmd.copy(), state, queue_length, requested)

    # -- internals (tick thread) -----------------------------------------------------------------
    def _apply_config(self, config: RuntimeConfig) -> None:
        old = self.config
        self.config = config
        if config.observation_filter != old.observation_filter:
            self._filter = ObservationFilter(config.observation_filter, self._j)
        _LOG.info(
            'runtime config updated: mode=%s g=%s blending=%s crossfade_s=%s epsilon_rad=%s',
            config.mode,
            config.g,
            config.blending,
            config.crossfade_s,
            config.observation_filter.epsilon_rad,
        )

    def _apply_refusal(self, request_id: int, reason: str) -> None:
        if self._in_flight is None or self._in_flight[0] != request_id:
            return  # not the pending request: answered, timed out, superseded or unknown
        self._in_flight = None
        self._refusal_streak += 1
        cap = max(1, math.ceil(REFUSAL_BACKOFF_MAX_S * self.config.tick_rate_hz - 1e-9))
        wait = min(2 ** min(self._refusal_streak - 1, 30), cap)
        self._no_request_before_tick = self._request_tick + wait
        self._last_refusal = f'request {request_id}: {reason}'
        self.metrics.add(requests_refused=1)
        _LOG.info('chunk request %d refused by the policy side: %s', request_id, reason)

    def _start_from(self, measured: np.ndarray, now: float) -> None:
        self._prev_cmd = measured.copy()
        self._prev_vel = np.zeros(self._j)
        self._prev_t = now
        self._timeline.clear()
        self._timeline.set_anchor(now, measured)
        self._soft_start = True
        self._hold_since = now
        self._seen_chunk = False
        self._last_valid_t = None
        self._watchdog_tripped = False
        self._in_flight = None
        self._refusal_streak = 0
        self._no_request_before_tick = 0
        self._filter.reset()

    def _merge(self, chunk: ActionChunk, now: float) -> None:
        times = chunk.sample_times()
        if self._hold_since is not None and self._hold_since <= chunk.observation_time_s:
            # The robot has held still since before this observation was taken, so none of the
            # chunk is stale: start it now (this is what makes sync mode and g = 0 execute whole
            # chunks instead of dropping the first latency/dt actions).
            times = times + (now - chunk.observation_time_s)
        tags = np.column_stack((np.full(chunk.n, chunk.chunk_id), np.arange(chunk.n)))
        cfg = self.config
        vmax = self._limiter.velocity_limit_rad_s

        def blend_fn(t: np.ndarray, new: np.ndarray, old: np.ndarray, old_end: float):
            return blend(
                cfg.blending,
                t,
                new,
                old,
                now_s=now,
                old_end_s=old_end,
                crossfade_s=cfg.crossfade_s,
                velocity_limit_rad_s=vmax,
            )

        stats = self._timeline.merge(times, chunk.actions, tags, now, blend_fn)
        m = self.metrics
        m.add(
            chunks_accepted=1,
            actions_dropped_stale=stats.dropped_stale,
            actions_superseded=stats.superseded,
        )
        m.record('inference_latency_s', chunk.inference_latency_s)
        m.record('arrival_age_s', now - chunk.observation_time_s)
        self._chunk_size = chunk.n
        self._refusal_streak = 0  # the policy serves again: no backoff for a later refusal
        self._seen_chunk = True
        self._last_valid_t = now
        self._watchdog_tripped = False
        if len(self._timeline):
            self._hold_since = None
        if self._in_flight is not None and chunk.observation_time_s >= self._in_flight[1]:
            self._in_flight = None

    def _maybe_request(self, measured: np.ndarray, now: float) -> bool:
        m = self.metrics
        if self._in_flight is not None:
            if now - self._in_flight[1] <= self.config.request_timeout_s:
                return False
            m.add(request_timeouts=1)
            _LOG.warning('chunk request %d unanswered; requesting again', self._in_flight[0])
            self._in_flight = None
        if self._tick_index < self._no_request_before_tick:
            return False  # backing off: the policy refused the last request(s)
        remaining = self._timeline.remaining(now)
        must_go = remaining == 0
        above_threshold = (
            self._chunk_size == 0 or remaining / self._chunk_size > self.config.effective_g
        )
        if not must_go and above_threshold:
            return False
        if not self._filter.allows(measured, must_go):
            m.add(requests_filtered=1)
            return False
        snapshot = ObservationSnapshot(
            request_id=self._next_request_id,
            time_s=now,
            positions_rad=measured.copy(),
            joint_names=self.config.joint_names,
            must_go=must_go,
            queue_fill=min(1.0, remaining / self._chunk_size) if self._chunk_size else 0.0,
        )
        self._next_request_id += 1
        try:
            accepted = self._request_fn(snapshot)
        except Exception as e:  # the control loop must survive a broken policy client
            m.add(request_errors=1)
            _LOG.error('chunk request %d failed: %r', snapshot.request_id, e)
            return False
        if accepted is False:
            m.add(requests_refused=1)
            return False
        self._in_flight = (snapshot.request_id, now)
        self._request_tick = self._tick_index
        self._filter.mark_processed(measured)
        m.add(requests_sent=1)
        return True
