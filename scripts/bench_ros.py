"""Transport benchmarks through real DDS on loopback (publisher and subscriber in separate
processes): camera images (3 x 512x512 rgb8, raw Image vs jpeg CompressedImage) and action
chunks (ActionChunk of 50 x 6).

Latency = receive time (after decoding, as the consumer would) - header stamp, both on the
system clock of this machine. CPU = user + system time of each process (getrusage) over its
publishing / receiving window, as a fraction of one core. Medians over ``--runs`` runs.

The script applies the network rule itself (discovery on this machine only, ROS_DOMAIN_ID 72
unless one is set; ``smolvla_ros.bench.ros_network``), e.g.::

    source scripts/ros_env.sh
    python scripts/bench_ros.py --duration 5 --runs 3 --json bench_ros.json

Executor tick jitter under inference load and the end-to-end throughput of the node graph
against the ROS-free pipeline are scripts/bench_ros_graph.py.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from smolvla_ros.bench.ros_network import localhost_only  # noqa: E402

localhost_only(72)  # before anything imports rclpy; the publisher/subscriber processes inherit it
SLOTS = ('top', 'wrist', 'side')
KINDS = ('raw', 'jpeg', 'chunk')


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _topic(kind: str, slot: str) -> str:
    if kind == 'chunk':
        return 'bench/action_chunk'
    return f'bench/cameras/{slot}/image_raw' + ('/compressed' if kind == 'jpeg' else '')


def _msg_type(kind: str) -> Any:
    from sensor_msgs.msg import CompressedImage, Image

    from smolvla_interfaces.msg import ActionChunk

    return {'raw': Image, 'jpeg': CompressedImage, 'chunk': ActionChunk}[kind]


def _slots(kind: str) -> tuple[str, ...]:
    return ('chunk',) if kind == 'chunk' else SLOTS


def run_pub(kind: str, duration_s: float, rate_hz: float, size: int) -> dict[str, Any]:
    """Publish `kind` at `rate_hz` for `duration_s` once a subscriber matched."""
    import numpy as np
    import rclpy

    from smolvla_ros.nodes import topics
    from smolvla_ros.nodes.conversions import (
        chunk_to_msg,
        rgb_to_compressed_msg,
        rgb_to_image_msg,
    )
    from smolvla_ros.runtime import ActionChunk
    from so_arm_driver.robots import SO101

    rclpy.init()
    node = rclpy.create_node('bench_pub')
    qos = topics.CHUNK_QOS if kind == 'chunk' else topics.SENSOR_QOS
    pubs = [node.create_publisher(_msg_type(kind), _topic(kind, s), qos) for s in _slots(kind)]
    deadline = time.monotonic() + 30.0
    while any(p.get_subscription_count() == 0 for p in pubs) and time.monotonic() < deadline:
        time.sleep(0.01)
    rng = np.random.default_rng(0)
    # A smooth image, not noise: jpeg sizes then resemble a camera's.
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    image = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1).astype(np.uint8)
    actions = rng.uniform(-1, 1, (50, 6))
    period = 1.0 / rate_hz
    sent = 0
    cpu0, t0 = _cpu_s(), time.monotonic()
    next_t = t0
    while time.monotonic() - t0 < duration_s:
        stamp = time.time()
        for slot, pub in zip(_slots(kind), pubs, strict=True):
            if kind == 'raw':
                msg = rgb_to_image_msg(image, 'rgb8', stamp, slot)
            elif kind == 'jpeg':
                msg = rgb_to_compressed_msg(image, 'jpeg', stamp, slot)
            else:
                msg = chunk_to_msg(
                    ActionChunk(SO101.joint_names, actions, stamp, 1 / 30, sent, 0.0, sent)
                )
            pub.publish(msg)
        sent += 1
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))
    wall, cpu = time.monotonic() - t0, _cpu_s() - cpu0
    # Let the last messages leave before the process goes away.
    time.sleep(0.5)
    node.destroy_node()
    rclpy.try_shutdown()
    return {'sent': sent, 'wall_s': wall, 'cpu_s': cpu, 'cpu_fraction': cpu / wall}


def run_sub(kind: str, duration_s: float) -> dict[str, Any]:
    """Receive `kind`, decode each message, record latency; stop `duration_s` after the first."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from smolvla_ros.nodes import topics
    from smolvla_ros.nodes.conversions import (
        chunk_from_msg,
        rgb_from_compressed_msg,
        rgb_from_image_msg,
        time_from_msg,
    )

    rclpy.init()
    node = rclpy.create_node('bench_sub')
    lat: list[float] = []
    first: list[float] = []
    cpu0 = [0.0]
    decode = {'raw': rgb_from_image_msg, 'jpeg': rgb_from_compressed_msg, 'chunk': chunk_from_msg}

    def on_msg(msg: Any) -> None:
        if not first:
            first.append(time.monotonic())
            cpu0[0] = _cpu_s()
        decode[kind](msg)
        lat.append(time.time() - time_from_msg(msg.header.stamp))

    qos = topics.CHUNK_QOS if kind == 'chunk' else topics.SENSOR_QOS
    for s in _slots(kind):
        node.create_subscription(_msg_type(kind), _topic(kind, s), on_msg, qos)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline and (not first or time.monotonic() - first[0] < duration_s):
        ex.spin_once(timeout_sec=0.05)
    wall = time.monotonic() - first[0] if first else 0.0
    cpu = _cpu_s() - cpu0[0]
    node.destroy_node()
    rclpy.try_shutdown()
    lat_ms = sorted(x * 1e3 for x in lat)
    return {
        'received': len(lat),
        'latency_ms_p50': statistics.median(lat_ms) if lat_ms else None,
        'latency_ms_p99': lat_ms[int(0.99 * (len(lat_ms) - 1))] if lat_ms else None,
        'cpu_fraction': cpu / wall if wall > 0 else None,
    }


