"""``python -m probcascade``: the command-line interface."""

import sys

from probcascade.cli import main

sys.exit(main())
