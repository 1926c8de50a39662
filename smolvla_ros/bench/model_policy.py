"""``smolvla-bench async --policy smolvla``: the real SmolVLA architecture sets the latency.

Latency from the real model; actions from the oracle, since a random model's actions mean
nothing. :class:`ModelLatencyPolicy` runs a SmolVLA forward pass (pre-processing, the VLM prefix,
the flow-matching steps, post-processing) on each request's camera frames and joint state, times
it, throws its actions away and returns the oracle's plan for the same observation. It goes
through the same :class:`~smolvla_ros.policy.worker.PolicyWorker` as every policy, so the
executor sees chunks arriving exactly as late as the model makes them.

The model is either a checkpoint (``--checkpoint``) or a random-initialised SmolVLA built here
at one of :data:`MODEL_SIZES` (nothing is downloaded):

======  =====================================================================================
size    architecture
======  =====================================================================================
tiny    the parity fixture's micro layout: text width 64, 4 of 8 layers kept, vision width 32
        with 2 layers, 64x64 images (4 tokens each); about 0.5 M parameters
small   text width 384 (6 heads, 2 KV heads), 8 of 16 layers kept, vision width 384 with 6
        layers, 256x256 images (16 tokens each); about 35 M parameters
full    smolvla_base's layout (450 M parameters; 403 M materialised, the unused lm_head is
        skipped): SmolVLM2-500M, 16 of 32 text layers, the 12-layer vision tower, 512x512
        images (64 tokens each)
======  =====================================================================================

All sizes: three cameras (top, wrist, side), 6 joints in radians, 10 Euler steps, the language
padded to its 48-token budget (as ``smolvla_model.bench`` does, so the cost does not depend on
the instruction). The instruction goes through a byte-level stand-in tokenizer built here (the
SmolVLM2 tokenizer cannot be downloaded); with fixed-length padding it changes token ids, not
the amount of work.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from smolvla_ros.frames.errors import FrameSourceClosedError
from smolvla_ros.frames.frame import Frame
from smolvla_ros.frames.source import SourceBase
from smolvla_ros.policy.protocol import Policy, PolicyInput

MODEL_SIZES: tuple[str, ...] = ('tiny', 'small', 'full')
# What the benchmark says wherever it shows figures from this mode.
LATENCY_NOTE = (
    "latency from the real model; actions from the oracle, since a random model's actions mean "
    'nothing'
)
MODEL_SLOTS: tuple[str, ...] = ('top', 'wrist', 'side')
# Euler steps per chunk: smolvla_base's default.
NUM_STEPS = 10


def _backbone_dict(size: str) -> dict[str, Any]:
    from smolvla_model.config import smolvlm2_500m_backbone_dict

    if size == 'full':
        return smolvlm2_500m_backbone_dict()
    if size == 'tiny':
        text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=8)
        text.update(num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=1024)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2)
        vision.update(num_attention_heads=2, image_size=64)
        scale = 2
    else:  # small
        text = dict(hidden_size=384, intermediate_size=1024, num_hidden_layers=16)
        text.update(num_attention_heads=6, num_key_value_heads=2, head_dim=64, vocab_size=4096)
        vision = dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=6)
        vision.update(num_attention_heads=6, image_size=256)
        scale = 4
    raw = smolvlm2_500m_backbone_dict()
    raw['text_config'].update(text)
    raw['vision_config'].update(vision)
    raw['vocab_size'] = text['vocab_size']
    raw['image_token_id'] = text['vocab_size'] - 1
    raw['scale_factor'] = scale
    raw['torch_dtype'] = raw['text_config']['torch_dtype'] = 'float32'
    return raw


def _layers_kept(size: str) -> int:
    return {'tiny': 4, 'small': 8, 'full': 16}[size]


def stand_in_tokenizer() -> Any:
    """A byte-level tokenizer (one token per UTF-8 byte, ids 0..255, pad id 256) as a transformers
    tokenizer, built in memory; see the module docstring for why it is enough here."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab['<pad>'] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token='<pad>')


