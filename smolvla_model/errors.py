"""The one exception hierarchy of ``smolvla_model``.

Every error the model core raises on purpose derives from :class:`SmolVLAError`, so callers (the
ROS nodes, the CLIs) can catch the whole family in one place and report it.
"""

from __future__ import annotations


class SmolVLAError(Exception):
    """Base class of every deliberate error in ``smolvla_model``."""


class ConfigError(SmolVLAError, ValueError):
    """A config value is impossible or unsupported (names the field and the allowed values)."""


class CheckpointError(SmolVLAError):
    """A checkpoint cannot be read, does not match the architecture, or cannot be written."""


class HubResolutionError(SmolVLAError, FileNotFoundError):
    """A local folder or Hugging Face repo id could not be resolved to files on disk."""


class TrainingError(SmolVLAError, ValueError):
    """A training run cannot start or resume: bad settings, an output folder in the way, a
    dataset that does not fit the model (names what was wrong and what to do)."""


class InputError(SmolVLAError, ValueError):
    """An input file or array is unusable: unreadable, wrong shape, wrong type or non-finite
    values (names the input and what was expected)."""


class DatasetError(SmolVLAError):
    """A dataset folder is missing, corrupt or unsupported, or a frame/episode given to the writer
    is unusable (names the file or the input and what to do)."""
