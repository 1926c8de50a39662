"""Validated configuration of the async runtime. Every field carries its unit.

A node reads its ROS parameters once into :class:`RuntimeConfig`; the CLI and the benchmark build
it directly. Impossible values are rejected in ``__post_init__`` with a message naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from smolvla_ros.runtime.enums import BlendMode
from so_arm_driver.robots import RobotSpec, robot_spec

# Blending modes of an arriving chunk with the queued one, documented on BlendMode. The members
# are strs, so argparse choices and comparisons with plain strings keep working.
BLEND_MODES: tuple[BlendMode, ...] = tuple(BlendMode)
RUNTIME_MODES: tuple[str, ...] = ('async', 'sync')


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f'{name} must be a finite number > 0, got {value!r}')


@dataclass(frozen=True)
class SafetyConfig:
    """Limits every command passes through, per joint in ``joint_names`` order.

    Attributes:
        joint_names: the command order; chunks must carry exactly these names in this order.
        lower_rad / upper_rad: position limits, radians (URDF).
        velocity_limit_rad_s: per-joint speed clamp, rad/s.
        acceleration_limit_rad_s2: per-joint acceleration clamp, rad/s^2, applied while tracking a
            chunk (a hold is a stop command, which the servo's own position loop performs).
        watchdog_timeout_s: no valid chunk for this long -> drop the queue and hold, seconds.
        soft_start_speed_fraction: fraction of the velocity limit used to ramp from the measured
            position to the first action (after start-up and after an e-stop reset).
    """

    joint_names: tuple[str, ...]
    lower_rad: tuple[float, ...]
    upper_rad: tuple[float, ...]
    velocity_limit_rad_s: tuple[float, ...]
    acceleration_limit_rad_s2: tuple[float, ...]
    watchdog_timeout_s: float = 3.0
    soft_start_speed_fraction: float = 0.5

    def __post_init__(self) -> None:
        j = len(self.joint_names)
        if j == 0 or len(set(self.joint_names)) != j:
            raise ValueError(f'joint_names must be non-empty and unique, got {self.joint_names}')
        per_joint = ('lower_rad', 'upper_rad', 'velocity_limit_rad_s', 'acceleration_limit_rad_s2')
        for name in per_joint:
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) != j:
                raise ValueError(f'{name} has {len(values)} values; expected {j} (one per joint)')
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f'{name} must be finite, got {values}')
            object.__setattr__(self, name, values)
        for jn, lo, hi in zip(self.joint_names, self.lower_rad, self.upper_rad, strict=True):
            if not lo < hi:
                raise ValueError(f'joint {jn!r}: lower limit {lo} rad must be below upper {hi}')
        for name in ('velocity_limit_rad_s', 'acceleration_limit_rad_s2'):
            if any(v <= 0 for v in getattr(self, name)):
                raise ValueError(f'{name} must be > 0 for every joint, got {getattr(self, name)}')
        _positive('watchdog_timeout_s', self.watchdog_timeout_s)
        if not 0 < self.soft_start_speed_fraction <= 1:
            raise ValueError(
                'soft_start_speed_fraction must lie in (0, 1], got '
                f'{self.soft_start_speed_fraction}'
            )

    @classmethod
    def from_robot(
        cls, robot: RobotSpec | str = 'so101', acceleration_limit_rad_s2: float = 20.0, **kw: float
    ) -> SafetyConfig:
        """Limits of ``robot`` (a RobotSpec or its name) from ``so_arm_driver.robots``.

        Args:
            robot: the arm definition or 'so101' / 'so100'.
            acceleration_limit_rad_s2: the same acceleration clamp for every joint, rad/s^2.
            **kw: other fields (watchdog_timeout_s, soft_start_speed_fraction).
        """
        spec = robot_spec(robot) if isinstance(robot, str) else robot
        return cls(
            joint_names=spec.joint_names,
            lower_rad=tuple(j.lower_rad for j in spec.joints),
            upper_rad=tuple(j.upper_rad for j in spec.joints),
            velocity_limit_rad_s=tuple(j.velocity_limit_rad_s for j in spec.joints),
            acceleration_limit_rad_s2=(acceleration_limit_rad_s2,) * len(spec.joints),
            **kw,
        )


@dataclass(frozen=True)
class ObservationFilterConfig:
    """Skip inference requests for observations too close to the last processed one.

    Attributes:
        enabled: off switch; when False every wanted request is sent.
        epsilon_rad: skip when the weighted joint-space distance (a weighted Euclidean norm, rad)
            to the last processed observation is below this. 0.05 rad is about 3 degrees.
        joint_weights: per-joint weights (dimensionless, >= 0); None means all 1.
    """

    enabled: bool = True
    epsilon_rad: float = 0.05
    joint_weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon_rad) and self.epsilon_rad >= 0):
            raise ValueError(f'epsilon_rad must be a finite number >= 0, got {self.epsilon_rad}')
        if self.joint_weights is not None:
            w = tuple(float(x) for x in self.joint_weights)
            if not w or any(not math.isfinite(x) or x < 0 for x in w):
                raise ValueError(f'joint_weights must be finite and >= 0, got {w}')
            object.__setattr__(self, 'joint_weights', w)


@dataclass(frozen=True)
class RuntimeConfig:
    """Everything the executor needs.

    Attributes:
        tick_rate_hz: command rate, Hz (independent of the policy's dt); 1..1000.
        mode: 'async' (request at threshold g) or 'sync' (the baseline: request only when the
            queue is empty and hold still until the chunk arrives; identical to async with g = 0).
        g: request the next chunk when the remaining fraction of the current chunk falls to g,
            in [0, 1]. 0.7 as in the SmolVLA paper.
        blending: a BlendMode or its string value ('crossfade', ...); stored as the BlendMode.
        crossfade_s: minimum crossfade length, seconds; the crossfade also lengthens so the blend
            adds at most half the velocity limit, and never outlasts the queued chunk.
        request_timeout_s: a request unanswered this long is considered lost (counted) and a new
            one may be sent, seconds.
        history_len: samples kept in each metrics time series (ring buffers).
        future_tolerance_s: a chunk whose observation time is later than the executor's clock by
            more than this is rejected ('future'), seconds. Observation times come from the
            executor's own clock (ObservationSnapshot.time_s), so an honest chunk is never in
            the future; the tolerance only absorbs restamping by a policy host whose clock is
            synchronized to the robot's (NTP/PTP on a LAN keeps that within a few ms). It must
            stay small: an accepted chunk stamped d seconds ahead blocks every honest chunk as
            out of order for d seconds, so 0.05 s bounds that to under two 30 Hz ticks.
        max_chunk_length: most actions a chunk may carry ('too_long' beyond), >= 1. SmolVLA's
            chunk is 50; 1000 leaves room for long-horizon policies while bounding the cost of
            the merge tick (blending is linear in the chunk length).
    """

    tick_rate_hz: float = 30.0
    mode: str = 'async'
    g: float = 0.7
    blending: BlendMode | str = BlendMode.CROSSFADE
    crossfade_s: float = 0.3
    request_timeout_s: float = 5.0
    history_len: int = 20_000
    future_tolerance_s: float = 0.05
    max_chunk_length: int = 1000
    observation_filter: ObservationFilterConfig = field(default_factory=ObservationFilterConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig.from_robot)

    def __post_init__(self) -> None:
        _positive('tick_rate_hz', self.tick_rate_hz)
        if self.tick_rate_hz > 1000:
            raise ValueError(f'tick_rate_hz must be <= 1000 Hz, got {self.tick_rate_hz}')
        if self.mode not in RUNTIME_MODES:
            raise ValueError(f'mode must be one of {RUNTIME_MODES}, got {self.mode!r}')
        if not (math.isfinite(self.g) and 0 <= self.g <= 1):
            raise ValueError(f'g (queue threshold) must lie in [0, 1], got {self.g}')
        object.__setattr__(self, 'blending', BlendMode.parse(self.blending, 'blending'))
        if not (math.isfinite(self.crossfade_s) and self.crossfade_s >= 0):
            raise ValueError(f'crossfade_s must be >= 0 seconds, got {self.crossfade_s}')
        _positive('request_timeout_s', self.request_timeout_s)
        if self.history_len < 1:
            raise ValueError(f'history_len must be >= 1, got {self.history_len}')
        if not (math.isfinite(self.future_tolerance_s) and self.future_tolerance_s >= 0):
            raise ValueError(
                f'future_tolerance_s must be a finite number >= 0 seconds, got '
                f'{self.future_tolerance_s!r}'
            )
        if isinstance(self.max_chunk_length, bool) or not isinstance(self.max_chunk_length, int):
            raise ValueError(
                f'max_chunk_length must be an int (actions), got {self.max_chunk_length!r}'
            )
        if self.max_chunk_length < 1:
            raise ValueError(f'max_chunk_length must be >= 1 action, got {self.max_chunk_length}')
        weights = self.observation_filter.joint_weights
        if weights is not None and len(weights) != len(self.safety.joint_names):
            raise ValueError(
                f'observation_filter.joint_weights has {len(weights)} values for '
                f'{len(self.safety.joint_names)} joints {self.safety.joint_names}'
            )

    @property
    def tick_period_s(self) -> float:
        """Tick period, seconds."""
        return 1.0 / self.tick_rate_hz

    @property
    def joint_names(self) -> tuple[str, ...]:
        """The command order (from the safety config)."""
        return self.safety.joint_names

    @property
    def effective_g(self) -> float:
        """The threshold actually used: sync mode is g = 0."""
        return 0.0 if self.mode == 'sync' else self.g
