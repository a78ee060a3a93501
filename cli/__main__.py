"""`python -m cli ...`."""

import sys

from cli.classify import main

sys.exit(main())
