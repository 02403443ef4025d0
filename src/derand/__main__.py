"""``python -m derand``."""

import sys

from derand.cli import main

sys.exit(main())
