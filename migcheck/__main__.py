"""``python -m migcheck`` runs the CLI."""

import sys

from migcheck.cli import main

sys.exit(main())
