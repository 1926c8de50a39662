"""The policy side of the suite: the Policy protocol, its implementations and the worker.

Implementations with heavy imports are imported from their modules:
``smolvla_ros.policy.scripted_expert.ScriptedExpertPolicy`` (MuJoCo) and
``smolvla_ros.policy.oracle.OraclePolicy`` (the benchmark's task).
"""

from smolvla_ros.policy.protocol import Policy, PolicyInput
from smolvla_ros.policy.replay import (
    ReplayError,
    ReplayExhaustedError,
    ReplayPolicy,
    record,
    record_chunks,
)
from smolvla_ros.policy.worker import (
    REFUSAL_REASONS,
    PolicyOutputError,
    PolicyWorker,
    PolicyWorkerError,
    WorkerClosedError,
    WorkerConfig,
    WorkerStatus,
)

__all__ = [
    'REFUSAL_REASONS',
    'Policy',
    'PolicyInput',
    'PolicyOutputError',
    'PolicyWorker',
    'PolicyWorkerError',
    'ReplayError',
    'ReplayExhaustedError',
    'ReplayPolicy',
    'WorkerClosedError',
    'WorkerConfig',
    'WorkerStatus',
    'record',
    'record_chunks',
]
