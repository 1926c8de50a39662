"""Instruction tokenization against LeRobot's reference tokens and the documented rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smolvla_model.processing import InstructionTokenizer, ProcessorFileError, load_tokenizer

FIXTURE = Path(__file__).parent / 'fixtures' / 'smolvla_parity'
VLM = FIXTURE / 'vlm' / 'smolvlm2-micro-hubdtype'


@pytest.fixture(scope='module')
def tokenizer():
    return load_tokenizer(VLM)


@pytest.mark.parametrize('variant', ['micro_fp32', 'micro_hubdtype'])
def test_reproduces_lerobot_reference_tokens(tokenizer, variant: str) -> None:
    io = np.load(FIXTURE / variant / 'io.npz')
    task = str(io['tasks'][0])
    assert task.endswith('\n')
    tok = InstructionTokenizer(tokenizer, 48, 'max_length')
    # The stored task already has its newline; without it the newline is appended, same tokens.
    for text in (task, task[:-1]):
        tokens, masks = tok(text, 1)
        assert tokens.dtype.is_floating_point is False and masks.dtype.is_floating_point is False
        np.testing.assert_array_equal(tokens.numpy(), io['lang_tokens'])
        np.testing.assert_array_equal(masks.numpy(), io['lang_masks'])


def test_right_padding_with_the_pad_id(tokenizer) -> None:
    tok = InstructionTokenizer(tokenizer, 48, 'max_length')
    tokens, masks = tok('go\n', 1)
    n = int(masks.sum())
    # The stand-in tokenizer's own encoding of the same text, with no padding.
    raw = tokenizer('go\n')['input_ids']
    assert n == len(raw)
    assert tokens[0, :n].tolist() == raw
    assert tok.pad_id == 2  # <|im_end|>, as in SmolVLM2
    assert tokens[0, n:].tolist() == [2] * (48 - n)
    assert masks[0, :n].all() and not masks[0, n:].any()


def test_overlong_instruction_keeps_its_end(tokenizer) -> None:
    # SmolVLM2's tokenizer truncates on the left: the start is dropped, the newline kept.
    text = ' '.join(['place the red cube gently in the blue box'] * 12)
    full = tokenizer(text + '\n')['input_ids']
    assert len(full) > 48
    assert tokenizer.truncation_side == 'left'
    tokens, masks = InstructionTokenizer(tokenizer, 48, 'max_length')(text, 1)
    assert tokens.shape == (1, 48) and bool(masks.all())
    assert tokens[0].tolist() == full[-48:]


def test_longest_padding_pads_to_the_longest_in_batch(tokenizer) -> None:
    texts = ['go', 'pick up the cube']
    lengths = [len(tokenizer(t + '\n')['input_ids']) for t in texts]
    tokens, masks = InstructionTokenizer(tokenizer, 48, 'longest')(texts, 2)
    assert tokens.shape == (2, max(lengths))
    assert masks.sum(dim=1).tolist() == lengths


def test_one_instruction_is_broadcast_over_the_batch(tokenizer) -> None:
    tokens, _ = InstructionTokenizer(tokenizer)('stack the blocks', 3)
    assert tokens.shape == (3, 48)
    assert (tokens == tokens[0]).all()


@pytest.mark.parametrize(
    ('instruction', 'match'),
    [
        ('', 'empty'),
        ('   \n', 'empty'),
        (['pick', ''], 'entry 1 is empty'),
        (['pick'], 'got 1 instructions for a batch of 2'),
        (None, 'expected a str'),
        (['pick', 3], 'expected a str'),
    ],
)
def test_bad_instructions_raise(tokenizer, instruction: object, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        InstructionTokenizer(tokenizer)(instruction, 2)
    assert str(info.value).startswith('instruction')


def test_tokenizer_without_pad_token_is_refused() -> None:
    tok = load_tokenizer(VLM)
    tok.pad_token = None
    with pytest.raises(ProcessorFileError, match='pad token'):
        InstructionTokenizer(tok)


def test_missing_tokenizer_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(ProcessorFileError, match='huggingface-cli download'):
        load_tokenizer(tmp_path / 'nowhere')
