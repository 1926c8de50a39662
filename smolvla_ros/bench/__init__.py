"""Benchmarks of the suite: scripts that print numbers (not timed tests).

``python -m smolvla_ros.bench async`` (console script ``smolvla-bench async``) compares the async
runtime with the synchronous baseline and a latency-free run on a simulated pick-and-place task.
"""
