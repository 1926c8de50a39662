"""The simulator's task in words, in one place.

``SIM_TASK`` is the instruction ``smolvla-record`` stores with every demonstration and the default
of ``smolvla-run``, ``smolvla-eval`` and the benchmarks, so that a policy trained on those
recordings (the shipped ``checkpoints/smolvla_so101_sim``) is asked in the words it was trained
with: a text-conditioned policy sees other words as other tokens. It describes the MuJoCo scene of
``so_arm_driver.sim`` (a red cube, a blue bin). Kept free of MuJoCo imports so the command-line
tools can show their help without the simulator installed.
"""

from __future__ import annotations

SIM_TASK = 'pick up the red cube and place it in the bin'
