"""Find checkpoint and backbone folders: a local path, or a repo id in the Hugging Face cache.

Resolution never guesses silently: a name that is neither an existing folder nor a resolvable
repo id raises :class:`HubResolutionError` naming the repo and the command that fetches it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from smolvla_model.errors import ConfigError, HubResolutionError


def _offline() -> bool:
    return os.environ.get('HF_HUB_OFFLINE', '0').strip().lower() in ('1', 'true', 'yes', 'on')


def resolve_folder(
    path_or_repo_id: str | os.PathLike[str],
    *,
    search_dirs: tuple[Path, ...] = (),
    revision: str | None = None,
    allow_patterns: list[str] | None = None,
) -> Path:
    """Return a local folder for ``path_or_repo_id``.

    Tried in order: the path as given (absolute or relative to the working directory), the path
    relative to each of ``search_dirs``, then the Hugging Face cache (downloading only when
    ``HF_HUB_OFFLINE`` is not set).

    Raises:
        HubResolutionError: nothing found; the message names the repo and how to fetch it.
    """
    name = os.fspath(path_or_repo_id)
    candidates = [Path(name).expanduser()] + [Path(d) / name for d in search_dirs]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    if name.count('/') != 1 or name.startswith(('/', '.', '~')):
        tried = ', '.join(str(c) for c in candidates)
        raise HubResolutionError(
            f'{name!r} is not a folder (tried {tried}) and is not a hub repo id of the form '
            '"owner/name"'
        )
    from huggingface_hub import snapshot_download

    offline = _offline()
    try:
        folder = snapshot_download(
            repo_id=name,
            revision=revision,
            allow_patterns=allow_patterns,
            local_files_only=offline,
        )
    except Exception as e:  # huggingface_hub raises several unrelated types for "not there"
        how = (
            'it is not in the local Hugging Face cache and HF_HUB_OFFLINE is set'
            if offline
            else (f'download failed ({type(e).__name__}: {e})')
        )
        raise HubResolutionError(
            f'cannot resolve hub repo {name!r}: {how}. Fetch it on a connected machine with '
            f'`huggingface-cli download {name}` (or `hf download {name}`), then copy the cache '
            '(HF_HOME) here, or pass a local folder instead.'
        ) from e
    return Path(folder)


def load_backbone_config(folder: str | os.PathLike[str]) -> Any:
    """Read a SmolVLM backbone ``config.json`` from ``folder`` as a transformers SmolVLMConfig.

    Raises:
        ConfigError: no config.json there, or it is not a SmolVLM config.
    """

    path = Path(folder) / 'config.json'
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f'no backbone config.json in {folder}') from e
    except json.JSONDecodeError as e:
        raise ConfigError(f'{path} is not valid JSON: {e}') from e
    return backbone_config_from_dict(raw, source=str(path))


def backbone_config_from_dict(raw: dict[str, Any], source: str = '<dict>') -> Any:
    """Turn a backbone config mapping into a transformers SmolVLMConfig.

    Raises:
        ConfigError: the mapping is not a SmolVLM (model_type "smolvlm") config.
    """
    from transformers import SmolVLMConfig

    if raw.get('model_type') != 'smolvlm':
        raise ConfigError(
            f'{source}: backbone model_type is {raw.get("model_type")!r}; SmolVLA needs a '
            '"smolvlm" backbone (e.g. HuggingFaceTB/SmolVLM2-500M-Video-Instruct)'
        )
    return SmolVLMConfig(**{k: v for k, v in raw.items() if k != 'model_type'})
