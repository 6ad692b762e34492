"""`python -m api.cli ...`: the `hpadvisor` command line."""

import sys

from api.cli import main

sys.exit(main())
