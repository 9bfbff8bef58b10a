"""``python -m instances``: see :mod:`instances.cli`."""

import sys

from .cli import main

sys.exit(main())
