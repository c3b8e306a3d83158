"""`python -m stack.cli` is the same as `l4`."""

import sys

from stack.cli.main import main

sys.exit(main())
