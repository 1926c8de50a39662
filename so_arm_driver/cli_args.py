"""Argument checks the ``so-arm`` and ``smolvla-sim`` command lines share.

A bad argument must end in one line naming the argument and what is allowed, with exit status 2,
before any work starts: no port opened, no episode run, no file written. The pieces:

- :class:`OneLineParser`: argparse's parser, but its error is a single line (no usage block).
- :func:`int_in_range`: an argparse ``type=`` for bounded integers (ids, seeds, pixel sizes).
- :func:`check_output_file` / :func:`check_output_dir`: pre-flight checks of output paths, which
  prove the folder is writable by creating and removing a probe file (``os.access`` says yes to
  root even on a read-only mount).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


class UsageError(Exception):
    """A command-line argument is impossible; the message names it. Exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line on stderr, then exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f'{self.prog}: error: {message}', file=sys.stderr)
        raise SystemExit(2)


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type=`` accepting integers in ``low..high`` (inclusive).

    The returned function raises ``argparse.ArgumentTypeError`` (which argparse turns into
    "argument --x: ...", exit status 2) for text that is not an integer or is out of range.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'must be an integer in {low}..{high}, got {text!r}'
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'must be an integer in {low}..{high}, got {value}')
        return value

    parse.__name__ = f'integer in {low}..{high}'
    return parse


def _probe_writable(folder: Path, flag: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix='.write-probe-')
    except OSError as e:
        raise UsageError(f'{flag}: cannot write in {folder}: {e.strerror or e}') from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(path: str | Path, flag: str) -> Path:
    """Check that ``path`` can be written as a file: its folder exists and is writable.

    Nothing is left behind (the probe file is removed).

    Raises:
        UsageError: the folder is missing, is not a folder, or is not writable; or ``path`` is an
            existing folder.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f'{flag}: {path} is a folder; give a file name')
    parent = path.parent
    if not parent.exists():
        raise UsageError(f'{flag}: folder {parent} does not exist; create it first')
    if not parent.is_dir():
        raise UsageError(f'{flag}: {parent} is not a folder')
    _probe_writable(parent, flag)
    return path


def check_output_dir(path: str | Path, flag: str) -> Path:
    """Check that ``path`` is, or can be created as, a writable folder. Creates nothing.

    Raises:
        UsageError: ``path`` or one of its ancestors is a file, or the nearest existing ancestor
            is not writable.
    """
    path = Path(path)
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f'{flag}: {existing} is a file, so {path} cannot be a folder')
    _probe_writable(existing, flag)
    return path
