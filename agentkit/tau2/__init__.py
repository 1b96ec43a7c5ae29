"""tau2-bench domains, environments and tasks for agentkit (loaded lazily).

Domain data (DBs, tasks, policies) is read from a tau2 data directory; see
:mod:`agentkit.tau2.data`. Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

from ..lazy import lazy_exports

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
    "Environment": "environment",
    "to_json_str": "environment",
    "Task": "tasks",
    "load_tasks": "tasks",
    "ToolKitBase": "toolkit",
    "ToolType": "toolkit",
    "get_domain": "registry",
    "RewardInfo": "grading",
    "evaluate": "grading",
    "pass_hat_k": "grading",
    "ScriptedUser": "user",
    "llm_user": "user",
    "load_results": "results",
    "replay_gold": "replay",
    "RunConfig": "runner",
    "run_benchmark": "runner",
    "run_simulation": "runner",
    "simulate": "orchestrator",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
