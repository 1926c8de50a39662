"""Per-episode feature statistics and their exact aggregation over episodes.

LeRobot's convention (``compute_stats.py``): for every numeric feature, 'min', 'max', 'mean',
'std' (population, ddof=0) over frames, each with the feature's shape, and 'count' = [frames];
for images the statistics are per channel, shape (3, 1, 1), on pixel values scaled to [0, 1].
Here image statistics use every frame (LeRobot samples frames of long episodes; with the small
renders of this project every frame is cheap), so they are exact.
"""

from __future__ import annotations

import numpy as np

STAT_KEYS = ('min', 'max', 'mean', 'std', 'count')


class ImageStatsAccumulator:
    """Running per-channel sums of (H, W, 3) uint8 frames, in float64 (exact for any length)."""

    def __init__(self) -> None:
        self.n_pixels = 0
        self.n_frames = 0
        self.sum = np.zeros(3, np.float64)
        self.sum_sq = np.zeros(3, np.float64)
        self.min = np.full(3, 255, np.int64)
        self.max = np.zeros(3, np.int64)

    def add(self, frame: np.ndarray) -> None:
        """Account one (H, W, 3) uint8 frame."""
        px = frame.reshape(-1, 3).astype(np.float64)
        self.n_pixels += px.shape[0]
        self.n_frames += 1
        self.sum += px.sum(axis=0)
        self.sum_sq += (px * px).sum(axis=0)
        self.min = np.minimum(self.min, frame.reshape(-1, 3).min(axis=0))
        self.max = np.maximum(self.max, frame.reshape(-1, 3).max(axis=0))

    def stats(self) -> dict[str, np.ndarray]:
        """The episode's statistics in [0, 1], each (3, 1, 1); 'count' = [frames]."""
        mean = self.sum / self.n_pixels
        var = np.maximum(self.sum_sq / self.n_pixels - mean * mean, 0.0)
        return {
            'min': (self.min / 255.0).reshape(3, 1, 1),
            'max': (self.max / 255.0).reshape(3, 1, 1),
            'mean': (mean / 255.0).reshape(3, 1, 1),
            'std': (np.sqrt(var) / 255.0).reshape(3, 1, 1),
            'count': np.array([self.n_frames], np.int64),
        }


def array_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of a (T, ...) array over its first axis (float64 arithmetic)."""
    v = np.asarray(values, dtype=np.float64)
    return {
        'min': v.min(axis=0),
        'max': v.max(axis=0),
        'mean': v.mean(axis=0),
        'std': v.std(axis=0),
        'count': np.array([v.shape[0]], np.int64),
    }


def aggregate(per_episode: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine episodes' statistics of one feature into the dataset's.

    Mean is the count-weighted mean; the variance uses the parallel-axis rule
    (sum_i n_i (std_i^2 + (mean_i - mean)^2) / n), which equals the variance over all frames
    (for images: over all pixels, since every frame of a camera has the same pixel count).
    """
    counts = np.array([float(s['count'][0]) for s in per_episode])
    n = counts.sum()
    w = counts.reshape((-1,) + (1,) * np.ndim(per_episode[0]['mean'])) / n
    means = np.stack([np.asarray(s['mean'], np.float64) for s in per_episode])
    stds = np.stack([np.asarray(s['std'], np.float64) for s in per_episode])
    mean = (w * means).sum(axis=0)
    var = (w * (stds * stds + (means - mean) ** 2)).sum(axis=0)
    return {
        'min': np.min(np.stack([s['min'] for s in per_episode]), axis=0),
        'max': np.max(np.stack([s['max'] for s in per_episode]), axis=0),
        'mean': mean,
        'std': np.sqrt(np.maximum(var, 0.0)),
        'count': np.array([int(n)], np.int64),
    }
