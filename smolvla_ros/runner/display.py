"""The runner's live terminal display (rich): progress, chunk latency, queue fill, clamps,
success so far. Animated only on a terminal; elsewhere (a pipe, a log) the runner prints a
plain summary at the end instead."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

# Redraw at most this often (wall seconds): the tick loop runs far faster than a terminal needs.
REFRESH_S = 0.25


@dataclass
class LiveStats:
    """What the display shows; the runner updates it every tick.

    Attributes:
        episode / episodes: the current episode (1-based) and how many run.
        time_s / duration_s: run time of the episode and its length, simulated seconds.
        state: the executor's state ('tracking', 'starved', ...).
        queue: queued actions; queue_capacity: actions per chunk (for the fill fraction).
        chunks: chunks delivered; last_latency_s: the last chunk's latency, seconds.
        clamps: safety clamps so far (all kinds and joints).
        successes: episodes that ended with the cube in the bin.
        lifted: the cube has been lifted in this episode.
    """

    episode: int = 1
    episodes: int = 1
    time_s: float = 0.0
    duration_s: float = 1.0
    state: str = 'startup'
    queue: int = 0
    queue_capacity: int = 1
    chunks: int = 0
    last_latency_s: float = float('nan')
    clamps: int = 0
    successes: int = 0
    lifted: bool = False


class Display:
    """A rich ``Live`` panel over :class:`LiveStats` (or nothing when ``enabled`` is False).

    Args:
        console: the rich Console to draw on.
        enabled: draw live (the runner passes ``console.is_terminal`` and the user's choice).
        title: the panel's title (policy and instruction); banner: shown in red when set.
    """

    def __init__(self, console: Any, enabled: bool, title: str, banner: str = '') -> None:
        self.console = console
        self.enabled = enabled
        self.title = title
        self.banner = banner
        self.stats = LiveStats()
        self._live: Any = None
        self._last = 0.0

    def _render(self) -> Any:
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        s = self.stats
        table = Table.grid(padding=(0, 2))
        table.add_column(justify='right', style='bold')
        table.add_column()
        frac = min(1.0, s.time_s / s.duration_s) if s.duration_s > 0 else 1.0
        table.add_row(
            f'episode {s.episode}/{s.episodes}',
            ProgressBar(total=1.0, completed=frac, width=40),
        )
        table.add_row('time', f'{s.time_s:6.1f} / {s.duration_s:.1f} s (simulated)')
        table.add_row('executor', s.state)
        fill = s.queue / max(1, s.queue_capacity)
        table.add_row('queue', f'{s.queue:4d} actions ({100 * fill:3.0f} % of a chunk)')
        lat = '-' if math.isnan(s.last_latency_s) else f'{s.last_latency_s:.3f} s'
        table.add_row('chunks', f'{s.chunks} (last latency {lat})')
        table.add_row('clamps', str(s.clamps))
        table.add_row(
            'success',
            f'{s.successes}/{s.episode - 1} episodes' + ('; cube lifted' if s.lifted else ''),
        )
        if self.banner:
            table.add_row('[red]WARNING', f'[red]{self.banner}')
        return Panel(table, title=self.title)

    def start(self) -> None:
        """Start drawing (no-op when disabled)."""
        if self.enabled and self._live is None:
            from rich.live import Live

            self._live = Live(
                self._render(), console=self.console, refresh_per_second=4, transient=False
            )
            self._live.start()

    def update(self, force: bool = False) -> None:
        """Redraw from ``self.stats`` (at most every REFRESH_S seconds unless ``force``)."""
        if self._live is None:
            return
        now = time.monotonic()
        if force or now - self._last >= REFRESH_S:
            self._last = now
            self._live.update(self._render())

    def stop(self) -> None:
        """Draw the final state and stop. Idempotent."""
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None


__all__ = ['Display', 'LiveStats']
