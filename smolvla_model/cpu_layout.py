"""Weight memory layout for fast CPU inference of the action expert.

``nn.Linear`` stores its weight as [out, in] and computes ``x @ W.T``. For the expert's inputs
(50 action tokens per denoising step) the CPU GEMM is about twice as fast when the same matrix is
stored transposed, i.e. as a contiguous [in, out] array viewed as [out, in] (measured with
``scripts/bench_linear_layout.py``; the large-batch GEMMs of the vision tower gain nothing, so
they keep the default layout). Only the memory order changes: the parameter keeps its shape,
name, values and dtype, no copy is kept, and ``save_checkpoint`` writes contiguous tensors, so
checkpoints are unaffected. Results equal the default layout's up to the GEMM's summation order
(about 1e-6 in fp32).
"""

from __future__ import annotations

import torch
from torch import nn


def store_weights_transposed(module: nn.Module) -> int:
    """Give every float ``nn.Linear`` weight inside ``module`` the [in, out] memory order.

    Returns:
        How many weights were re-laid.
    """
    count = 0
    with torch.no_grad():
        for m in module.modules():
            if type(m) is nn.Linear and m.weight.is_floating_point():
                w = m.weight
                if w.dim() == 2 and w.stride() != (1, w.shape[0]):
                    w.data = w.data.t().contiguous().t()
                    count += 1
    return count


def has_transposed_storage(weight: torch.Tensor) -> bool:
    """True when ``weight`` [out, in] is stored column-major (as :func:`store_weights_transposed`
    leaves it)."""
    return weight.dim() == 2 and weight.stride() == (1, weight.shape[0])
