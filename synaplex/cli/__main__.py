"""``python -m synaplex.cli``: the ``synaplex`` command."""

import sys

from synaplex.cli import main

sys.exit(main())
