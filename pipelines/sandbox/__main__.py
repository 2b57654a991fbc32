"""`python -m pipelines.sandbox`: run the sandbox in the foreground (see server.main)."""

import sys

from .server import main

sys.exit(main())
