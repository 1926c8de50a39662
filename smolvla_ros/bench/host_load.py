"""What the host did to the benchmark while it ran: this process's CPU time and, on Linux, the
CPU time the hypervisor stole from the VM and the time other processes kept the cores busy.

Tick jitter on a shared VM is dominated by whole-process stalls the benchmark cannot cause or
prevent (README, "MuJoCo arm"); recording steal time next to each mode's jitter shows whether a
bad tail came from the loop or from the host.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path('/proc/stat')


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU counters at one instant.

    Attributes:
        wall_s: monotonic time, seconds.
        process_cpu_s: CPU time of this process (all threads), seconds.
        host_jiffies: the aggregate ``cpu`` line of /proc/stat (user, nice, system, idle,
            iowait, irq, softirq, steal, ...) in clock ticks; None where it cannot be read.
    """

    wall_s: float
    process_cpu_s: float
    host_jiffies: tuple[int, ...] | None


def parse_proc_stat_cpu_line(text: str) -> tuple[int, ...]:
    """The counters of the aggregate ``cpu`` line of /proc/stat text, clock ticks.

    Raises:
        ValueError: no ``cpu`` line with at least 8 counters (user .. steal).
    """
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == 'cpu':
            values = tuple(int(v) for v in fields[1:])
            if len(values) >= 8:
                return values
    raise ValueError('no aggregate "cpu" line with at least 8 counters in /proc/stat text')


def snapshot() -> CpuSnapshot:
    """Read the counters now (host ones only where /proc/stat exists)."""
    try:
        host: tuple[int, ...] | None = parse_proc_stat_cpu_line(PROC_STAT.read_text())
    except (OSError, ValueError):
        host = None
    return CpuSnapshot(time.monotonic(), time.process_time(), host)


def usage_between(
    a: CpuSnapshot, b: CpuSnapshot, ticks_per_s: float | None = None
) -> dict[str, float | None]:
    """CPU use from ``a`` to ``b``, seconds: this process, stolen by the hypervisor (summed over
    cores) and busy outside this process (user + nice + system + irq + softirq on every core,
    minus this process). Host figures are None where /proc/stat was not readable.

    Args:
        ticks_per_s: clock ticks per second of /proc/stat (default: the system's USER_HZ).
    """
    out: dict[str, float | None] = {
        'wall_s': b.wall_s - a.wall_s,
        'process_cpu_s': b.process_cpu_s - a.process_cpu_s,
        'host_steal_s': None,
        'host_busy_other_s': None,
    }
    if a.host_jiffies is None or b.host_jiffies is None:
        return out
    hz = ticks_per_s or float(os.sysconf('SC_CLK_TCK'))
    d = [(y - x) / hz for x, y in zip(a.host_jiffies, b.host_jiffies, strict=False)]
    user, nice, system, _idle, _iowait, irq, softirq, steal = d[:8]
    out['host_steal_s'] = steal
    out['host_busy_other_s'] = max(
        0.0, user + nice + system + irq + softirq - out['process_cpu_s']
    )
    return out
