#!/usr/bin/env bash
# The main job: an agent run with the built-in tools. With no API key it is the offline
# demo (a scripted Thinking-mode model over a loopback server, real tools); with
# DASHSCOPE_API_KEY (or OPENAI_API_KEY) set, the same task runs on the real model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --docker
exec .venv/bin/agentkit demo "$@"
