"""``python -m agentkit.sandbox build [--offline] [--if-missing] | doctor``."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