def build_random_smolvla(
    size: str,
    joint_names: tuple[str, ...],
    *,
    chunk_size: int = 50,
    dt_s: float = 1.0 / 30.0,
    precision: str = 'fp32',
    device: str = 'cpu',
    seed: int = 0,
) -> Policy:
    """A random-initialised SmolVLA of ``size`` as a suite Policy (radians, 3 cameras).

    Raises:
        ValueError: unknown size, chunk_size < 1 or a joint count other than 6.
        ConfigError: an impossible precision/device combination.
    """
    if size not in MODEL_SIZES:
        raise ValueError(f'unknown model size {size!r}; choose one of {MODEL_SIZES}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    if len(joint_names) != 6:
        raise ValueError(f'the benchmark model has 6 joints, got {joint_names}')
    from smolvla_model.config import SmolVLAConfig
    from smolvla_model.hub import backbone_config_from_dict
    from smolvla_model.loading import build_model
    from smolvla_model.policy import SmolVLAPolicy
    from smolvla_model.processing.config import ProcessorConfig
    from smolvla_model.processing.normalization import stats_from_mapping
    from smolvla_model.processing.pipeline import Postprocessor, Preprocessor
    from smolvla_model.processing.tokenization import InstructionTokenizer
    from smolvla_ros.action_space import action_space_for_policy
    from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy

    raw = _backbone_dict(size)
    image = int(raw['vision_config']['image_size'])
    features: dict[str, Any] = {
        f'observation.images.{s}': {'type': 'VISUAL', 'shape': [3, image, image]}
        for s in MODEL_SLOTS
    }
    features['observation.state'] = {'type': 'STATE', 'shape': [6]}
    config = SmolVLAConfig(
        input_features=features,
        output_features={'action': {'type': 'ACTION', 'shape': [6]}},
        chunk_size=chunk_size,
        n_action_steps=chunk_size,
        resize_imgs_with_padding=(image, image),
        num_steps=NUM_STEPS,
        num_vlm_layers=_layers_kept(size),
        pad_language_to='max_length',
    )
    model = build_model(
        config,
        backbone_config_from_dict(raw, source=f'{size} benchmark layout'),
        precision,
        device,
        seed=seed,
        materialize_lm_head=False,
    )
    pconfig = ProcessorConfig.from_policy_config(config.to_dict())
    # Radians with unit spread: the state normalises to O(1) values as a trained model's would.
    stats = stats_from_mapping(
        {
            'observation.state': {'mean': [0.0] * 6, 'std': [1.0] * 6},
            'action': {'mean': [0.0] * 6, 'std': [1.0] * 6},
        }
    )
    tokenizer = InstructionTokenizer(
        stand_in_tokenizer(), max_length=config.tokenizer_max_length, padding='max_length'
    )
    policy = SmolVLAPolicy(
        model, Preprocessor(pconfig, tokenizer, stats), Postprocessor(pconfig, stats)
    )
    space = action_space_for_policy(policy, joint_names, units='radians')
    return SmolVLAChunkPolicy(policy, space, dt_s=dt_s, seed=seed)


def load_checkpoint_policy(
    path: Path, joint_names: tuple[str, ...], dt_s: float | None, device: str = 'cpu'
) -> Policy:
    """A SmolVLA checkpoint bound to the simulated SO-101 (its units read from the checkpoint;
    LeRobot units use the simulator's virtual calibration). The units check only warns: the
    benchmark discards the actions, so a checkpoint trained on another arm still times right.

    Raises:
        see ``SmolVLAChunkPolicy.from_pretrained``.
    """
    from smolvla_ros.action_space import virtual_calibration
    from smolvla_ros.policy.smolvla import SmolVLAChunkPolicy

    return SmolVLAChunkPolicy.from_pretrained(
        path,
        joint_names,
        calibration=virtual_calibration(),
        device=device,
        dt_s=dt_s,
        seed=0,
        allow_units_mismatch=True,
    )


def model_chunk_size(policy: Any) -> int:
    """Actions per chunk of a SmolVLAChunkPolicy (its checkpoint's ``chunk_size``)."""
    return int(policy.policy.chunk_size)


def model_parameters(policy: Any) -> int:
    """Parameter count of a SmolVLAChunkPolicy's model (materialised weights only)."""
    return int(sum(p.numel() for p in policy.policy.model.parameters() if not p.is_meta))


def warm_up(policy: Policy, joint_names: tuple[str, ...] | None = None) -> float:
    """Run one request on synthetic frames and a zero state, so the first timed call does not
    pay for allocations and kernel selection; returns its wall time, seconds.

    Raises:
        whatever the model raises on that request.
    """
    from smolvla_ros.runtime.executor import ObservationSnapshot

    names = tuple(joint_names or policy.joint_names)
    snap = ObservationSnapshot(0, 0.0, np.zeros(len(names)), names, must_go=True)
    source = SyntheticFrameSource(tuple(policy.required_slots), lambda: 0.0, 1.0)
    frames = {f.slot: f for f in source.read()} if policy.required_slots else {}
    t0 = time.perf_counter()
    policy.predict(PolicyInput(snap, frames, 'put the cube in the bin'))
    return time.perf_counter() - t0


class ModelLatencyPolicy:
    """Runs ``model`` for its latency and returns ``oracle``'s actions (see the module docstring).

    Args:
        model: the timed policy (SmolVLA); its camera slots are the ones requests need.
        oracle: the policy whose actions are returned; same joints and dt as ``model``.

    Raises:
        ValueError: the two disagree on joints or dt.
    """

    def __init__(self, model: Policy, oracle: Policy) -> None:
        if tuple(model.joint_names) != tuple(oracle.joint_names):
            raise ValueError(
                f'model joints {tuple(model.joint_names)} differ from the oracle joints '
                f'{tuple(oracle.joint_names)}'
            )
        if abs(float(model.dt_s) - float(oracle.dt_s)) > 1e-9:
            raise ValueError(
                f'model dt {model.dt_s} s differs from the oracle dt {oracle.dt_s} s; build the '
                'oracle with the model dt'
            )
        self._model, self._oracle = model, oracle
        self._lock = threading.Lock()
        self._latencies: list[float] = []

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(self._oracle.joint_names)

    @property
    def dt_s(self) -> float:
        return float(self._oracle.dt_s)

    @property
    def required_slots(self) -> tuple[str, ...]:
        return tuple(self._model.required_slots)

    @property
    def latencies_s(self) -> list[float]:
        """Wall time of every model call so far, seconds (a copy)."""
        with self._lock:
            return list(self._latencies)

    def predict(self, request: PolicyInput) -> np.ndarray:
        """The oracle's plan for ``request``, returned after the model has run on it.

        Raises:
            whatever the model raises (no plan is returned then, as a real model failure).
        """
        t0 = time.perf_counter()
        actions = self._model.predict(request)
        elapsed = time.perf_counter() - t0
        # The random model's actions are checked for shape only and then discarded: the task
        # metric needs a policy that can do the task, which only the oracle is.
        if np.asarray(actions).ndim != 2:
            raise ValueError(f'the model returned shape {np.shape(actions)}, not (n, J)')
        with self._lock:
            self._latencies.append(elapsed)
        return self._oracle.predict(request)


def latency_summary(latencies_s: list[float]) -> dict[str, float | int | None]:
    """Count, median, p90 and max of model latencies, seconds (None when there are none)."""
    if not latencies_s:
        return {'calls': 0, 'median_s': None, 'p90_s': None, 'max_s': None}
    return {
        'calls': len(latencies_s),
        'median_s': float(statistics.median(latencies_s)),
        'p90_s': float(np.percentile(latencies_s, 90)),
        'max_s': float(max(latencies_s)),
    }


class SyntheticFrameSource(SourceBase):
    """Camera frames for an arm without cameras (the kinematic backend): fixed random RGB
    images, one per slot per ``period_s``, stamped on ``now``. The pixels carry no information;
    they make the model do the work real frames would (the pre-processor resizes them).

    Args:
        slots: the camera slots.
        now: the executor's clock, seconds.
        period_s: seconds between frame sets (1/15 for 15 fps).
        height / width: image size, pixels.
        seed: seed of the images.
    """

    def __init__(
        self,
        slots: tuple[str, ...],
        now: Callable[[], float],
        period_s: float,
        *,
        height: int = 256,
        width: int = 256,
        seed: int = 0,
    ) -> None:
        if not period_s > 0:
            raise ValueError(f'period_s must be > 0 seconds, got {period_s}')
        rng = np.random.default_rng(seed)
        self._images = {s: rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for s in slots}
        self._slots, self._now, self._period = tuple(slots), now, float(period_s)
        self._next: float | None = None
        self._sequence = 0
        self._closed = threading.Event()

    @property
    def slots(self) -> tuple[str, ...]:
        return self._slots

    def read(self) -> list[Frame]:
        """The next frame set, released on absolute deadlines every ``period_s``.

        Raises:
            FrameSourceClosedError: the source was closed (also when closed while waiting).
        """
        if self._closed.is_set():
            raise FrameSourceClosedError('synthetic frame source is closed')
        t = self._now()
        if self._next is not None and t < self._next:
            self._closed.wait(self._next - t)  # close() ends the wait
            t = self._now()
        self._next = t + self._period if self._next is None else max(self._next + self._period, t)
        if self._closed.is_set():
            raise FrameSourceClosedError('synthetic frame source is closed')
        frames = [Frame(s, self._images[s], t, self._sequence) for s in self._slots]
        self._sequence += 1
        return frames

    def close(self) -> None:
        self._closed.set()
