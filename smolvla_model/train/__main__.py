import sys

from smolvla_model.train.cli import main

sys.exit(main())
