"""`python -m components.cli`: the same as `fluxboot`."""

import sys

from components.cli.main import main

sys.exit(main())
