"""The policy side of the suite: the Policy protocol and its implementations."""

from smolvla_ros.policy.protocol import Policy, PolicyInput

__all__ = ['Policy', 'PolicyInput']
