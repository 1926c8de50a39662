"""Where the SO-101 description lives, and how the plain URDF is generated from the xacro.

The xacro (``urdf/so101.urdf.xacro``) is the source. ``urdf/so101.urdf`` is its expansion with
default arguments, kept in the tree because MuJoCo (and users without ROS) read plain URDF. A test
expands the xacro with the PyPI ``xacro`` package and compares it with the committed file.

Regenerate after editing the xacro::

    python -m so_arm_driver.sim.description regenerate
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from so_arm_driver.sim.errors import DescriptionError

URDF_NAME = 'so101.urdf'
XACRO_NAME = 'so101.urdf.xacro'
_ENV_DIR = 'SMOLVLA_URDF_DIR'


def description_dir() -> Path:
    """The folder holding the SO-101 URDF and xacro.

    Looked up in this order: ``$SMOLVLA_URDF_DIR``; the source tree (``<repo>/urdf``); the
    installed share folder (``<prefix>/share/smolvla_ros/urdf``, where colcon and pip put it).

    Raises:
        DescriptionError: none of those folders holds ``so101.urdf``.
    """
    candidates = []
    if os.environ.get(_ENV_DIR):
        candidates.append(Path(os.environ[_ENV_DIR]))
    candidates.append(Path(__file__).resolve().parents[2] / 'urdf')
    candidates.append(Path(sys.prefix) / 'share' / 'smolvla_ros' / 'urdf')
    for folder in candidates:
        if (folder / URDF_NAME).is_file():
            return folder
    raise DescriptionError(
        f'cannot find {URDF_NAME}; looked in {[str(c) for c in candidates]}. Set {_ENV_DIR} to '
        'the folder holding it (the urdf/ folder of the smolvla_ros source tree).'
    )


def urdf_path() -> Path:
    """Path of the plain SO-101 URDF (metres, radians)."""
    return description_dir() / URDF_NAME


def xacro_path() -> Path:
    """Path of the SO-101 xacro, the source of the URDF."""
    return description_dir() / XACRO_NAME


def expand_xacro(mappings: dict[str, str] | None = None) -> str:
    """Expand the SO-101 xacro with ``mappings`` (xacro arguments) and return the URDF text.

    Raises:
        DescriptionError: the ``xacro`` package is missing or the expansion failed (for example
            an unknown ``hardware`` value).
    """
    try:
        import xacro
    except ImportError as e:
        raise DescriptionError(
            'expanding the xacro needs the xacro package: pip install xacro (or source ROS 2)'
        ) from e
    try:
        doc = xacro.process_file(str(xacro_path()), mappings=dict(mappings or {}))
    except Exception as e:  # xacro raises bare XacroException / NameError / ...
        raise DescriptionError(f'xacro expansion of {xacro_path()} failed: {e}') from e
    return doc.toprettyxml(indent='  ')


def regenerate(out: Path | None = None) -> Path:
    """Write the default expansion of the xacro to ``out`` (default: the committed URDF).

    The file is written to a temporary name and renamed, so a failure leaves the old file intact.
    """
    target = out or urdf_path()
    text = expand_xacro()
    tmp = target.with_suffix(target.suffix + '.tmp')
    tmp.write_text(text, encoding='utf-8')
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    regen = sub.add_parser('regenerate', help='rewrite urdf/so101.urdf from the xacro')
    regen.add_argument('--out', type=Path, default=None)
    args = parser.parse_args(argv)
    print(regenerate(args.out))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
