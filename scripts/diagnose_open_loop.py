"""Does a trained policy use its cameras? Open-loop predictions against a recorded dataset.

For every ``--stride``-th episode of DATASET, the checkpoint predicts the chunk at frame 0 (the
arm at its start pose: the cube's place is in the images only) and at ``--later-frame`` (the
arm already moving: its state carries the plan), from the recorded images and state, with a
fixed noise seed. Printed per joint, in the dataset's units (degrees; gripper 0..100):

- the policy's mean absolute error against the recorded actions at both frames;
- the error of a policy that ignores the images: the mean first chunk of all episodes;
- how far the first chunk moves when the images of other episodes are fed with episode 0's
  state (a policy that reads the images moves as much as the recorded chunks differ).

A policy whose frame-0 error is no better than the mean chunk has not learned where the cube is.

    python scripts/diagnose_open_loop.py CHECKPOINT DATASET [--stride 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _episode(ds: Any, table: dict[str, np.ndarray], ep: int, keys: list[str]) -> dict[str, Any]:
    idx = np.nonzero(table['episode_index'] == ep)[0]
    return {
        'state': np.stack(table['observation.state'][idx]).astype(np.float32),
        'action': np.stack(table['action'][idx]),
        'frames': {k: ds.episode_frames(k, ep) for k in keys},
    }


def diagnose(
    checkpoint: str, dataset: str, stride: int, later_frame: int, instruction: str
) -> dict[str, Any]:
    """The figures described in the module docstring, as a dict of per-joint lists."""
    import torch

    from smolvla_model.datasets import LeRobotDataset
    from smolvla_model.policy import SmolVLAPolicy

    ds = LeRobotDataset(dataset)
    table = ds.table()
    policy = SmolVLAPolicy.from_pretrained(checkpoint)
    keys = [k for k in policy.model.config.image_keys if k in ds.camera_keys]
    chunk = int(policy.model.config.chunk_size)
    all_eps = sorted(set(int(e) for e in table['episode_index']))
    episodes = [_episode(ds, table, ep, keys) for ep in all_eps[::stride]]
    episodes = [e for e in episodes if len(e['action']) > later_frame]
    if len(episodes) < 2:
        raise SystemExit(f'need 2 episodes longer than {later_frame} frames; got fewer')
    # Chunks past an episode's end are compared on the recorded steps only.
    span = min(chunk, *(len(e['action']) for e in episodes))

    def predict(images: dict[str, np.ndarray], state: np.ndarray) -> np.ndarray:
        batch = {'images': images, 'state': state, 'instruction': instruction}
        out = policy.predict_chunk(batch, generator=torch.Generator().manual_seed(0))
        return np.asarray(out[0], dtype=np.float64)

    def error_at(frame: int) -> np.ndarray:
        errs = []
        for e in episodes:
            recorded = e['action'][frame : frame + chunk]
            pred = predict({k: e['frames'][k][frame] for k in keys}, e['state'][frame])
            errs.append(np.abs(pred[: len(recorded)] - recorded).mean(0))
        return np.mean(errs, axis=0)

    first_chunks = np.stack([e['action'][:span] for e in episodes])
    mean_chunk = first_chunks.mean(0)
    base = episodes[0]
    swapped = np.stack(
        [predict({k: e['frames'][k][0] for k in keys}, base['state'][0])[:span] for e in episodes]
    )
    return {
        'checkpoint': checkpoint,
        'dataset': dataset,
        'episodes': len(episodes),
        'units': 'dataset units (degrees; gripper 0..100)',
        'policy_error_frame0': error_at(0).tolist(),
        f'policy_error_frame{later_frame}': error_at(later_frame).tolist(),
        'mean_chunk_error_frame0': np.abs(first_chunks - mean_chunk).mean((0, 1)).tolist(),
        'recorded_first_chunk_spread': first_chunks.mean(1).std(0).tolist(),
        'predicted_first_chunk_spread_images_swapped': swapped.mean(1).std(0).tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    from smolvla_ros.tasks import SIM_TASK

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('checkpoint')
    p.add_argument('dataset')
    p.add_argument('--stride', type=int, default=20, help='every N-th episode (20)')
    p.add_argument('--later-frame', type=int, default=45, help='the moving-arm frame (45)')
    p.add_argument('--instruction', default=SIM_TASK)
    p.add_argument('--json', type=Path, default=None)
    a = p.parse_args(argv)
    if a.stride < 1 or a.later_frame < 1:
        p.error('--stride and --later-frame must be >= 1')
    from smolvla_model.threads import set_cpu_threads

    set_cpu_threads(1)  # small batches; one thread is the fastest on a shared 2-core host
    r = diagnose(a.checkpoint, a.dataset, a.stride, a.later_frame, a.instruction)
    print(f'{r["episodes"]} episodes; {r["units"]}; per joint')
    for key, value in r.items():
        if isinstance(value, list):
            print(f'  {key:46s} {np.round(value, 2).tolist()}')
    if a.json is not None:
        a.json.write_text(json.dumps(r, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
