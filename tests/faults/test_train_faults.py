"""Fault matrix of smolvla-train: bad settings, a missing dataset, an output folder in the way,
nothing to resume, a dataset that does not fit the checkpoint to fine-tune.

Each test asserts the named error (or CLI exit status 2 with the message on stderr) and that
nothing was written: the output folder, the dataset and the source checkpoint are what they were.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import tree_state, write_dataset

from smolvla_model.datasets import DatasetError
from smolvla_model.errors import TrainingError
from smolvla_model.train import TrainSettings, train
from smolvla_model.train.cli import main


@pytest.fixture(scope='module')
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp('data') / 'ds', length=12)


@pytest.fixture(scope='module')
def checkpoint(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp('runs') / 'src'
    train(
        TrainSettings(
            dataset=str(dataset),
            output=str(out),
            size='tiny',
            steps=1,
            batch_size=2,
            num_threads=1,
            progress=False,
        )
    )
    return out / 'checkpoints' / '000001' / 'pretrained_model'


def _settings(dataset: Path, out: Path, **kw: object) -> TrainSettings:
    base = dict(size='tiny', steps=2, batch_size=2, num_threads=1, progress=False)
    base.update(kw)
    return TrainSettings(dataset=str(dataset), output=str(out), **base)


@pytest.mark.parametrize(
    ('option', 'value', 'match'),
    [
        ('steps', 0, 'steps must be an integer >= 1'),
        ('batch_size', -4, 'batch_size must be an integer >= 1'),
        ('save_every', 0, 'save_every must be an integer >= 1'),
        ('num_threads', 0, 'num_threads must be an integer >= 1'),
        ('size', 'huge', 'size must be one of'),
        ('lr', 0.0, r'lr must be a number in \(0, 1\)'),
        ('lr', float('nan'), r'lr must be a number in \(0, 1\)'),
    ],
)
def test_bad_numbers_are_refused(
    dataset: Path, tmp_path: Path, option: str, value: object, match: str
) -> None:
    """Fault: steps/batch/save-every/threads/lr out of range or unknown size -> Expected:
    TrainingError naming the option; no output folder."""
    out = tmp_path / 'run'
    with pytest.raises(TrainingError, match=match):
        _settings(dataset, out, **{option: value})
    assert not out.exists()


def test_image_size_not_a_multiple_of_the_patch_grid(dataset: Path, tmp_path: Path) -> None:
    """Fault: --image-size 100 (not a multiple of 32) -> Expected: TrainingError naming a valid
    size; no output folder."""
    out = tmp_path / 'run'
    before = tree_state(dataset)
    match = r'image size 100 is not a multiple of 32 .*; use e\.g\. 96'
    with pytest.raises(TrainingError, match=match):
        train(_settings(dataset, out, image_size=100))
    assert not out.exists() and tree_state(dataset) == before


def test_missing_dataset(tmp_path: Path) -> None:
    """Fault: the dataset folder does not exist -> Expected: DatasetError naming it; no output."""
    out = tmp_path / 'run'
    with pytest.raises(DatasetError, match='does not exist'):
        train(_settings(tmp_path / 'nope', out))
    assert not out.exists()


def test_existing_output_without_resume(dataset: Path, tmp_path: Path) -> None:
    """Fault: --output is a non-empty folder and --resume is not given -> Expected: exit 2,
    'pass --resume'; the folder is unchanged."""
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    before = tree_state(out)
    code = main([str(dataset), '--output', str(out), '--size', 'tiny', '--no-progress'])
    assert code == 2
    assert tree_state(out) == before


def test_existing_output_message(dataset: Path, tmp_path: Path) -> None:
    """Fault: --output is a non-empty folder (API) -> Expected: TrainingError naming --resume."""
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    before = tree_state(out)
    with pytest.raises(TrainingError, match='already exists and is not empty; pass --resume'):
        train(_settings(dataset, out))
    assert tree_state(out) == before


def test_resume_with_nothing_to_resume(dataset: Path, tmp_path: Path) -> None:
    """Fault: --resume on an empty folder -> Expected: TrainingError 'no checkpoint'; nothing
    written."""
    out = tmp_path / 'run'
    out.mkdir()
    with pytest.raises(TrainingError, match='no checkpoint at'):
        train(_settings(dataset, out, resume=True))
    assert tree_state(out) == {}


def test_resume_with_different_settings(
    dataset: Path, checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Fault: --resume with another batch size than the run's -> Expected: TrainingError naming
    batch_size; the run folder is unchanged."""
    out = checkpoint.parents[2]
    before = tree_state(out)
    with pytest.raises(TrainingError, match=r'batch_size \(2 -> 3\)'):
        train(
            TrainSettings(
                dataset=str(dataset),
                output=str(out),
                size='tiny',
                steps=1,
                batch_size=3,
                num_threads=1,
                resume=True,
                progress=False,
            )
        )
    assert tree_state(out) == before


@pytest.mark.parametrize(
    ('kind', 'match'),
    [
        ('state_dim', 'state has 5 dims, the model 6; action has 5 dims, the model 6'),
        ('cameras', r"cameras \['observation.images.top', 'observation.images.wrist'\]"),
    ],
)
def test_dataset_that_does_not_fit_the_checkpoint(
    checkpoint: Path, tmp_path: Path, kind: str, match: str
) -> None:
    """Fault: fine-tuning on a dataset with other state/action widths or cameras than the
    checkpoint -> Expected: TrainingError naming both sides; no output, checkpoint unchanged."""
    if kind == 'state_dim':
        other = write_dataset(tmp_path / 'other', episodes=1, length=8, dim=5)
    else:
        other = write_dataset(tmp_path / 'other', episodes=1, length=8, cameras=('top', 'wrist'))
    out = tmp_path / 'ft'
    ckpt_before, data_before = tree_state(checkpoint), tree_state(other)
    with pytest.raises(TrainingError, match=match):
        train(
            TrainSettings(
                dataset=str(other),
                output=str(out),
                from_checkpoint=str(checkpoint),
                steps=1,
                batch_size=2,
                progress=False,
            )
        )
    assert not out.exists()
    assert tree_state(checkpoint) == ckpt_before and tree_state(other) == data_before


def test_image_size_with_a_checkpoint(checkpoint: Path, dataset: Path, tmp_path: Path) -> None:
    """Fault: --image-size together with --from-checkpoint -> Expected: TrainingError (the
    checkpoint fixes the resolution); no output."""
    out = tmp_path / 'ft'
    with pytest.raises(TrainingError, match='Drop --image-size'):
        TrainSettings(
            dataset=str(dataset), output=str(out), from_checkpoint=str(checkpoint), image_size=64
        )
    assert not out.exists()
