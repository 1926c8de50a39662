"""The arm interface every backend presents, and the one goal path they all share.

The runtime and the nodes talk to an ``Arm`` and cannot tell which backend is behind it: the real
bus driver (``follower.SoFollower``), the MuJoCo simulator (``sim.SimArm``), the simulator on an
injected clock (``sim.clock_synced.ClockSyncedSimArm``) or the first-order servo model
(``kinematic_arm.KinematicArm``). All positions are radians in the URDF convention, in the order
of ``joint_names``.

``Arm.write_goals`` is the only implementation of the command path; in order it

1. refuses a closed or disconnected arm (``_require_open``);
2. rejects a goal of the wrong shape or with a NaN/inf (``SoArmGoalError``, or the backend's
   subclass, naming the joints) before anything is sent;
3. clamps each joint to ``limits_rad``;
4. lets the backend restrict the goal further (``_restrict``: the follower's per-command step
   limit, which needs a read and so may raise; nothing is sent then);
5. sends the result (``_send``), which returns what was actually commanded;
6. counts every joint whose goal a limit changed and returns a ``CommandResult``.

A backend implements ``_send``, ``read_positions``, ``set_torque`` and ``_release`` (what
``close()`` frees, called once). See ``docs/notes/arms.md`` for a worked example.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from so_arm_driver.errors import SoArmConfigError, SoArmGoalError, SoArmNotConnectedError


@dataclass(frozen=True)
class CommandResult:
    """What an arm actually did with a goal.

    Attributes:
        sent_rad: the goal positions actually commanded after clamping, radians, shape (J,).
        clamped: names of the joints whose goal was changed by a limit in this command.
    """

    sent_rad: np.ndarray
    clamped: tuple[str, ...] = field(default_factory=tuple)


class Arm(abc.ABC):
    """Position-controlled arm: validation, clamping and clamp counting for every backend.

    Args:
        joint_names: joint names, in the order every array of this interface uses.
        limits_rad: position limits, radians, shape (J, 2): [lower, upper] per joint. A backend
            that learns its limits later (the follower, at connect) updates them with
            ``_set_limits``.
    Raises:
        SoArmConfigError: the limits have the wrong shape, a NaN, or lower > upper.
    """

    #: The error ``write_goals`` raises for a bad goal; a backend may name a subclass.
    goal_error: type[SoArmGoalError] = SoArmGoalError

    def __init__(self, joint_names: Sequence[str], limits_rad: np.ndarray) -> None:
        self._joint_names = tuple(joint_names)
        self._clamps = dict.fromkeys(self._joint_names, 0)
        self._closed = False
        self._set_limits(limits_rad)

    # ---- identity ------------------------------------------------------------------------

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Joint names in the order every array of this interface uses."""
        return self._joint_names

    @property
    def limits_rad(self) -> np.ndarray:
        """Position limits, radians, shape (J, 2): [lower, upper] per joint (a copy)."""
        return self._limits.copy()

    @property
    def clamp_counts(self) -> dict[str, int]:
        """How many goals each joint had changed by a limit since the arm was made."""
        return dict(self._clamps)

    @property
    def closed(self) -> bool:
        """True once ``close()`` has run."""
        return self._closed

    def _set_limits(self, limits_rad: np.ndarray) -> None:
        limits = np.array(limits_rad, dtype=np.float64)
        n = len(self._joint_names)
        if limits.shape != (n, 2):
            raise SoArmConfigError(
                f'limits must have shape ({n}, 2) for {list(self._joint_names)}, '
                f'got {limits.shape}'
            )
        bad = [
            j
            for j, (lo, hi) in zip(self._joint_names, limits, strict=True)
            if math.isnan(lo) or math.isnan(hi) or lo > hi
        ]
        if bad:
            raise SoArmConfigError(f'limits of {bad} are NaN or have lower > upper: {limits}')
        self._limits = limits

    # ---- the command path ----------------------------------------------------------------

    def write_goals(self, goals_rad: np.ndarray) -> CommandResult:
        """Command goal positions (radians, shape (J,), ``joint_names`` order), clamped.

        Returns:
            What was commanded (radians, inside ``limits_rad``) and which joints a limit changed.
        Raises:
            SoArmNotConnectedError: the arm is closed (or, for the follower, not connected).
            SoArmGoalError (or the backend's ``goal_error``): wrong shape, or a NaN/inf; the
                message names the joints; nothing is sent and no count changes.
            SoArmError subclasses from ``_restrict``/``_send`` (e.g. a failed bus read): nothing
                is counted.
        """
        self._require_open()
        goals = self._validate(goals_rad)
        target = np.clip(goals, self._limits[:, 0], self._limits[:, 1])
        target = self._restrict(target)
        sent = np.array(self._send(target), dtype=np.float64)
        changed = target != goals
        names = tuple(j for j, c in zip(self._joint_names, changed, strict=True) if c)
        for j in names:
            self._clamps[j] += 1
        return CommandResult(sent_rad=sent, clamped=names)

    def _validate(self, goals_rad: np.ndarray) -> np.ndarray:
        n = len(self._joint_names)
        try:
            goals = np.array(goals_rad, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise self.goal_error(
                f'goals must be {n} numbers (radians) for {list(self._joint_names)}; {e}; '
                'nothing was sent'
            ) from e
        if goals.shape != (n,):
            raise self.goal_error(
                f'goals must have shape ({n},) in the order {list(self._joint_names)}, got '
                f'{goals.shape}; nothing was sent'
            )
        bad = [j for j, g in zip(self._joint_names, goals, strict=True) if not math.isfinite(g)]
        if bad:
            raise self.goal_error(
                f'goal for joint(s) {bad} is not a finite number; nothing was sent'
            )
        return goals

    def _restrict(self, target_rad: np.ndarray) -> np.ndarray:
        """Further limits on a clamped goal (radians); by default none. May raise: nothing sent."""
        return target_rad

    @abc.abstractmethod
    def _send(self, goals_rad: np.ndarray) -> np.ndarray:
        """Command validated goals inside ``limits_rad``; return what was commanded, radians.

        What is returned must lie inside ``limits_rad`` (a backend that quantises, like the servo
        bus, rounds toward the inside of the range).
        """

    def _require_open(self) -> None:
        """Raise unless commands can be sent; the follower also requires a connection."""
        if self._closed:
            raise SoArmNotConnectedError(
                f'this {type(self).__name__} is closed; make a new one to command the arm'
            )

    # ---- the rest of the interface -------------------------------------------------------

    @abc.abstractmethod
    def read_positions(self) -> np.ndarray:
        """Measured joint positions, radians, shape (J,). Raises rather than guessing."""

    @abc.abstractmethod
    def set_torque(self, enabled: bool) -> None:
        """Enable or disable holding torque on every joint."""

    def _release(self) -> None:  # noqa: B027 - a hook: backends with nothing to free keep it
        """Free what the backend holds (torque off, port, renderer); called once by close()."""

    def close(self) -> None:
        """Release the arm (torque off by default). Idempotent: later calls do nothing."""
        if self._closed:
            return
        # Marked closed first: a release that fails is not retried by the next close().
        self._closed = True
        self._release()

    def __enter__(self) -> Arm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
