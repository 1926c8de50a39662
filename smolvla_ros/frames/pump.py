"""``FramePump``: a thread that reads a frame source and hands every frame to a sink.

    store = FrameStore(...)                      # the policy worker's latest-frame store
    with OpenCVFrameSource('/dev/v4l/by-id/usb-cam-index0', 'top') as camera, \\
            FramePump(camera, store.put) as pump:
        ...                                      # frames flow until the block ends
        print(pump.status)

The pump never dies of a source or sink error: each is counted and reported through
:attr:`FramePump.status` (and the optional ``on_error`` callback), then it carries on. An
unavailable camera is read again when its reopen attempt is due (the error says when), other
errors after ``error_pause_s``; timeouts are simply read again. The pump stops by itself only
when the source has ended (:class:`EndOfStreamError`, ``status.finished``) or was closed.
``close()`` stops it and joins the thread; the pump does not close the source (its owner does).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from smolvla_ros.frames.errors import (
    EndOfStreamError,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceTimeoutError,
    FrameSourceUnavailableError,
)
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.source import FrameSource, Now, check_positive

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PumpStatus:
    """A snapshot of a pump's counters.

    Attributes:
        running: the thread is alive.
        finished: the source ended or was closed (the pump stopped by itself).
        frames: frames handed to the sink without error.
        frames_per_slot: the same, per camera slot.
        read_errors: failed reads (timeouts not included), by error class name in
            ``errors_by_type``.
        timeouts: reads that timed out.
        sink_errors: frames the sink raised on (dropped).
        last_error: the most recent read or sink error, as text.
        last_error_time_s: when it happened, seconds on the pump's clock.
        last_frame_time_s: capture time of the last frame handed on, seconds.
    """

    running: bool
    finished: bool
    frames: int
    frames_per_slot: dict[str, int] = field(default_factory=dict)
    read_errors: int = 0
    errors_by_type: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    sink_errors: int = 0
    last_error: str | None = None
    last_error_time_s: float | None = None
    last_frame_time_s: float | None = None


class FramePump:
    """Reads ``source`` on a thread and calls ``sink(frame)`` for each frame.

    Args:
        source: any :class:`~smolvla_ros.frames.source.FrameSource`.
        sink: called on the pump's thread with each frame (e.g. the frame store's ``put``);
            it should return quickly.
        name: the thread's name (default: 'frame-pump-' + the slots).
        error_pause_s: pause after a failed read before reading again, seconds.
        max_pause_s: the longest pause while waiting for an unavailable camera's reopen,
            seconds (a bound on how late ``close()`` is noticed too).
        now: clock for ``last_error_time_s``, seconds.
        on_error: called with each read or sink error on the pump's thread; exceptions it
            raises are logged and ignored.

    Raises:
        FrameSourceConfigError: a pause is not a positive number.
    """

    def __init__(
        self,
        source: FrameSource,
        sink: Callable[[Frame], None],
        *,
        name: str | None = None,
        error_pause_s: float = 0.05,
        max_pause_s: float = 1.0,
        now: Now = time.monotonic,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        check_positive('error_pause_s', error_pause_s)
        check_positive('max_pause_s', max_pause_s)
        if not callable(sink):
            raise FrameSourceConfigError(f'sink must be callable (e.g. store.put), got {sink!r}')
        self._source = source
        self._sink = sink
        self._error_pause = float(error_pause_s)
        self._max_pause = float(max_pause_s)
        self._now = now
        self._on_error = on_error
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run,
            name=name or 'frame-pump-' + '-'.join(source.slots),
            daemon=True,  # a pump left open must not keep the interpreter alive
        )
        self._started = False
        self._closed = False
        self._finished = False
        self._frames = 0
        self._per_slot: dict[str, int] = {}
        self._read_errors = 0
        self._by_type: dict[str, int] = {}
        self._timeouts = 0
        self._sink_errors = 0
        self._last_error: str | None = None
        self._last_error_time: float | None = None
        self._last_frame_time: float | None = None
        self._frames_at_error = -1

    def start(self) -> FramePump:
        """Start the thread (once); returns self.

        Raises:
            RuntimeError: the pump was closed or already started.
        """
        if self._closed or self._started:
            raise RuntimeError('a FramePump starts once; create a new one after close()')
        self._started = True
        self._thread.start()
        return self

    @property
    def status(self) -> PumpStatus:
        """The pump's counters now (any thread)."""
        with self._lock:
            return PumpStatus(
                running=self._thread.is_alive(),
                finished=self._finished,
                frames=self._frames,
                frames_per_slot=dict(self._per_slot),
                read_errors=self._read_errors,
                errors_by_type=dict(self._by_type),
                timeouts=self._timeouts,
                sink_errors=self._sink_errors,
                last_error=self._last_error,
                last_error_time_s=self._last_error_time,
                last_frame_time_s=self._last_frame_time,
            )

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop the pump and join its thread. Idempotent.

        Args:
            timeout_s: how long to wait for the thread, seconds; a read in progress finishes
                first (at most the source's own timeout).

        Returns:
            True when the thread has ended (or never started), False if it is still in a read
            after ``timeout_s`` (it exits when that read returns).
        """
        self._closed = True
        self._stop.set()
        if self._started:
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def __enter__(self) -> FramePump:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- thread
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frames = self._source.read()
            except (EndOfStreamError, FrameSourceClosedError) as e:
                if not isinstance(e, FrameSourceClosedError) or not self._stop.is_set():
                    logger.info('frame pump %s: source finished: %s', self._thread.name, e)
                with self._lock:
                    self._finished = True
                return
            except FrameSourceTimeoutError:
                with self._lock:
                    self._timeouts += 1
                continue
            except FrameSourceUnavailableError as e:
                self._record_error(e, sink=False)
                # Come back when the reopen attempt is due, not before (it would only raise).
                self._stop.wait(min(max(e.retry_in_s, 0.0), self._max_pause))
                continue
            except Exception as e:  # any other failure, even a bug in a source: count, go on
                self._record_error(e, sink=False)
                self._stop.wait(self._error_pause)
                continue
            for frame in frames:
                try:
                    self._sink(frame)
                except Exception as e:  # a sink refusing one frame must not stop the stream
                    self._record_error(e, sink=True)
                    continue
                with self._lock:
                    self._frames += 1
                    self._per_slot[frame.slot] = self._per_slot.get(frame.slot, 0) + 1
                    self._last_frame_time = frame.capture_time_s

    def _record_error(self, error: BaseException, *, sink: bool) -> None:
        with self._lock:
            # The first error since the last delivered frame (or ever) starts a new run.
            first_in_a_row = self._frames != self._frames_at_error
            if sink:
                self._sink_errors += 1
            else:
                self._read_errors += 1
                kind = type(error).__name__
                self._by_type[kind] = self._by_type.get(kind, 0) + 1
            self._last_error = f'{type(error).__name__}: {error}'
            self._last_error_time = float(self._now())
            self._frames_at_error = self._frames
        # Log the first error of a run at warning level, the repeats at debug (no log flood).
        log = logger.warning if first_in_a_row else logger.debug
        log('frame pump %s: %s', self._thread.name, self._last_error)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                logger.exception('frame pump %s: on_error callback raised', self._thread.name)
