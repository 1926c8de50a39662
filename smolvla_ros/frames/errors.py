"""The frame sources' exception hierarchy: catch ``FrameSourceError`` for anything they refuse.

Subclasses also derive from the matching built-in (``ValueError``, ``TimeoutError``, ...) so
callers that only know those still work.
"""

from __future__ import annotations


class FrameSourceError(Exception):
    """Base class of every error a frame source raises on purpose."""


class FrameSourceConfigError(FrameSourceError, ValueError):
    """A source setting is impossible (unknown slot, bad FOURCC, empty folder, ...); nothing
    was opened."""


class FrameSourceClosedError(FrameSourceError, RuntimeError):
    """``read()`` on a source that was closed; create a new source."""


class FrameSourceTimeoutError(FrameSourceError, TimeoutError):
    """No frame arrived within the source's ``timeout_s``; the source stays usable."""


class FrameSourceReadError(FrameSourceError, OSError):
    """One frame could not be read or decoded (a corrupt image file, say); the next ``read()``
    moves on."""


class EndOfStreamError(FrameSourceError, EOFError):
    """A non-looping file source has delivered its last frame; no more will come."""


class FrameSourceUnavailableError(FrameSourceError, ConnectionError):
    """The device is gone (unplugged, failed to open or to read) and is being reopened with
    back-off; the source recovers by itself once the device is back.

    Attributes:
        device: the device index or path, as configured.
        reason: why it is unavailable (the last error).
        retry_at_s: when the next reopen attempt is due, seconds on the source's clock.
        retry_in_s: seconds from the raise to that attempt (>= 0).
    """

    def __init__(self, device: str, reason: str, retry_at_s: float, retry_in_s: float) -> None:
        super().__init__(
            f'camera {device} is unavailable ({reason}); the source retries opening it in '
            f'{retry_in_s:.3f} s (at t={retry_at_s:.3f} s) and recovers by itself when the '
            'device is back: check the cable, the path and that no other program holds it'
        )
        self.device = device
        self.reason = reason
        self.retry_at_s = retry_at_s
        self.retry_in_s = retry_in_s
