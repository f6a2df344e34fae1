"""`python -m explorer.sweep ...`: the sweep command line (explorer.sweep.cli)."""

import sys

from explorer.sweep.cli import main

sys.exit(main())
