"""The safety limiter: position limits, velocity and acceleration clamps, each clamp counted.

Every command the executor returns passes through :meth:`SafetyLimiter.limit`. The watchdog,
soft start and the latched emergency stop are states of the executor; their speed rules live here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from smolvla_ros.runtime.config import SafetyConfig

ClampCounter = Callable[[str, np.ndarray], None]  # (kind, boolean mask over joints)


class SafetyLimiter:
    """Clamp planned commands to what the arm may do.

    Args:
        config: limits per joint.
        count: called as ``count(kind, mask)`` for each kind ('position', 'velocity',
            'acceleration') with a boolean mask of the joints clamped in this command.
        tick_period_s: the nominal command period, seconds (> 0). No command moves a joint more
            than its velocity limit times this, however long ago the previous command was.

    Raises:
        ValueError: ``tick_period_s`` is not a finite number > 0.
    """

    def __init__(self, config: SafetyConfig, count: ClampCounter, tick_period_s: float) -> None:
        if not (math.isfinite(tick_period_s) and tick_period_s > 0):
            raise ValueError(f'tick_period_s must be a finite number > 0, got {tick_period_s!r}')
        self.config = config
        self.tick_period_s = float(tick_period_s)
        self._lo = np.asarray(config.lower_rad)
        self._hi = np.asarray(config.upper_rad)
        self._vmax = np.asarray(config.velocity_limit_rad_s)
        self._amax = np.asarray(config.acceleration_limit_rad_s2)
        self._count = count

    def effective_dt(self, dt_s: float) -> float:
        """The time step the limits are applied over: ``min(dt_s, tick_period_s)``, seconds.

        After a host stall (dt_s of several periods) the servo has long reached the previous
        command; allowing v_max * dt_s would send it one large jump. Capping the step at one
        period's worth makes a stalled host slow the arm down instead.
        """
        return min(float(dt_s), self.tick_period_s)

    @property
    def velocity_limit_rad_s(self) -> np.ndarray:
        """Per-joint velocity limits, rad/s (a copy)."""
        return self._vmax.copy()

    def limit(
        self,
        target_rad: np.ndarray,
        prev_cmd_rad: np.ndarray,
        prev_vel_rad_s: np.ndarray,
        *,
        dt_s: float,
        soft_start: bool,
        tracking: bool = True,
    ) -> np.ndarray:
        """The command to send instead of ``target_rad``.

        Order: the target is clamped to the position limits; the step from the previous command
        is clamped to v_max*dt (times the soft-start fraction during soft start); while tracking
        a chunk, the velocity towards a position limit is capped so that the step plus a stop at
        a_max fits in the room left (the joint brakes to a stop there; counted as a velocity
        clamp) and the change of velocity is clamped to a_max*dt; a final position clamp guards
        against an overshoot from the acceleration clamp. A joint that starts outside its limits
        (measured position after calibration drift) is ramped in, never snapped.

        Here dt is :meth:`effective_dt` (``dt_s`` capped at the tick period), for the velocity
        and the acceleration clamp alike, so no command steps more than v_max * tick period and
        consecutive steps differ by at most a_max * tick period^2, whatever the clock does. The
        caller must compute ``prev_vel_rad_s`` with the same effective dt.

        Args:
            target_rad: planned command, shape (J,).
            prev_cmd_rad: previous command, shape (J,).
            prev_vel_rad_s: previous command velocity, rad/s, shape (J,).
            dt_s: time since the previous command, seconds (> 0; capped at the tick period).
            soft_start: use the reduced soft-start speed.
            tracking: False for holds, which skip the acceleration clamp (a hold is a stop).
        """
        dt_s = self.effective_dt(dt_s)
        goal = np.clip(target_rad, self._lo, self._hi)
        self._count('position', goal != target_rad)
        vmax = self._vmax * (self.config.soft_start_speed_fraction if soft_start else 1.0)
        max_step = vmax * dt_s
        step = goal - prev_cmd_rad
        clamped_step = np.clip(step, -max_step, max_step)
        velocity_clamped = clamped_step != step
        if tracking:
            # Brake ahead of the position limits: towards a limit at most the speed v from which
            # this step (v dt) plus a stop at a_max (v^2 / 2 a_max) still fits in the room d
            # left, v = -a dt + sqrt((a dt)^2 + 2 a d). Without it the final position clamp
            # stopped a joint moving at full speed within one tick, and the (simulated) servo
            # overshot the limit (seen: gripper 1.757 rad, limit 1.745).
            adt = self._amax * dt_s
            room_lo = np.maximum(prev_cmd_rad - self._lo, 0.0)
            room_hi = np.maximum(self._hi - prev_cmd_rad, 0.0)
            braked = np.clip(
                clamped_step,
                -(np.sqrt(adt * adt + 2.0 * self._amax * room_lo) - adt) * dt_s,
                (np.sqrt(adt * adt + 2.0 * self._amax * room_hi) - adt) * dt_s,
            )
            velocity_clamped |= braked != clamped_step
            clamped_step = braked
        self._count('velocity', velocity_clamped)
        if tracking:
            dv_max = self._amax * dt_s
            vel = clamped_step / dt_s
            acc_vel = np.clip(vel, prev_vel_rad_s - dv_max, prev_vel_rad_s + dv_max)
            # the acceleration clamp must not push past the velocity limit either
            acc_vel = np.clip(acc_vel, -vmax, vmax)
            changed = acc_vel != vel
            self._count('acceleration', changed)
            clamped_step = np.where(changed, acc_vel * dt_s, clamped_step)
        cmd = prev_cmd_rad + clamped_step
        lo = np.minimum(self._lo, prev_cmd_rad)
        hi = np.maximum(self._hi, prev_cmd_rad)
        final = np.clip(cmd, lo, hi)
        self._count('position', final != cmd)
        return final
