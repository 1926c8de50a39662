"""``python -m smolvla_model.bench``: latency and memory of the full-size SmolVLA (450M params).

Builds the architecture from the built-in SmolVLM2-500M config (nothing is downloaded) with
random weights, warms up, then times ``--repeats`` chunk predictions (median reported) and a
breakdown: vision per camera, the prefix pass (VLM layers filling the KV cache) and one
denoising step. Prints a table and optionally writes JSON. Numbers, not a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from smolvla_model.batch import ModelInputs


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize()


def _timed(fn, device: torch.device, repeats: int) -> tuple[list[float], object]:
    out = None
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times, out


# Kernels that any implementation of this network must run: the matrix products (MKL, oneDNN,
# fbgemm) and the fused attention. Everything else is element-wise work and glue. The split shows
# how far a chunk is from what the libraries' kernels alone would take on this machine.
_GEMM_OPS = frozenset(
    {
        'aten::mm',
        'aten::addmm',
        'aten::bmm',
        'aten::mkldnn_convolution',
        'quantized::linear_dynamic',
    }
)
_ATTENTION_OPS = frozenset({'aten::_scaled_dot_product_flash_attention_for_cpu'})


def cpu_kernel_split(fn, repeats: int = 1) -> dict[str, float | None]:
    """Run ``fn`` under the CPU profiler; self time (ms) in GEMMs, attention and the rest.

    Also the GEMMs' achieved rate (GFLOP/s) from the FLOPs the profiler counts for float matrix
    products; None where uncounted products (int8) take more than a tenth of the GEMM time.
    With ``repeats`` > 1, the run with the median total is returned (one consistent run).
    """
    runs = sorted((_profiled_split(fn) for _ in range(repeats)), key=_split_total)
    return runs[len(runs) // 2]


def _split_total(split: dict[str, float | None]) -> float:
    return split['gemm_ms'] + split['attention_ms'] + split['other_ms']  # type: ignore[operator]


def _profiled_split(fn) -> dict[str, float | None]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    ms = {'gemm': 0.0, 'attention': 0.0, 'other': 0.0}
    flops, counted_ms = 0, 0.0
    for ev in prof.key_averages():
        kind = (
            'gemm' if ev.key in _GEMM_OPS else 'attention' if ev.key in _ATTENTION_OPS else 'other'
        )
        ms[kind] += ev.self_cpu_time_total / 1000.0  # the profiler reports microseconds
        if kind == 'gemm' and ev.flops:
            flops += ev.flops
            counted_ms += ev.self_cpu_time_total / 1000.0
    # A rate only when the counted products are (nearly) all of the GEMM time; in the int8 mode
    # they are just the few float projections, and their rate would say nothing.
    rate = flops / counted_ms / 1e6 if counted_ms >= 0.9 * ms['gemm'] > 0 else None
    return {
        'gemm_ms': ms['gemm'],
        'attention_ms': ms['attention'],
        'other_ms': ms['other'],
        'gemm_gflops_per_s': rate,
        'gemm_gflop': flops / 1e9 if rate else None,
    }


def _best_cpu_ms(fn, repeats: int) -> float:
    """Best of ``repeats`` timed calls after one warm-up call."""
    fn()
    times, _ = _timed(fn, torch.device('cpu'), repeats)
    return min(times)


def sgemm_gflops_per_s(repeats: int = 10) -> float:
    """Best fp32 GEMM rate of this machine at the vision MLP's shape (1024x768 @ 768x3072)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1024, 768, generator=g), torch.randn(768, 3072, generator=g)
    return 2 * 1024 * 768 * 3072 / (_best_cpu_ms(lambda: torch.mm(a, b), repeats) / 1e3) / 1e9


