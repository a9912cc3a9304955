"""``python -m tools.classroom ...``: see :mod:`tools.classroom`."""

import sys

from tools.classroom import main

sys.exit(main())
