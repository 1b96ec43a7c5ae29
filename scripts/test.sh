#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: sets up Python, Docker and the sandbox
# image, then runs the linters and every test (Docker tests included; they never skip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --docker
.venv/bin/ruff check .
.venv/bin/mypy agentkit tools sandbox
.venv/bin/python tests/typing/check.py   # mypy --strict and pyright over a user's script
.venv/bin/python -m pytest -q "$@"
