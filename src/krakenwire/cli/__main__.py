"""``python -m krakenwire.cli``."""

import sys

from krakenwire.cli import main

sys.exit(main())
