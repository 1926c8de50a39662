"""smolvla_model: SmolVLA in PyTorch + transformers, compatible with LeRobot checkpoints.

ROS-free. Heavy imports (torch, transformers) happen in the submodules that need them.
"""

__version__ = '0.1.0'
