"""The tau2 mock domain: a tiny task tracker with a user-side notification inbox (smoke tests).

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

from pathlib import Path

from ...data import domain_dir, fresh_db, read_text, tasks_for
from ...environment import Environment
from ...tasks import Task
from .data_model import MockDB, MockUserDB
from .tools import MockTools, MockUserTools

__all__ = [
    "MockDB",
    "MockTools",
    "MockUserDB",
    "MockUserTools",
    "get_environment",
    "get_policy",
    "get_tasks",
]

DOMAIN = "mock"


def get_policy(data_dir: Path | str | None = None, solo_mode: bool = False) -> str:
    name = "policy_solo.md" if solo_mode else "policy.md"
    return read_text(domain_dir(DOMAIN, data_dir) / name)


def get_environment(
    data_dir: Path | str | None = None,
    db: MockDB | None = None,
    user_db: MockUserDB | None = None,
    solo_mode: bool = False,
) -> Environment:
    """A fresh mock environment (agent DB + user notification DB)."""
    folder = domain_dir(DOMAIN, data_dir)
    tools = MockTools(db if db is not None else fresh_db(MockDB, folder / "db.json"))
    user_tools = MockUserTools(
        user_db if user_db is not None else fresh_db(MockUserDB, folder / "user_db.json")
    )
    return Environment(
        domain_name=DOMAIN,
        policy=get_policy(data_dir, solo_mode=solo_mode),
        tools=tools,
        user_tools=user_tools,
        solo_mode=solo_mode,
    )


def get_tasks(data_dir: Path | str | None = None) -> list[Task]:
    return tasks_for(domain_dir(DOMAIN, data_dir) / "tasks.json")
