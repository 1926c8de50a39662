"""SmolVLA pre- and post-processing as one saved pipeline (LeRobot-compatible files).

Public API::

    from smolvla_model.processing import load_processors

    pre, post = load_processors('path/to/checkpoint', tokenizer='path/to/backbone')
    inputs = pre({'images': {'top': rgb_uint8_hwc}, 'state': joints, 'instruction': 'pick'})
    actions = post(model_output)          # numpy [B, T, action_dim], checkpoint units
    pre.save_pretrained('out/')           # policy_preprocessor.json / policy_postprocessor.json

Modules: ``config`` (ProcessorConfig), ``images`` (resize with pad, [-1, 1]), ``normalization``
(stats), ``tokenization`` (instructions), ``cameras`` (slot <-> feature names),
``lerobot_files`` (reading/writing LeRobot's files), ``pipeline`` (Preprocessor/Postprocessor).
"""

from smolvla_model.processing.cameras import SLOTS, build_camera_map, default_slot
from smolvla_model.processing.config import (
    FeatureSpec,
    FeatureType,
    NormMode,
    ProcessorConfig,
    ProcessorFileError,
)
from smolvla_model.processing.images import prepare_image, resize_with_pad
from smolvla_model.processing.normalization import FeatureNormalizer
from smolvla_model.processing.pipeline import (
    Postprocessor,
    Preprocessor,
    load_processors,
    save_processors,
)
from smolvla_model.processing.tokenization import InstructionTokenizer, load_tokenizer

__all__ = [
    'SLOTS',
    'FeatureNormalizer',
    'FeatureSpec',
    'FeatureType',
    'InstructionTokenizer',
    'NormMode',
    'Postprocessor',
    'Preprocessor',
    'ProcessorConfig',
    'ProcessorFileError',
    'build_camera_map',
    'default_slot',
    'load_processors',
    'load_tokenizer',
    'prepare_image',
    'resize_with_pad',
    'save_processors',
]
