"""The run's PNG plots (matplotlib, Agg backend: no display needed).

- ``queue.png``: the executor's queue length (actions) over the run's time, seconds.
- ``latency.png``: histogram of the chunk latencies, seconds.
- ``joints.png``: commanded and measured position per joint over time, radians (one panel per
  joint, two columns).

Every figure is :data:`FIG_SIZE_IN` inches at :data:`DPI`, so each PNG is exactly
``PNG_SIZE_PX`` pixels (width, height).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

FIG_SIZE_IN = (8.0, 4.5)
DPI = 100
PNG_SIZE_PX = (800, 450)


def _figure(title: str, banner: str, nrows: int = 1, ncols: int = 1):
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=FIG_SIZE_IN, dpi=DPI, squeeze=False)
    fig.suptitle(title + (f'\n{banner}' if banner else ''), fontsize=9)
    return fig, axes


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    # No bbox_inches='tight': the PNG keeps the figure's exact pixel size.
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_queue(path: Path, times_s: np.ndarray, queue: np.ndarray, banner: str = '') -> Path:
    """Queue length (actions) against time (s)."""
    fig, ax = _figure('Executor queue', banner)
    ax = ax[0, 0]
    ax.step(times_s, queue, where='post', lw=1)
    ax.set_xlabel('time [s]')
    ax.set_ylabel('queued actions')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_latency(path: Path, latencies_s: Sequence[float], banner: str = '') -> Path:
    """Histogram of chunk latencies (s); an empty run says so in the plot."""
    fig, ax = _figure('Chunk latency', banner)
    ax = ax[0, 0]
    lat = np.asarray(latencies_s, dtype=np.float64)
    if lat.size:
        ax.hist(lat, bins=min(30, max(5, lat.size)))
        ax.axvline(float(np.median(lat)), color='k', ls='--', lw=1, label='median')
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, 'no chunk was produced', ha='center', va='center')
    ax.set_xlabel('latency [s]')
    ax.set_ylabel('chunks')
    fig.tight_layout()
    return _save(fig, path)


def plot_joints(
    path: Path,
    times_s: np.ndarray,
    *,
    commanded_rad: np.ndarray,
    measured_rad: np.ndarray,
    joint_names: Sequence[str],
    banner: str = '',
) -> Path:
    """Commanded vs measured position per joint (rad) against time (s)."""
    n = len(joint_names)
    rows = max(1, -(-n // 2))
    fig, axes = _figure('Commanded vs measured joints [rad]', banner, rows, 2)
    for j in range(rows * 2):
        ax = axes[j // 2, j % 2]
        if j >= n:
            ax.axis('off')
            continue
        if len(times_s):
            ax.plot(times_s, commanded_rad[:, j], lw=1, label='commanded')
            ax.plot(times_s, measured_rad[:, j], lw=1, ls='--', label='measured')
        ax.set_title(joint_names[j], fontsize=8)
        if j >= n - 2:
            ax.set_xlabel('time [s]', fontsize=7)
        ax.tick_params(labelsize=7)
        if j == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


__all__ = ['DPI', 'FIG_SIZE_IN', 'PNG_SIZE_PX', 'plot_joints', 'plot_latency', 'plot_queue']
