"""tau2-bench domains, environments and tasks for agentkit (loaded lazily).

Domain data (DBs, tasks, policies) is read from a tau2 data directory; see
:mod:`agentkit.tau2.data`. Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Environment",
    "Task",
    "ToolKitBase",
    "ToolType",
    "get_domain",
    "load_tasks",
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
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit.tau2' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
