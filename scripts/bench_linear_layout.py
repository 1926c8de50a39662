"""Time every linear-layer shape of the full-size SmolVLA in both weight layouts (a script).

    python scripts/bench_linear_layout.py [--cameras 3] [--prefix 241] [--repeats 30] [--json P]

For each (tokens M, in K, out N) the model runs on the CPU: the vision tower (M = cameras x 1024
patches at 512x512), the VLM prefix layers (M = prefix length) and the action expert (M = 50
action tokens), it reports the median time of ``F.linear`` with the default [out, in] weight
and with the same weight stored transposed (``smolvla_model.cpu_layout``), and the speed-up.
This is the measurement behind which modules ``build_model``/``load_model`` re-lay.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def _median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def shapes(cameras: int, prefix: int) -> list[tuple[str, int, int, int]]:
    """(part, M, K, N) of SmolVLA's linears: SigLIP-512 tower, SmolLM2 text layers, expert."""
    vis, txt, exp = 768, 960, 720
    kv = 320  # 5 KV heads x 64
    return [
        *(('vision', cameras * 1024, k, n) for k, n in ((vis, vis), (vis, 3072), (3072, vis))),
        *(('prefix', prefix, k, n) for k, n in ((txt, txt), (txt, kv), (txt, 2560), (2560, txt))),
        *(
            ('expert', 50, k, n)
            for k, n in ((exp, txt), (exp, kv), (txt, exp), (exp, 2048), (2048, exp))
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cameras', type=int, default=3)
    parser.add_argument('--prefix', type=int, default=241)
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--json', type=Path, default=None)
    args = parser.parse_args(argv)
    g = torch.Generator().manual_seed(0)
    rows = []
    print(f'{"part":7s} {"M":>5s} {"K":>5s} {"N":>5s} {"default ms":>11s} {"transposed":>11s}  x')
    for part, m, k, n in shapes(args.cameras, args.prefix):
        x = torch.randn(m, k, generator=g)
        w = torch.randn(n, k, generator=g) * 0.02
        wt = w.t().contiguous().t()
        reps = max(5, args.repeats // 4) if m > 1000 else args.repeats
        a = _median_ms(lambda x=x, w=w: F.linear(x, w), reps)
        b = _median_ms(lambda x=x, wt=wt: F.linear(x, wt), reps)
        rows.append({'part': part, 'M': m, 'K': k, 'N': n, 'default_ms': a, 'transposed_ms': b})
        print(f'{part:7s} {m:5d} {k:5d} {n:5d} {a:11.3f} {b:11.3f}  {a / b:.2f}', flush=True)
    if args.json:
        args.json.write_text(json.dumps({'threads': torch.get_num_threads(), 'rows': rows}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