def vision_attention_layer_ms(repeats: int = 10) -> float:
    """Best time (ms) of the fused attention kernel at a vision layer's shape (12 x 1024 x 64)."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 12, 1024, 64, generator=g) for _ in range(3))
    return _best_cpu_ms(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), repeats)


def run_bench(
    cameras: int, device: str, precision: str, repeats: int, size: int, *, cuda_graph: bool = True
) -> dict:
    """Build, warm up and time; returns the JSON-ready result dict.

    On CUDA with ``cuda_graph`` the headline chunk latency is the captured graph's replay
    (``smolvla_model.cuda_graph``); the eager latency and the stage breakdown are eager timings.
    """
    from smolvla_model.config import SmolVLAConfig, smolvlm2_500m_backbone_dict
    from smolvla_model.hub import backbone_config_from_dict
    from smolvla_model.loading import build_model

    dev = torch.device(device)
    features = {
        f'observation.images.camera{i + 1}': {'type': 'VISUAL', 'shape': [3, size, size]}
        for i in range(cameras)
    }
    features['observation.state'] = {'type': 'STATE', 'shape': [6]}
    config = SmolVLAConfig(
        input_features=features,
        output_features={'action': {'type': 'ACTION', 'shape': [6]}},
        resize_imgs_with_padding=(size, size),
        load_vlm_weights=True,
        pad_language_to='max_length',
    )
    backbone = backbone_config_from_dict(smolvlm2_500m_backbone_dict())
    t0 = time.perf_counter()
    model = build_model(config, backbone, precision, dev, materialize_lm_head=False)
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    n_params += _quantized_params(model)
    g = torch.Generator().manual_seed(0)
    B, L = 1, config.tokenizer_max_length
    inputs = ModelInputs(
        images=[torch.rand(B, 3, size, size, generator=g) * 2 - 1 for _ in range(cameras)],
        image_masks=[torch.ones(B, dtype=torch.bool) for _ in range(cameras)],
        state=torch.randn(B, config.max_state_dim, generator=g),
        lang_tokens=torch.randint(0, 49000, (B, L), generator=g),
        lang_masks=torch.arange(L)[None] < 12,
    ).to(dev)
    noise = torch.randn(B, config.chunk_size, config.max_action_dim, generator=g).to(dev)
    fm = model.model
    with torch.no_grad():
        model.sample_actions(inputs, noise=noise)  # warm-up
        chunk_ms, actions = _timed(lambda: model.sample_actions(inputs, noise=noise), dev, repeats)
        eager_ms, graph_vs_eager = None, None
        if dev.type == 'cuda' and cuda_graph:
            from smolvla_model.cuda_graph import CudaGraphSampler

            sampler = CudaGraphSampler(model, inputs)
            sampler(inputs, noise=noise)
            eager_ms = chunk_ms
            chunk_ms, graph_actions = _timed(lambda: sampler(inputs, noise=noise), dev, repeats)
            graph_vs_eager = float((graph_actions - actions).abs().max())
            del sampler
        vision_ms, _ = _timed(lambda: fm.vlm_with_expert.embed_images(inputs.images[0]), dev, 3)
        prefix, pad, flags = fm.embed_prefix(inputs)
        prefix_ms, cache = _timed(
            lambda: fm.vlm_with_expert.fill_prefix_cache(prefix, pad, flags), dev, 3
        )
        t = torch.ones(B, device=dev)
        fm.velocity(noise, t, cache)  # fills the memoised cross-attention K/V
        step_ms, _ = _timed(lambda: fm.velocity(noise, t, cache), dev, 5)
        peak_rss = _peak_rss_mb()  # before the profiler and any fp32 comparison model
        split, sgemm, attention_layer = None, None, None
        if dev.type == 'cpu':
            split = cpu_kernel_split(lambda: model.sample_actions(inputs, noise=noise), 3)
            sgemm = sgemm_gflops_per_s()
            attention_layer = vision_attention_layer_ms()
        peak_cuda = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == 'cuda' else None
        deviation = None
        if precision != 'fp32':
            del model, fm, cache
            exact = build_model(config, backbone, 'fp32', dev, materialize_lm_head=False)
            ref = exact.sample_actions(inputs, noise=noise)
            deviation = float((ref - actions).abs().max())
    return {
        'chunk_latency_ms_median': statistics.median(chunk_ms),
        'chunk_latency_ms_all': chunk_ms,
        'cuda_graph': eager_ms is not None,
        'chunk_latency_ms_eager_median': statistics.median(eager_ms) if eager_ms else None,
        'max_abs_graph_vs_eager': graph_vs_eager,
        'vision_ms_per_camera': statistics.median(vision_ms),
        'prefix_ms': statistics.median(prefix_ms),
        'denoise_step_ms': statistics.median(step_ms),
        'num_steps': config.num_steps,
        'cameras': cameras,
        'image_size': size,
        'peak_rss_mb': peak_rss,
        'peak_cuda_allocated_mb': peak_cuda,
        'parameters': n_params,
        'device': str(dev) if dev.type == 'cpu' else torch.cuda.get_device_name(dev),
        'precision': precision,
        'threads': torch.get_num_threads(),
        'build_s': build_s,
        'max_abs_deviation_from_fp32': deviation,
        'cpu_kernel_split_ms': split,  # median of 3 profiled chunks (profiler overhead: 'other')
        'sgemm_gflops_per_s': sgemm,
        'vision_attention_layer_ms_best': attention_layer,
        'torch': torch.__version__,
    }


def _quantized_params(model: torch.nn.Module) -> int:
    """Weights of dynamically quantized linears are not parameters; count them too."""
    total = 0
    for m in model.modules():
        if m.__class__.__name__ == 'Linear' and m.__module__.startswith('torch.ao.nn.quantized'):
            w = m.weight()
            total += w.numel() + (m.bias().numel() if m.bias() is not None else 0)
    return total


def _check_arguments(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, in one line naming the option; None when usable."""
    import os

    from smolvla_model.errors import ConfigError
    from smolvla_model.loading import check_precision

    try:
        device = torch.device(args.device)
    except (RuntimeError, ValueError) as e:
        return f'--device {args.device!r}: not a torch device ({e}); use cpu or cuda'
    if device.type == 'cuda' and not torch.cuda.is_available():
        return f'--device {args.device}: torch sees no CUDA device; use --device cpu'
    try:
        check_precision(args.precision, device)
    except ConfigError as e:
        return f'--precision {args.precision}: {e}'
    # SmolVLM's pixel shuffle needs a square grid of 16-pixel patches divisible by 4 per side.
    if not (64 <= args.image_size <= 4096 and args.image_size % 64 == 0):
        return f'--image-size {args.image_size}: must be a multiple of 64 in [64, 4096] (512)'
    if args.json is not None:
        folder = args.json.parent
        if args.json.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
            return f'--json {args.json}: cannot write a file there (is {folder} a folder?)'
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m smolvla_model.bench', description=__doc__)
    parser.add_argument('--cameras', type=int, choices=(1, 2, 3), default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precision', default='fp32')
    parser.add_argument('--repeats', type=int, default=5, help='timed chunks (>= 5)')
    parser.add_argument('--image-size', type=int, default=512)
    parser.add_argument('--json', type=Path, default=None)
    parser.add_argument(
        '--no-cuda-graph',
        action='store_true',
        help='on CUDA, time eager sample_actions only (default: also a captured CUDA graph)',
    )
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error('--repeats must be >= 5 (the median of at least 5 chunks is reported)')
    problem = _check_arguments(args)
    if problem is not None:  # before the minutes of building and timing
        print(f'error: {problem}', file=sys.stderr)
        return 2
    result = run_bench(
        args.cameras,
        args.device,
        args.precision,
        args.repeats,
        args.image_size,
        cuda_graph=not args.no_cuda_graph,
    )
    rows = [
        ('device / precision', f'{result["device"]} / {result["precision"]}'),
        ('parameters', f'{result["parameters"]:,}'),
        ('cameras x size', f'{result["cameras"]} x {result["image_size"]}'),
        ('chunk latency (median)', f'{result["chunk_latency_ms_median"]:.2f} ms'),
        ('vision per camera', f'{result["vision_ms_per_camera"]:.1f} ms'),
        ('prefix pass', f'{result["prefix_ms"]:.1f} ms'),
        ('denoise step', f'{result["denoise_step_ms"]:.1f} ms x {result["num_steps"]}'),
        ('peak RSS', f'{result["peak_rss_mb"]:.0f} MiB'),
    ]
    if result['peak_cuda_allocated_mb'] is not None:
        rows.append(('peak GPU allocated', f'{result["peak_cuda_allocated_mb"]:.0f} MiB'))
    if result['cuda_graph']:
        rows[3] = ('chunk (CUDA graph)', rows[3][1])
        rows.insert(4, ('chunk (eager)', f'{result["chunk_latency_ms_eager_median"]:.2f} ms'))
        rows.append(('max |graph - eager|', f'{result["max_abs_graph_vs_eager"]:.3e}'))
    split = result['cpu_kernel_split_ms']
    if split is not None:
        rate = split['gemm_gflops_per_s']
        rows.append(
            (
                'profiled chunk split',
                f'GEMM {split["gemm_ms"]:.0f} ms'
                + (f' at {rate:.0f} GFLOP/s' if rate else '')
                + f', attention {split["attention_ms"]:.0f} ms, other {split["other_ms"]:.0f} ms',
            )
        )
        rows.append(('machine sgemm (best)', f'{result["sgemm_gflops_per_s"]:.0f} GFLOP/s'))
        rows.append(
            ('vision attention layer', f'{result["vision_attention_layer_ms_best"]:.1f} ms (best)')
        )
    if result['max_abs_deviation_from_fp32'] is not None:
        rows.append(('max |a - a_fp32|', f'{result["max_abs_deviation_from_fp32"]:.3e}'))
    for k, v in rows:
        print(f'{k:24s} {v}')
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
