"""Instruction text -> language tokens, as LeRobot's SmolVLA pre-processor makes them.

Steps: append "\\n" unless the instruction already ends with one; tokenize with the backbone's
tokenizer (SmolVLM2's adds no BOS/EOS); truncate to ``max_length`` on the tokenizer's own
``truncation_side`` (SmolVLM2: "left", so the *start* of an over-long instruction is dropped and
the newline survives); right-pad with the tokenizer's pad id to ``max_length`` (or to the longest
instruction in the batch with ``padding='longest'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from smolvla_model.processing.config import PAD_LANGUAGE_CHOICES, ProcessorFileError


def load_tokenizer(source: str | Path) -> Any:
    """Load a transformers tokenizer from a local folder or a hub id already in the HF cache.

    Raises:
        ProcessorFileError: it cannot be loaded; the message says how to fetch it.
    """
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(source))
    except (OSError, ValueError) as e:
        raise ProcessorFileError(
            f'cannot load the tokenizer from {str(source)!r} ({e}). Pass a local folder with '
            f'tokenizer.json, or fetch it while online: huggingface-cli download {source}'
        ) from e


class InstructionTokenizer:
    """Turns instructions into ``(lang_tokens int64 [B, L], lang_masks bool [B, L])``."""

    def __init__(self, tokenizer: Any, max_length: int = 48, padding: str = 'max_length') -> None:
        """Args:
        tokenizer: a transformers tokenizer (``load_tokenizer``).
        max_length: the token budget L (SmolVLA: 48).
        padding: 'max_length' or 'longest'.

        Raises:
            ValueError: bad max_length / padding, or the tokenizer has no pad token.
        """
        if max_length <= 0:
            raise ValueError(f'max_length must be > 0, got {max_length}')
        if padding not in PAD_LANGUAGE_CHOICES:
            raise ValueError(f'padding must be one of {PAD_LANGUAGE_CHOICES}, got {padding!r}')
        if getattr(tokenizer, 'pad_token_id', None) is None:
            raise ProcessorFileError(
                'the tokenizer defines no pad token; SmolVLA pads instructions with it '
                '(SmolVLM2: "<|im_end|>", id 2). Set pad_token in tokenizer_config.json'
            )
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.padding = padding

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @staticmethod
    def normalize_instructions(instruction: Any, batch_size: int) -> list[str]:
        """Validate and broadcast the instruction(s); append the newline SmolVLA expects.

        Args:
            instruction: one string (used for every batch row) or a list of B strings.
            batch_size: B.

        Raises:
            ValueError: not a string / list of strings, wrong count, or an empty instruction.
        """
        if isinstance(instruction, str):
            texts = [instruction] * batch_size
        elif isinstance(instruction, (list, tuple)) and all(
            isinstance(t, str) for t in instruction
        ):
            texts = list(instruction)
            if len(texts) != batch_size:
                raise ValueError(
                    f'instruction: got {len(texts)} instructions for a batch of {batch_size}; '
                    'pass one string or one per batch row'
                )
        else:
            raise ValueError(
                f'instruction: expected a str or a list of str, got {type(instruction).__name__}'
            )
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError(
                    f'instruction: entry {i} is empty or whitespace; SmolVLA needs a task, e.g. '
                    '"pick up the cube"'
                )
        return [t if t.endswith('\n') else t + '\n' for t in texts]

    def __call__(self, instruction: Any, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenize; see the module docstring for the exact steps.

        Returns:
            lang_tokens int64 [B, L] and lang_masks bool [B, L] (True on real tokens).

        Raises:
            ValueError: see ``normalize_instructions``.
        """
        texts = self.normalize_instructions(instruction, batch_size)
        enc = self.tokenizer(
            texts,
            padding=self.padding,
            truncation=True,
            max_length=self.max_length,
            padding_side='right',
            return_tensors='pt',
        )
        tokens = enc['input_ids'].to(torch.int64)
        masks = enc['attention_mask'].to(torch.bool)
        return tokens, masks
