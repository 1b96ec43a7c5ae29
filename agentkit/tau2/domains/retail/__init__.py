"""The tau2 retail domain: orders, returns, exchanges and user profiles.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

from pathlib import Path

from ...data import domain_dir, fresh_db, read_text, tasks_for
from ...environment import Environment
from ...tasks import Task
from .data_model import RetailDB
from .tools import RetailTools

__all__ = ["RetailDB", "RetailTools", "get_db", "get_environment", "get_policy", "get_tasks"]

DOMAIN = "retail"


def get_db(data_dir: Path | str | None = None) -> RetailDB:
    """A private copy of the pristine retail DB (parsed once per data directory)."""
    return fresh_db(RetailDB, domain_dir(DOMAIN, data_dir) / "db.json")


def get_policy(data_dir: Path | str | None = None) -> str:
    return read_text(domain_dir(DOMAIN, data_dir) / "policy.md")


def get_environment(
    data_dir: Path | str | None = None, db: RetailDB | None = None, solo_mode: bool = False
) -> Environment:
    """A fresh retail environment (a new DB copy unless ``db`` is given)."""
    if solo_mode:
        raise ValueError("Retail domain does not support solo mode")
    tools = RetailTools(db if db is not None else get_db(data_dir))
    return Environment(domain_name=DOMAIN, policy=get_policy(data_dir), tools=tools)


def get_tasks(data_dir: Path | str | None = None) -> list[Task]:
    return tasks_for(domain_dir(DOMAIN, data_dir) / "tasks.json")
