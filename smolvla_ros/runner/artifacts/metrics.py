"""The run's ``metrics.json``, written atomically (a temporary file, then a rename)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

# Top-level fields every metrics.json has (tests and tools rely on them).
METRICS_FIELDS: tuple[str, ...] = (
    'format',
    'banner',
    'interrupted',
    'exit_code',
    'options',
    'policy',
    'episodes',
    'success_rate',
    'sim_time_s',
    'wall_time_s',
    'latency_s',
    'queue',
    'executor',
    'worker',
    'arm',
    'artifacts',
)
METRICS_FORMAT = 'smolvla-run-metrics/1'


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; "not measured" reads as null
    if isinstance(value, Path):
        return str(value)
    return value


def stats_s(values: list[float]) -> dict[str, float | int | None]:
    """count, mean, median, p95, max of ``values`` (seconds; None when empty)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return {'count': 0, 'mean': None, 'median': None, 'p95': None, 'max': None}
    return {
        'count': int(a.size),
        'mean': float(a.mean()),
        'median': float(np.median(a)),
        'p95': float(np.percentile(a, 95)),
        'max': float(a.max()),
    }


def write_metrics(path: Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``metrics`` as JSON to ``path`` atomically; NaN/inf become null.

    Raises:
        ValueError: a field of :data:`METRICS_FIELDS` is missing (nothing is written).
    """
    missing = [f for f in METRICS_FIELDS if f not in metrics]
    if missing:
        raise ValueError(f'metrics lack the field(s) {missing}; nothing written')
    return write_json(path, metrics)


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically (a temporary file in the same
    folder, then a rename: a reader never sees half a file); NaN/inf become null, numpy values
    and paths plain JSON.

    Raises:
        OSError: the folder cannot be written (nothing is left behind).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix='.metrics-', suffix='.json', dir=path.parent)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(_jsonable(dict(data)), f, indent=2, allow_nan=False)
            f.write('\n')
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a run's files are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = ['METRICS_FIELDS', 'METRICS_FORMAT', 'stats_s', 'write_json', 'write_metrics']
