"""The standalone runner, ``smolvla-run``: see ``cli.py`` (options), ``run.py`` (the simulator),
``real.py`` (a real SO arm), ``display.py`` (the live view) and ``artifacts/`` (the run folder)."""
