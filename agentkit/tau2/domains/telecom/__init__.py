"""tau2 telecom domain: agent tools, the user's phone tools, hidden setup and assertions.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research).

Modules: :mod:`.models` / :mod:`.user_models` (DBs), :mod:`.tools` (13 agent tools),
:mod:`.user_tools` (30 phone tools), :mod:`.phone` (phone state machine), :mod:`.agent_setup` /
:mod:`.user_setup` (hidden initialization and assertion functions), :mod:`.environment`
(sync, policies, factory), :mod:`.task_data` (cached task loading).
"""

from .environment import TelecomEnvironment, get_environment, get_policy
from .task_data import get_splits, get_tasks

__all__ = [
    "TelecomEnvironment",
    "get_environment",
    "get_policy",
    "get_splits",
    "get_tasks",
]
