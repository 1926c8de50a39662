"""The model benchmark's helpers (the full-size run itself is a script, not a test)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from smolvla_model.bench import cpu_kernel_split, main


def test_kernel_split_puts_products_attention_and_the_rest_apart():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 256, generator=g), torch.randn(256, 256, generator=g)
    q = torch.randn(1, 4, 128, 32, generator=g)

    def work():
        c = torch.mm(a, b)
        F.scaled_dot_product_attention(q, q, q)
        torch.tanh(c).exp().sum()

    split = cpu_kernel_split(work)
    assert split['gemm_ms'] > 0 and split['attention_ms'] > 0 and split['other_ms'] > 0
    assert split['gemm_gflops_per_s'] is not None and split['gemm_gflops_per_s'] > 0
    assert split['gemm_gflop'] == pytest.approx(2 * 256**3 / 1e9)  # the one 256^3 product


def test_kernel_split_gives_no_rate_when_int8_products_are_not_counted():
    from torch.ao.quantization import quantize_dynamic

    lin = quantize_dynamic(nn.Sequential(nn.Linear(256, 256)), {nn.Linear}, dtype=torch.qint8)
    x = torch.randn(64, 256)
    with torch.no_grad():
        split = cpu_kernel_split(lambda: lin(x))
    assert split['gemm_ms'] > 0
    assert split['gemm_gflops_per_s'] is None and split['gemm_gflop'] is None


def test_fewer_than_five_repeats_are_refused():
    with pytest.raises(SystemExit) as e:
        main(['--repeats', '3'])
    assert e.value.code == 2


def test_kernel_split_over_repeats_profiles_each_run_and_keeps_one():
    calls = []
    a = torch.randn(64, 64)

    def work():
        calls.append(1)
        torch.mm(a, a)

    split = cpu_kernel_split(work, repeats=3)
    assert len(calls) == 3
    assert split['gemm_gflop'] == pytest.approx(2 * 64**3 / 1e9)  # one run's products, not three


def test_machine_reference_kernels_report_finite_positive_figures():
    import math

    from smolvla_model.bench import sgemm_gflops_per_s, vision_attention_layer_ms

    for value in (sgemm_gflops_per_s(repeats=2), vision_attention_layer_ms(repeats=2)):
        assert math.isfinite(value) and value > 0
