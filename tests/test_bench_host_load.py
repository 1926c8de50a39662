"""The benchmark's host-load record, and the latency-free mode's request pattern."""

from __future__ import annotations

import pytest

from smolvla_ros.bench.async_bench import Scenario, run_mode
from smolvla_ros.bench.host_load import CpuSnapshot, parse_proc_stat_cpu_line, usage_between

# Two /proc/stat readings 2 s apart on a 2-core VM (USER_HZ 100), written by hand:
# user +150, nice 0, system +30, idle +100, iowait 0, irq +2, softirq +8, steal +110 ticks.
BEFORE = 'cpu  1000 5 300 9000 10 20 30 400 0 0\ncpu0 500 2 150 4500 5 10 15 200 0 0\n'
AFTER = 'cpu  1150 5 330 9100 10 22 38 510 0 0\ncpu0 575 2 165 4550 5 11 19 255 0 0\n'


def test_parses_the_aggregate_cpu_line_and_rejects_garbage():
    assert parse_proc_stat_cpu_line(BEFORE)[:8] == (1000, 5, 300, 9000, 10, 20, 30, 400)
    with pytest.raises(ValueError, match='cpu'):
        parse_proc_stat_cpu_line('intr 1 2 3\n')


def test_usage_between_splits_steal_other_processes_and_this_one():
    a = CpuSnapshot(10.0, 1.0, parse_proc_stat_cpu_line(BEFORE))
    b = CpuSnapshot(12.0, 1.4, parse_proc_stat_cpu_line(AFTER))
    u = usage_between(a, b, ticks_per_s=100)
    assert u['wall_s'] == pytest.approx(2.0)
    assert u['process_cpu_s'] == pytest.approx(0.4)
    assert u['host_steal_s'] == pytest.approx(1.1)
    # busy = (150 + 0 + 30 + 2 + 8) ticks = 1.9 s on all cores, of which 0.4 s were this process
    assert u['host_busy_other_s'] == pytest.approx(1.5)
    no_host = usage_between(CpuSnapshot(0.0, 0.0, None), b)
    assert no_host['host_steal_s'] is None and no_host['host_busy_other_s'] is None


def test_latency_free_requests_once_per_threshold_crossing_not_every_tick():
    # With zero latency a chunk lands on the tick after its request, holding n - 1 = 49 future
    # actions; the next request is due when the queue falls to g*n = 35, i.e. every 15 ticks
    # (0.5 s at 30 Hz). A request on every tick would be 30 per second.
    r = run_mode(Scenario(), 'latency_free', 30.0, realtime=False)
    m = r['metrics']
    assert m['requests_filtered'] == 0
    assert 900 / 15 - 2 <= m['requests_sent'] <= 900 / 14 + 2
