"""`python -m explorer.training ...`: the training command line (explorer.training.cli)."""

from explorer.training.cli import main

raise SystemExit(main())
