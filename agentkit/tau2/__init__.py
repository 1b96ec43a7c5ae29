"""tau2-bench domains, environments and tasks for agentkit (loaded lazily).

Domain data (DBs, tasks, policies) is read from a tau2 data directory; see
:mod:`agentkit.tau2.data`. Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Environment",
    "RewardInfo",
    "RunConfig",
    "ScriptedUser",
    "Task",
    "ToolKitBase",
    "ToolType",
    "evaluate",
    "get_domain",
    "llm_user",
    "load_results",
    "load_tasks",
    "pass_hat_k",
    "replay_gold",
    "run_benchmark",
    "run_simulation",
    "simulate",
    "to_json_str",
]

_LAZY = {
    "Environment": "agentkit.tau2.environment",
    "to_json_str": "agentkit.tau2.environment",
    "Task": "agentkit.tau2.tasks",
    "load_tasks": "agentkit.tau2.tasks",
    "ToolKitBase": "agentkit.tau2.toolkit",
    "ToolType": "agentkit.tau2.toolkit",
    "get_domain": "agentkit.tau2.registry",
    "RewardInfo": "agentkit.tau2.grading",
    "evaluate": "agentkit.tau2.grading",
    "pass_hat_k": "agentkit.tau2.grading",
    "ScriptedUser": "agentkit.tau2.user",
    "llm_user": "agentkit.tau2.user",
    "load_results": "agentkit.tau2.results",
    "replay_gold": "agentkit.tau2.replay",
    "RunConfig": "agentkit.tau2.runner",
    "run_benchmark": "agentkit.tau2.runner",
    "run_simulation": "agentkit.tau2.runner",
    "simulate": "agentkit.tau2.orchestrator",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit.tau2' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
