"""What the simulator node needs besides the simulator itself: its validated settings, a clock
that runs the simulation at a chosen real-time factor, publish cadences on simulated time, a
change detector for the cube/bin poses, and the pinhole intrinsics of the MuJoCo cameras.
ROS-free; ``smolvla_ros.nodes.sim_node`` reads its parameters into :class:`SimNodeConfig`.

Stepping and rendering: the node steps the physics (``so_arm_driver.sim.clock_synced``) up to
``real_time_factor x`` the steady time elapsed, on one timer, and renders the three cameras on
the same thread only when their cadence is due (3 x 256x256 cost ~7.5 ms on this CPU, physics a
33 ms tick ~0.6 ms), so rendering delays the physics by at most one render and the next tick
catches up in whole physics steps: simulated time never drifts from the scaled wall clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from so_arm_driver.sim.clock_synced import DEFAULT_PHYSICS_DT_S
from so_arm_driver.sim.config import SimConfig


@dataclass(frozen=True)
class SimNodeConfig:
    """Settings of the simulator node, validated on construction.

    Attributes:
        step_rate_hz: how often the node steps the physics up to the clock and publishes
            /clock, wall-clock Hz (the physics itself always integrates at 600 Hz).
        joint_state_rate_hz: joint states per simulated second.
        camera_rate_hz: camera sets (all three slots, one stamp) per simulated second.
        pose_rate_hz: cube/bin pose and task-success repeats per simulated second (they are also
            sent at once when they change).
        real_time_factor: simulated seconds per wall second (1.0 = real time).
        image_width, image_height: camera size, pixels (16..2048).
        seed: seed of the first scene; each reset uses the next integer.
        pose_tolerance_m / yaw_tolerance_rad: a pose moved less than this is "unchanged".
        lockstep: pace simulated time by the joint commands (:class:`LockstepClock`) instead
            of the wall clock alone, so a controller on a loaded host never falls behind it.
        lockstep_lead_s: in lockstep, how far simulated time may run past the newest
            command's stamp, s; must exceed the controller's tick period (30 Hz: 0.033 s).
        lockstep_timeout_s: in lockstep, steady seconds without a newer command after which
            the simulation runs free at ``real_time_factor`` (no controller running).

    Raises:
        ValueError: an impossible value, named.
    """

    step_rate_hz: float = 100.0
    joint_state_rate_hz: float = 50.0
    camera_rate_hz: float = 10.0
    pose_rate_hz: float = 2.0
    real_time_factor: float = 1.0
    image_width: int = 256
    image_height: int = 256
    seed: int = 0
    pose_tolerance_m: float = 5e-4
    yaw_tolerance_rad: float = 0.01
    lockstep: bool = False
    lockstep_lead_s: float = 0.05
    lockstep_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        for name in (
            'step_rate_hz',
            'joint_state_rate_hz',
            'camera_rate_hz',
            'pose_rate_hz',
            'real_time_factor',
            'pose_tolerance_m',
            'yaw_tolerance_rad',
            'lockstep_lead_s',
            'lockstep_timeout_s',
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f'{name} must be a number, got {value!r}')
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be a finite number > 0, got {value!r}')
        if self.real_time_factor > 50.0:
            raise ValueError(
                f'real_time_factor {self.real_time_factor} is above 50: the physics runs about '
                '20x real time on one CPU core, so the simulation could not keep up'
            )
        if not isinstance(self.lockstep, bool):
            raise ValueError(f'lockstep must be a bool, got {self.lockstep!r}')
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f'seed must be an int >= 0, got {self.seed!r}')
        self.sim_config()  # the simulator's own checks (image size)

    def sim_config(self) -> SimConfig:
        """The simulator's settings: one control step = one physics step (1/600 s), so the
        node can step to any time within 1.7 ms.

        Raises:
            so_arm_driver.sim.SimConfigError: image size outside 16..2048 (a ValueError).
        """
        return SimConfig(
            physics_dt_s=DEFAULT_PHYSICS_DT_S,
            control_dt_s=DEFAULT_PHYSICS_DT_S,
            image_width=self.image_width,
            image_height=self.image_height,
            seed=self.seed,
        )


class ScaledClock:
    """``now()`` = ``factor`` x steady seconds since construction: the simulation's target time.

    Args:
        factor: simulated seconds per real second (> 0).
        monotonic: the steady clock, seconds (injected in tests).
    """

    def __init__(self, factor: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f'real-time factor must be > 0, got {factor!r}')
        self._factor = float(factor)
        self._monotonic = monotonic
        self._start = monotonic()

    def now(self) -> float:
        """Target simulated seconds (>= 0)."""
        return self._factor * (self._monotonic() - self._start)


class LockstepClock:
    """Simulated time that waits for the controller: the lockstep mode of the simulator node.

    ``now()`` advances on :meth:`advance` by ``factor`` x the steady time since the previous
    call, like :class:`ScaledClock`, but never past the newest command's stamp + ``lead_s``.
    The controller (executor_node on ``use_sim_time``) stamps each command with the simulated
    time of its tick, so the simulated world never runs more than ``lead_s`` ahead of the last
    tick it acted on: a controller slowed down by a loaded host slows the whole world instead
    of missing ticks in it. Time held back is not caught up later (no burst after a stall).

    The clock runs free (``factor`` x steady time) until the first usable command, and again
    when no newer stamp came for ``timeout_s`` steady seconds (a controller that was never
    started, was deactivated or died does not freeze the world). A stamp <= 0 or not finite
    (an unstamped command) or one not newer than the newest seen neither paces nor counts as
    a sign of life.

    ``lead_s`` must exceed the controller's tick period (plus one 1/600 s physics step): the
    simulator must reach the controller's next deadline for the next command to come. With a
    shorter lead every tick waits for ``timeout_s``.

    Args:
        factor: simulated seconds per steady second while not held back (> 0).
        lead_s: how far simulated time may run past the newest command stamp, s (> 0).
        timeout_s: steady seconds without a newer command after which the clock runs free
            (> 0).
        monotonic: the steady clock, seconds (injected in tests).

    Raises:
        ValueError: a non-finite or non-positive argument, named.
    """

    def __init__(
        self,
        factor: float,
        lead_s: float,
        timeout_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (('factor', factor), ('lead_s', lead_s), ('timeout_s', timeout_s)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'lockstep {name} must be a finite number > 0, got {value!r}')
        self._factor = float(factor)
        self._lead = float(lead_s)
        self._timeout = float(timeout_s)
        self._monotonic = monotonic
        self._last_steady = monotonic()
        self._now = 0.0
        self._newest: float | None = None  # newest command stamp, s (simulated)
        self._newest_at = -math.inf  # steady time it arrived, s
        self.held_ticks = 0  # advance() calls the lead held back
        self.commands_counted = 0  # commands whose stamp paced the clock

    def now(self) -> float:
        """Target simulated seconds (>= 0); changes only in :meth:`advance`."""
        return self._now

    @property
    def newest_command_s(self) -> float | None:
        """The newest command stamp seen, simulated s (None before the first)."""
        return self._newest

    def pacing(self) -> bool:
        """True while commands pace the clock (a newer stamp came within ``timeout_s``)."""
        return self._monotonic() - self._newest_at <= self._timeout

    def command(self, stamp_s: float) -> bool:
        """Note a command stamped ``stamp_s`` (simulated s); True when it paces the clock."""
        if not (math.isfinite(stamp_s) and stamp_s > 0):
            return False
        if self._newest is not None and stamp_s <= self._newest:
            return False
        self._newest = float(stamp_s)
        self._newest_at = self._monotonic()
        self.commands_counted += 1
        return True

    def advance(self) -> float:
        """Move the target on by the steady time since the last call (x factor), held back to
        the newest command stamp + ``lead_s`` while pacing; returns ``now()`` (never less than
        before)."""
        steady = self._monotonic()
        target = self._now + self._factor * max(0.0, steady - self._last_steady)
        self._last_steady = steady
        if self._newest is not None and steady - self._newest_at <= self._timeout:
            limit = self._newest + self._lead
            if target > limit:
                target = max(self._now, limit)
                self.held_ticks += 1
        self._now = target
        return target


class Cadence:
    """Says when something published at ``rate_hz`` is due, on any clock.

    ``due(t)`` is True at the first call and then once per period: deadlines are absolute
    (t0 + n / rate) so the rate does not drift; after a gap longer than one period it
    re-anchors at ``t`` instead of firing the missed ones in a burst.
    """

    def __init__(self, rate_hz: float) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f'rate must be > 0 Hz, got {rate_hz!r}')
        self.period_s = 1.0 / float(rate_hz)
        self._next: float | None = None

    def due(self, t: float) -> bool:
        """True when ``t`` (seconds) reached the next deadline; then the deadline moves on."""
        # A tiny tolerance: sums of float steps land a hair before an exact deadline.
        if self._next is not None and t < self._next - 1e-9:
            return False
        if self._next is None or t >= self._next + self.period_s:
            self._next = t + self.period_s
        else:
            self._next += self.period_s
        return True

    def reset(self) -> None:
        """Make the next ``due`` fire at once (e.g. after a scene reset)."""
        self._next = None


class PoseGate:
    """Decides when a pose (position m, yaw rad) is worth publishing: when it moved more than
    the tolerances since it was last published, or when ``period_s`` passed since then."""

    def __init__(self, period_s: float, tolerance_m: float, yaw_tolerance_rad: float) -> None:
        self._period = float(period_s)
        self._tol = float(tolerance_m)
        self._yaw_tol = float(yaw_tolerance_rad)
        self._last: tuple[np.ndarray, float, float] | None = None

    def should_publish(self, t: float, position_m: np.ndarray, yaw_rad: float) -> bool:
        """True (and remember this pose) when it changed or the repeat period passed."""
        pos = np.asarray(position_m, dtype=np.float64)
        if self._last is not None:
            last_pos, last_yaw, last_t = self._last
            # Yaw difference wrapped to (-pi, pi]: -pi and pi are the same heading.
            dyaw = abs(math.remainder(yaw_rad - last_yaw, 2.0 * math.pi))
            moved = float(np.max(np.abs(pos - last_pos))) > self._tol or dyaw > self._yaw_tol
            if not moved and t - last_t < self._period - 1e-9 and t >= last_t:
                return False
        self._last = (pos.copy(), float(yaw_rad), float(t))
        return True

    def reset(self) -> None:
        """Publish the next pose whatever it is."""
        self._last = None


def pinhole_intrinsics(
    fovy_deg: float, width: int, height: int
) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) in pixels of a MuJoCo camera with vertical field of view ``fovy_deg``.

    MuJoCo renders a symmetric perspective frustum with square pixels: f = (H / 2) /
    tan(fovy / 2) for both axes, and the optical axis through the image centre, which in ROS
    pixel coordinates (u = 0 at the centre of the first pixel) is ((W - 1) / 2, (H - 1) / 2).

    Raises:
        ValueError: fovy outside (0, 180) degrees or a non-positive size.
    """
    if not 0.0 < fovy_deg < 180.0 or width <= 0 or height <= 0:
        raise ValueError(
            f'need 0 < fovy < 180 deg and a positive size, got {fovy_deg} deg, {width}x{height}'
        )
    f = (height / 2.0) / math.tan(math.radians(fovy_deg) / 2.0)
    return f, f, (width - 1) / 2.0, (height - 1) / 2.0
