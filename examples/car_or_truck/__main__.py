"""`python -m examples.car_or_truck ...` runs the command line."""

import sys

from .cli import main

sys.exit(main())
