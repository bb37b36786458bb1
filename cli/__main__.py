"""``python -m cli``: the ``cofi`` command."""

import sys

from cli.main import main

sys.exit(main())
