"""Cost of one executor tick against the length of the queued chunk (prints a table).

For each chunk length n, a fresh executor on simulated time receives one chunk of n actions
(the length bound is raised to allow it) and ticks 200 times at 30 Hz; the script reports the
median time of the merge tick over repeats and the median of the ordinary ticks after it.

Usage: PYTHONPATH=. python scripts/bench_tick_cost.py [n ...]
"""

from __future__ import annotations

import logging
import platform
import statistics
import sys
import time

import numpy as np

from smolvla_ros.runtime import ActionChunk, ChunkExecutor, RuntimeConfig, SafetyConfig, SimClock
from so_arm_driver.robots import JOINT_NAMES

DT = 1.0 / 30.0


def measure(n: int, ticks: int = 200, repeats: int = 3) -> tuple[float, float]:
    """(median merge-tick time, median ordinary-tick time), seconds, for a chunk of n actions."""
    merge_times: list[float] = []
    tick_times: list[float] = []
    j = len(JOINT_NAMES)
    actions = np.linspace(0.0, 0.5, n)[:, None] * np.ones(j)
    for _ in range(repeats):
        clock = SimClock()
        config = RuntimeConfig(
            max_chunk_length=max(n, 1),
            history_len=ticks + 10,
            # no watchdog hold and no re-request: every tick follows the queued chunk
            request_timeout_s=1e6,
            safety=SafetyConfig.from_robot('so101', watchdog_timeout_s=1e6),
        )
        ex = ChunkExecutor(config, lambda _s: None, clock)
        q = ex.tick(np.zeros(j)).command_rad
        ex.submit_chunk(ActionChunk(JOINT_NAMES, actions, clock.now(), DT))
        for k in range(ticks):
            clock.advance(DT)
            t0 = time.perf_counter()
            q = ex.tick(q).command_rad
            elapsed = time.perf_counter() - t0
            (merge_times if k == 0 else tick_times).append(elapsed)
    return statistics.median(merge_times), statistics.median(tick_times)


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str]) -> None:
    logging.disable(logging.WARNING)  # the watchdog and request logs are not the subject here
    sizes = [int(a) for a in argv] or [50, 1_000, 10_000, 100_000]
    print(f'CPU: {_cpu_name()}; Python {platform.python_version()}; numpy {np.__version__}')
    print(f'{"n":>8} {"merge tick ms":>14} {"other tick ms":>14}')
    for n in sizes:
        merge_s, tick_s = measure(n)
        print(f'{n:>8} {1e3 * merge_s:>14.3f} {1e3 * tick_s:>14.3f}')


if __name__ == '__main__':
    main(sys.argv[1:])
