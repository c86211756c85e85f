"""``python -m probcascade_inference {extract,tiny-model} ...``"""

import sys

from .cli import main

sys.exit(main())
