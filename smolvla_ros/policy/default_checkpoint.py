"""Which SmolVLA checkpoint to load when none is named: one choice for the runner and the node.

Order: the pretrained ``lerobot/smolvla_base`` (a local folder or the Hugging Face cache; the
runner may also download it), else the checkpoint shipped with the project (trained on the
simulator's demonstrations, ``checkpoints/smolvla_so101_sim/``), else none. The standalone
runner (``smolvla_ros.runner.run.load_policy``) and the policy node (``checkpoint: ''``) both
call :func:`choose_default_checkpoint`, so ``smolvla-run``, ``smolvla-eval`` and ``ros2 launch
smolvla_ros bringup.launch.py`` pick the same weights on the same machine.

Where the shipped checkpoint is looked for, in order: ``$SMOLVLA_SHIPPED_CHECKPOINT`` when set
(an empty value means "none ships": tests use it to hide the folder), the source tree's
``checkpoints/smolvla_so101_sim/``, and ``<prefix>/share/smolvla_ros/checkpoints/
smolvla_so101_sim/`` (an installed package). ROS-free: no rclpy, no messages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The pretrained checkpoint tried first.
DEFAULT_CHECKPOINT = 'lerobot/smolvla_base'
SHIPPED_NAME = 'smolvla_so101_sim'
# The shipped checkpoint in the source tree (this file is smolvla_ros/policy/<here>).
SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[2] / 'checkpoints' / SHIPPED_NAME
# Overrides where the shipped checkpoint is looked for; '' = none ships.
SHIPPED_ENV = 'SMOLVLA_SHIPPED_CHECKPOINT'
# What a folder must hold to count as a checkpoint (LeRobot layout).
_CHECKPOINT_FILES = ('config.json', 'model.safetensors')


@dataclass(frozen=True)
class CheckpointChoice:
    """The outcome of :func:`choose_default_checkpoint`.

    Attributes:
        checkpoint: the repo id or folder to load; None when no checkpoint can be had.
        kind: 'pretrained', 'shipped' or 'none'.
        notes: why each earlier candidate was passed over, in order.
    """

    checkpoint: str | None
    kind: str
    notes: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """One line saying what was chosen and why (for a log or the terminal)."""
        why = '; '.join(self.notes)
        if self.kind == 'pretrained':
            return f'default SmolVLA checkpoint: the pretrained {self.checkpoint}'
        if self.kind == 'shipped':
            return (
                f'default SmolVLA checkpoint: the one shipped with the project, '
                f'{self.checkpoint} ({why})'
            )
        return f'no default SmolVLA checkpoint can be had: {why}'


def shipped_checkpoint_candidates() -> tuple[Path, ...]:
    """Folders where the shipped checkpoint may be, in the order they are tried (see the module
    docstring); empty when ``$SMOLVLA_SHIPPED_CHECKPOINT`` is set to ''."""
    env = os.environ.get(SHIPPED_ENV)
    if env is not None:
        return (Path(env).expanduser(),) if env.strip() else ()
    installed = Path(sys.prefix) / 'share' / 'smolvla_ros' / 'checkpoints' / SHIPPED_NAME
    return (SHIPPED_CHECKPOINT, installed)


def _is_checkpoint(folder: Path) -> bool:
    return folder.is_dir() and all((folder / f).is_file() for f in _CHECKPOINT_FILES)


def _pretrained_local(repo_id: str) -> str:
    """The pretrained checkpoint's folder from a local folder or the Hugging Face cache, never
    downloading (whatever ``HF_HUB_OFFLINE`` says).

    Raises:
        HubResolutionError: it is not here.
    """
    from smolvla_model.errors import HubResolutionError

    if Path(repo_id).expanduser().is_dir():
        return str(Path(repo_id).expanduser().resolve())
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download(repo_id=repo_id, local_files_only=True))
    except Exception as e:  # huggingface_hub raises several unrelated types for "not there"
        raise HubResolutionError(
            f'{repo_id!r} is not a local folder and not in the local Hugging Face cache '
            f'({type(e).__name__}); fetch it with `hf download {repo_id}` on a connected machine'
        ) from e


def _pretrained_any(repo_id: str) -> str:
    """The pretrained checkpoint, downloading it unless HF_HUB_OFFLINE is set."""
    from smolvla_model.hub import resolve_folder

    return str(resolve_folder(repo_id))


def choose_default_checkpoint(
    *,
    download: bool = False,
    exclude: Sequence[str] = (),
    pretrained: str = DEFAULT_CHECKPOINT,
    resolve: Callable[[str], str] | None = None,
) -> CheckpointChoice:
    """Choose the SmolVLA checkpoint to load when none is named.

    Args:
        download: may fetch the pretrained checkpoint from the hub (unless ``HF_HUB_OFFLINE``
            is set); False (the node) only looks in local folders and the Hugging Face cache.
        exclude: candidates to pass over (repo ids or folders that were tried and failed to
            load), so a caller can ask again for the next one.
        pretrained: the pretrained repo id (or folder) tried first.
        resolve: how to find ``pretrained`` (returns a folder or raises); default per
            ``download``.

    Returns:
        A :class:`CheckpointChoice`: the pretrained id when it is here, else the shipped
        folder, else ``kind='none'`` with notes saying what is missing. Nothing is loaded.
    """
    from smolvla_model.errors import HubResolutionError

    notes: list[str] = []
    excluded = {str(e) for e in exclude}
    if pretrained in excluded:
        notes.append(f'{pretrained} failed to load')
    else:
        find = resolve or (_pretrained_any if download else _pretrained_local)
        try:
            find(pretrained)
            return CheckpointChoice(pretrained, 'pretrained')
        except (HubResolutionError, OSError, ValueError) as e:
            notes.append(f'{pretrained} is not available: {e}')
    candidates = shipped_checkpoint_candidates()
    for folder in candidates:
        if str(folder) in excluded:
            notes.append(f'the shipped checkpoint {folder} failed to load')
        elif _is_checkpoint(folder):
            return CheckpointChoice(str(folder), 'shipped', tuple(notes))
    if candidates and not any(str(f) in excluded for f in candidates):
        looked = ', '.join(str(f) for f in candidates)
        notes.append(
            f'no checkpoint ships with the project (looked for {"/".join(_CHECKPOINT_FILES)} '
            f'in {looked})'
        )
    elif not candidates:
        notes.append(f'no checkpoint ships with the project (${SHIPPED_ENV} is empty)')
    return CheckpointChoice(None, 'none', tuple(notes))


__all__ = [
    'DEFAULT_CHECKPOINT',
    'SHIPPED_CHECKPOINT',
    'SHIPPED_ENV',
    'CheckpointChoice',
    'choose_default_checkpoint',
    'shipped_checkpoint_candidates',
]
