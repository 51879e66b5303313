"""``python -m rs_guard``: the same as the ``rs-guard`` command."""

import sys

from .cli import main

sys.exit(main())
