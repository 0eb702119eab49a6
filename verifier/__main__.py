"""Run the verifier's command line: ``python -m verifier verify bundle.json``."""

import sys

from verifier.cli import main

sys.exit(main())
