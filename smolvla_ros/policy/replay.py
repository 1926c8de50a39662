"""Replay recorded chunks as a :class:`~smolvla_ros.policy.protocol.Policy`, and record them.

File format (``.npz``, read with ``allow_pickle=False``):

========================  =====================================================================
``format``                0-d str array, ``'smolvla-replay/1'``
``actions``               float64 (k, n, J): k chunks of n joint targets, radians
``joint_names``           str (J,): the column order
``dt_s``                  0-d float64: seconds between the actions of a chunk
========================  =====================================================================

:func:`record` writes one atomically (a temporary file in the same folder, then a rename), so a
crash never leaves a half-written recording under the final name. :class:`ReplayPolicy` returns
the chunks in order, one per request, and raises :class:`ReplayExhaustedError` after the last.
"""

from __future__ import annotations

import math
import os
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from smolvla_ros.policy.protocol import PolicyInput
from smolvla_ros.runtime.chunk import ActionChunk

REPLAY_FORMAT = 'smolvla-replay/1'


class ReplayError(ValueError):
    """A recording cannot be written, read or replayed (the message says what and why)."""


class ReplayExhaustedError(ReplayError):
    """Every recorded chunk has been replayed; call ``rewind()`` to start again."""


def _validated(
    actions: np.ndarray | Sequence[np.ndarray], joint_names: Sequence[str], dt_s: float
) -> tuple[np.ndarray, tuple[str, ...], float]:
    names = tuple(str(n) for n in joint_names)
    if not names or len(set(names)) != len(names):
        raise ReplayError(f'joint_names must be non-empty and unique, got {names}')
    try:
        a = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ReplayError(
            'actions must be k chunks of the same n x J shape (a (k, n, J) array); got '
            f'ragged or non-numeric data ({e})'
        ) from e
    if a.ndim != 3 or a.shape[0] < 1 or a.shape[1] < 1 or a.shape[2] != len(names):
        raise ReplayError(
            f'actions have shape {a.shape}; expected (k >= 1, n >= 1, {len(names)}) for joints '
            f'{names}'
        )
    if not np.all(np.isfinite(a)):
        k = int(np.argwhere(~np.isfinite(a))[0, 0])
        raise ReplayError(f'actions contain NaN or inf (first in chunk {k}); nothing written')
    dt = float(dt_s)
    if not (math.isfinite(dt) and dt > 0):
        raise ReplayError(f'dt_s must be a finite number > 0 seconds, got {dt_s!r}')
    return a, names, dt


def record(
    path: str | os.PathLike[str],
    actions: np.ndarray | Sequence[np.ndarray],
    joint_names: Sequence[str],
    dt_s: float,
) -> Path:
    """Write a replay file atomically.

    Args:
        path: destination (any suffix; conventionally ``.npz``). Its folder must exist.
        actions: k chunks, each (n, J) radians; all the same shape.
        joint_names: the J column names.
        dt_s: seconds between actions.

    Returns:
        The path written.

    Raises:
        ReplayError: invalid actions, names or dt (nothing is written).
        OSError: the folder does not exist or is not writable (nothing is left behind).
    """
    a, names, dt = _validated(actions, joint_names, dt_s)
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f'.{dest.name}.', suffix='.tmp', dir=dest.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            np.savez(
                f,
                format=np.array(REPLAY_FORMAT),
                actions=a,
                joint_names=np.array(names),
                dt_s=np.array(dt),
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def record_chunks(path: str | os.PathLike[str], chunks: Sequence[ActionChunk]) -> Path:
    """Write ``chunks`` (e.g. what a worker submitted) as a replay file, atomically.

    Raises:
        ReplayError: no chunks, or they differ in joint names, dt or shape (nothing is written).
    """
    if not chunks:
        raise ReplayError('record_chunks: no chunks to record')
    first = chunks[0]
    for c in chunks[1:]:
        if c.joint_names != first.joint_names or c.dt_s != first.dt_s:
            raise ReplayError(
                f'chunk {c.chunk_id} has joints {c.joint_names} and dt {c.dt_s} s; chunk '
                f'{first.chunk_id} has {first.joint_names} and {first.dt_s} s. A recording '
                'holds one joint order and one dt'
            )
        if c.actions.shape != first.actions.shape:
            raise ReplayError(
                f'chunk {c.chunk_id} has shape {c.actions.shape}, chunk {first.chunk_id} '
                f'{first.actions.shape}; a recording holds chunks of one size'
            )
    return record(path, [c.actions for c in chunks], first.joint_names, first.dt_s)


class ReplayPolicy:
    """Returns the recorded chunks in order, one per ``predict``.

    Args:
        path: a file written by :func:`record`.
        required_slots: camera slots requests must carry (replay ignores them; naming slots
            makes the worker check the cameras as for a real policy).

    Raises:
        ReplayError: the file is missing, not a replay file, or its contents are invalid.
    """

    def __init__(self, path: str | os.PathLike[str], required_slots: tuple[str, ...] = ()):
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as data:
                fmt = str(data['format']) if 'format' in data.files else None
                if fmt != REPLAY_FORMAT:
                    raise ReplayError(
                        f'{p} is not a replay file (format {fmt!r}, expected {REPLAY_FORMAT!r}); '
                        'write one with smolvla_ros.policy.replay.record'
                    )
                missing = {'actions', 'joint_names', 'dt_s'} - set(data.files)
                if missing:
                    raise ReplayError(f'{p} lacks the array(s) {sorted(missing)}')
                raw = (data['actions'], data['joint_names'].tolist(), float(data['dt_s']))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            if isinstance(e, ReplayError):
                raise
            raise ReplayError(f'cannot read replay file {p}: {e}') from e
        try:
            self._actions, self._names, self._dt = _validated(*raw)
        except ReplayError as e:
            raise ReplayError(f'{p}: {e}') from e
        self._path = p
        self._slots = tuple(required_slots)
        self._next = 0

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def dt_s(self) -> float:
        return self._dt

    @property
    def required_slots(self) -> tuple[str, ...]:
        return self._slots

    @property
    def remaining(self) -> int:
        """Chunks not yet replayed."""
        return len(self._actions) - self._next

    def rewind(self) -> None:
        """Start again from the first chunk."""
        self._next = 0

    def predict(self, request: PolicyInput) -> np.ndarray:
        """The next recorded chunk, radians, shape (n, J).

        Raises:
            ReplayError: the request's joints differ from the recording's (nothing consumed).
            ReplayExhaustedError: every chunk was replayed.
        """
        names = tuple(request.snapshot.joint_names)
        if names != self._names:
            raise ReplayError(
                f'{self._path} was recorded for joints {self._names}; the request has {names}'
            )
        if self._next >= len(self._actions):
            raise ReplayExhaustedError(
                f'{self._path}: all {len(self._actions)} recorded chunks were replayed; '
                'rewind() to start again'
            )
        chunk = self._actions[self._next].copy()
        self._next += 1
        return chunk
