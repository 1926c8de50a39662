"""SmolVLA training on LeRobot datasets (``smolvla-train``); see ``smolvla_model.train.trainer``.

Modules: ``data`` (frames preloaded at training resolution, action chunks with padding,
augmentation), ``state`` (the resumable optimizer/scheduler/RNG state), ``trainer`` (the run:
model building, the loop, LeRobot-layout checkpoints), ``cli`` (the console script).
"""

from smolvla_model.train.trainer import TrainResult, TrainSettings, check_dataset_fits, train

__all__ = ['TrainResult', 'TrainSettings', 'check_dataset_fits', 'train']
