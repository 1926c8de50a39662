"""Time SmolVLA pre/post-processing on the CPU (a script, not a test).

    python scripts/bench_processing.py [--cameras 3] [--height 480 --width 640] [--size 512]

Builds a checkpoint folder in a temporary directory (the parity fixture's config, resized to
``--size``, with hand-made stats and the fixture's stand-in tokenizer), then reports the median
of ``--repeats`` calls for: one full ``Preprocessor`` call (uint8 HWC frames -> ModelInputs) and
one ``Postprocessor`` call on a [1, 50, 32] chunk. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smolvla_model.processing import load_processors  # noqa: E402

FIXTURE = ROOT / 'tests' / 'fixtures' / 'smolvla_parity'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--cameras', type=int, default=3, choices=(1, 2, 3))
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--size', type=int, default=512, help='model image size (square)')
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    config = json.loads((FIXTURE / 'micro_fp32' / 'config.json').read_text())
    names = [
        'observation.images.camera1',
        'observation.images.camera2',
        'observation.images.camera3',
    ]
    config['input_features'] = {
        **{
            n: {'type': 'VISUAL', 'shape': [3, args.size, args.size]}
            for n in names[: args.cameras]
        },
        'observation.state': {'type': 'STATE', 'shape': [6]},
    }
    config['resize_imgs_with_padding'] = [args.size, args.size]
    stats = {
        'observation.state': {'mean': np.zeros(6), 'std': np.ones(6)},
        'action': {'mean': np.zeros(6), 'std': np.ones(6)},
    }
    rng = np.random.default_rng(0)
    slots = ['top', 'wrist', 'side'][: args.cameras]
    obs = {
        'images': {
            s: rng.integers(0, 256, (args.height, args.width, 3), dtype=np.uint8) for s in slots
        },
        'state': rng.normal(size=6).astype(np.float32),
        'instruction': 'pick up the red cube and place it in the box',
    }
    chunk = torch.randn(1, 50, 32)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / 'config.json').write_text(json.dumps(config))
        pre, post = load_processors(tmp, FIXTURE / 'vlm' / 'smolvlm2-micro', stats=stats)
        timings: dict[str, list[float]] = {'preprocess_ms': [], 'postprocess_ms': []}
        for _ in range(3):  # warm-up
            pre(obs)
            post(chunk)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            pre(obs)
            t1 = time.perf_counter()
            post(chunk)
            t2 = time.perf_counter()
            timings['preprocess_ms'].append((t1 - t0) * 1e3)
            timings['postprocess_ms'].append((t2 - t1) * 1e3)
    result = {
        'cameras': args.cameras,
        'frame_hw': [args.height, args.width],
        'model_size': args.size,
        'threads': args.threads,
        'repeats': args.repeats,
        **{f'{k}_median': round(statistics.median(v), 3) for k, v in timings.items()},
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
