"""How many CPU threads torch uses for inference in this process.

torch runs each operator on as many threads as there are cores. That is fastest on an idle
machine and a trap on a small busy one: every parallel operator waits for its slowest thread, so
when another process holds one of two cores the model stalls. Measured here on a 2-core AMD EPYC
with the shipped checkpoint: in the node graph (sim_node rendering beside the policy,
``scripts/bench_policy_threads.py``) 0.456 s per chunk with torch's default of 2 threads and
0.180 s with 1; beside a training process at raised priority, 5.11 s and 0.070 s
(``smolvla-eval``). ``smolvla-run --num-threads``, ``smolvla-eval
--num-threads`` and the policy node's ``num_threads`` parameter come here.

torch keeps the count per thread: a thread takes the process value at its first parallel
operation and keeps it. So this is called when the policy is loaded, before the thread that
will run inference (the policy worker's, the pipeline's) starts.
"""

from __future__ import annotations


def set_cpu_threads(num_threads: int | None) -> int:
    """Set torch's intra-op CPU thread count for this process; return the count now in use.

    Args:
        num_threads: threads (>= 1); None or 0 leaves torch's choice (one per core).

    Raises:
        ValueError: ``num_threads`` is not an integer >= 0.
    """
    import torch

    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0
    ):
        raise ValueError(
            f'num_threads must be an integer >= 1 (0 or unset: one per core), got {num_threads!r}'
        )
    if num_threads:
        torch.set_num_threads(num_threads)
    return torch.get_num_threads()
