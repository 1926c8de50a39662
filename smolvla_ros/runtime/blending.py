"""How an arriving chunk is merged with the queued one over their time overlap.

Samples are matched by *time*, never by index: the queued trajectory is interpolated at the new
chunk's sample times. Outside the overlap the new chunk is used as-is.
"""

from __future__ import annotations

import numpy as np

from smolvla_ros.runtime.enums import BlendMode

# Weight of the NEW chunk for LeRobot's constant-weight aggregate functions (same for every
# overlapping sample), kept for comparison with the crossfade.
CONSTANT_NEW_WEIGHT: dict[str, float] = {
    'latest': 1.0,
    'weighted': 0.7,
    'average': 0.5,
    'conservative': 0.3,
}


def crossfade_window_s(
    deviation_rad: np.ndarray,
    velocity_limit_rad_s: np.ndarray,
    min_window_s: float,
    available_s: float,
) -> float:
    """Length of the crossfade, seconds.

    Fading a deviation d over a window W adds a speed of d / W, so the window is at least
    max_j |d_j| / (0.5 * v_j): the blend never uses more than half of any joint's velocity limit.
    It is never shorter than ``min_window_s`` and never longer than the queued chunk lasts
    (``available_s``), because past its end there is nothing left to fade from.

    Args:
        deviation_rad: new minus old over the overlap, shape (k, J) (k may be 0).
        velocity_limit_rad_s: shape (J,).
        min_window_s: the configured minimum, seconds.
        available_s: time from now to the end of the queued chunk, seconds.
    """
    if available_s <= 0:
        return 0.0
    needed = 0.0
    if deviation_rad.size:
        needed = float(np.max(np.abs(deviation_rad).max(axis=0) / (0.5 * velocity_limit_rad_s)))
    return min(max(min_window_s, needed), available_s)


def new_chunk_weights(
    mode: BlendMode | str, times_s: np.ndarray, now_s: float, old_end_s: float, window_s: float
) -> np.ndarray:
    """Weight of the new chunk at each of its sample times, shape (k,), values in [0, 1].

    Samples after the end of the queued chunk (``old_end_s``) get weight 1: there is no old
    value to blend with, and holding the old chunk's last sample would be extrapolation.

    Raises:
        ValueError: unknown ``mode``.
    """
    covered = times_s <= old_end_s
    if mode == 'crossfade':
        if window_s <= 0:
            w = np.ones_like(times_s)
        else:
            w = np.clip((times_s - now_s) / window_s, 0.0, 1.0)
    elif mode in CONSTANT_NEW_WEIGHT:
        w = np.full_like(times_s, CONSTANT_NEW_WEIGHT[mode])
    else:
        raise ValueError(
            f'unknown blending mode {mode!r}; choose crossfade or one of '
            f'{sorted(CONSTANT_NEW_WEIGHT)}'
        )
    return np.where(covered, w, 1.0)


def blend(
    mode: BlendMode | str,
    times_s: np.ndarray,
    new_rad: np.ndarray,
    old_rad: np.ndarray,
    *,
    now_s: float,
    old_end_s: float,
    crossfade_s: float,
    velocity_limit_rad_s: np.ndarray,
) -> np.ndarray:
    """Blend the new samples with the queued trajectory evaluated at the same times.

    Args:
        mode: a BlendMode or its string value.
        times_s: the new samples' times, seconds, shape (k,), all after ``now_s``.
        new_rad: the new chunk at those times, shape (k, J).
        old_rad: the queued trajectory at those times, shape (k, J); rows after ``old_end_s`` are
            ignored (may be NaN).
        now_s: the merge time, seconds.
        old_end_s: time of the queued chunk's last sample (<= now_s when the queue is empty).
        crossfade_s: minimum crossfade window, seconds.
        velocity_limit_rad_s: shape (J,), sizes the crossfade window.

    Returns:
        The blended samples, shape (k, J).
    """
    covered = times_s <= old_end_s
    deviation = (new_rad - old_rad)[covered]
    window = crossfade_window_s(deviation, velocity_limit_rad_s, crossfade_s, old_end_s - now_s)
    w = new_chunk_weights(mode, times_s, now_s, old_end_s, window)[:, None]
    old_filled = np.where(covered[:, None], old_rad, new_rad)
    return w * new_rad + (1.0 - w) * old_filled
