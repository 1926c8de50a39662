"""Several frame sources as one: their slots side by side (names must be unique).

``MultiSource([top_cam, wrist_cam])`` reads its sources one after the other on the calling
thread and returns every frame it got. One failing source does not hide the others: its
frames are missing from that read and the failure is counted in :attr:`MultiSource.errors`;
only when every source fails does ``read()`` raise. A source that reached its end is skipped
from then on. Because the reads are sequential, a source that blocks (a paced replay, a
stalled driver up to its timeout) delays the others: for several real cameras prefer one
:class:`~smolvla_ros.frames.pump.FramePump` per camera feeding the same sink.
"""

from __future__ import annotations

from collections.abc import Sequence

from smolvla_ros.frames.errors import (
    EndOfStreamError,
    FrameSourceClosedError,
    FrameSourceConfigError,
    FrameSourceError,
    FrameSourceUnavailableError,
)
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.source import FrameSource, SourceBase


class MultiSource(SourceBase):
    """Combine frame sources with distinct slots into one source. It owns them: ``close()``
    closes every one.

    Args:
        sources: the sources, in the slot order wanted.

    Raises:
        FrameSourceConfigError: no source, or two sources deliver the same slot (named).
    """

    def __init__(self, sources: Sequence[FrameSource]) -> None:
        sources = tuple(sources)
        if not sources:
            raise FrameSourceConfigError('MultiSource needs at least one source')
        owner: dict[str, int] = {}
        for i, source in enumerate(sources):
            for slot in source.slots:
                if slot in owner:
                    raise FrameSourceConfigError(
                        f'camera slot {slot!r} is delivered by source #{owner[slot]} '
                        f'({type(sources[owner[slot]]).__name__}) and source #{i} '
                        f'({type(source).__name__}); give every camera its own slot'
                    )
                owner[slot] = i
        self._sources = sources
        self._slots = tuple(owner)
        self._ended = [False] * len(sources)
        self._closed = False
        # Per source index: failed reads, and the last error (None once it delivers again).
        self.errors = [0] * len(sources)
        self.last_errors: list[FrameSourceError | None] = [None] * len(sources)

    @property
    def slots(self) -> tuple[str, ...]:
        return self._slots

    @property
    def sources(self) -> tuple[FrameSource, ...]:
        return self._sources

    def read(self) -> list[Frame]:
        """The next frames of every source that delivered, in source order.

        Raises:
            FrameSourceClosedError: the source was closed.
            EndOfStreamError: every source has ended.
            FrameSourceUnavailableError: every live source is unavailable (the earliest retry).
            FrameSourceError: every live source failed; the error of a single live source is
                raised as is, several are summarised (each is in :attr:`last_errors`).
        """
        if self._closed:
            raise FrameSourceClosedError(f'multi-source {self._slots} is closed')
        frames: list[Frame] = []
        failed: list[FrameSourceError] = []
        for i, source in enumerate(self._sources):
            if self._ended[i]:
                continue
            try:
                got = source.read()
            except EndOfStreamError as e:
                self._ended[i] = True
                self.last_errors[i] = e
                continue
            except FrameSourceError as e:
                self.errors[i] += 1
                self.last_errors[i] = e
                failed.append(e)
                continue
            self.last_errors[i] = None
            frames.extend(got)
        if frames or (not failed and not all(self._ended)):
            return frames
        if all(self._ended):
            raise EndOfStreamError(f'all {len(self._sources)} sources of {self._slots} ended')
        if len(failed) == 1:
            raise failed[0]
        if all(isinstance(e, FrameSourceUnavailableError) for e in failed):
            lost = [e for e in failed if isinstance(e, FrameSourceUnavailableError)]
            first = min(lost, key=lambda e: e.retry_at_s)
            raise FrameSourceUnavailableError(
                ', '.join(e.device for e in lost),
                '; '.join(e.reason for e in lost),
                first.retry_at_s,
                first.retry_in_s,
            )
        raise FrameSourceError(
            f'all {len(failed)} live sources of {self._slots} failed: '
            + '; '.join(f'{type(e).__name__}: {e}' for e in failed)
        ) from failed[0]

    def close(self) -> None:
        """Close every source (all of them, even if one raises). Idempotent."""
        if self._closed:
            return
        self._closed = True
        first: BaseException | None = None
        for source in self._sources:
            try:
                source.close()
            except Exception as e:  # close the rest, then report the first failure
                first = first or e
        if first is not None:
            raise FrameSourceError(f'closing a source of {self._slots} failed: {first}') from first