def _spawn(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO), env.get('PYTHONPATH', '')])
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _json_of(proc: subprocess.Popen, timeout: float) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f'bench process failed ({proc.returncode}): {err[-2000:]}')
    return json.loads(out.strip().splitlines()[-1])


def measure(kind: str, duration_s: float, rate_hz: float, size: int) -> dict[str, Any]:
    """One run of `kind`: subscriber and publisher in their own processes."""
    sub = _spawn(['--role', 'sub', '--kind', kind, '--duration', str(duration_s)])
    pub_args = ['--role', 'pub', '--kind', kind, '--duration', str(duration_s)]
    pub = _spawn([*pub_args, '--rate', str(rate_hz), '--size', str(size)])
    try:
        p = _json_of(pub, duration_s + 90.0)
        s = _json_of(sub, duration_s + 90.0)
    finally:
        for proc in (pub, sub):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return {'pub': p, 'sub': s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--role', choices=('main', 'pub', 'sub'), default='main')
    parser.add_argument('--kind', choices=KINDS, default='raw')
    parser.add_argument('--duration', type=float, default=5.0, help='seconds per run')
    parser.add_argument('--runs', type=int, default=3, help='runs per kind (median taken)')
    parser.add_argument('--image-rate', type=float, default=10.0, help='camera sets per s')
    parser.add_argument('--chunk-rate', type=float, default=10.0, help='chunks per s')
    parser.add_argument('--rate', type=float, default=10.0, help='(pub role) messages per s')
    parser.add_argument('--size', type=int, default=512, help='image side, px')
    parser.add_argument('--json', type=Path, default=None, help='write the results here')
    a = parser.parse_args(argv)
    if a.duration <= 0 or a.runs < 1 or a.size < 16:
        parser.error('--duration must be > 0, --runs >= 1 and --size >= 16')
    if a.role == 'pub':
        print(json.dumps(run_pub(a.kind, a.duration, a.rate, a.size)))
        return 0
    if a.role == 'sub':
        print(json.dumps(run_sub(a.kind, a.duration)))
        return 0
    results: dict[str, Any] = {
        'conditions': {
            'duration_s': a.duration,
            'runs': a.runs,
            'image_size': a.size,
            'image_rate_hz': a.image_rate,
            'chunk_rate_hz': a.chunk_rate,
            'cpu': _cpu_name(),
            'rmw': os.environ.get('RMW_IMPLEMENTATION', 'default (Fast DDS)'),
        }
    }
    for kind in KINDS:
        rate = a.chunk_rate if kind == 'chunk' else a.image_rate
        runs = [measure(kind, a.duration, rate, a.size) for _ in range(a.runs)]

        def med(side: str, key: str, runs: list[dict[str, Any]] = runs) -> float | None:
            vals = [r[side][key] for r in runs if r[side][key] is not None]
            return statistics.median(vals) if vals else None

        results[kind] = {
            'latency_ms_p50': med('sub', 'latency_ms_p50'),
            'latency_ms_p99': med('sub', 'latency_ms_p99'),
            'received': med('sub', 'received'),
            'sent': med('pub', 'sent') * len(_slots(kind)),
            'pub_cpu_fraction': med('pub', 'cpu_fraction'),
            'sub_cpu_fraction': med('sub', 'cpu_fraction'),
            'runs': runs,
        }
        r = results[kind]
        print(
            f'{kind:6s} latency p50 {r["latency_ms_p50"]:.2f} ms, p99 {r["latency_ms_p99"]:.2f} '
            f'ms; received {r["received"]:.0f}/{r["sent"]:.0f}; CPU pub '
            f'{100 * r["pub_cpu_fraction"]:.1f} %, sub {100 * r["sub_cpu_fraction"]:.1f} %'
        )
    if a.json is not None:
        a.json.write_text(json.dumps(results, indent=2))
    return 0


def _cpu_name() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown'


if __name__ == '__main__':
    sys.exit(main())
