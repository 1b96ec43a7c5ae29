"""The tau2 airline domain: flight bookings, changes and cancellations.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

from pathlib import Path

from ...data import domain_dir, fresh_db, read_text, tasks_for
from ...environment import Environment
from ...tasks import Task
from .data_model import FlightDB
from .tools import AirlineTools

__all__ = ["AirlineTools", "FlightDB", "get_db", "get_environment", "get_policy", "get_tasks"]

DOMAIN = "airline"


def get_db(data_dir: Path | str | None = None) -> FlightDB:
    """A private copy of the pristine airline DB (parsed once per data directory)."""
    return fresh_db(FlightDB, domain_dir(DOMAIN, data_dir) / "db.json")


def get_policy(data_dir: Path | str | None = None) -> str:
    return read_text(domain_dir(DOMAIN, data_dir) / "policy.md")


def get_environment(
    data_dir: Path | str | None = None, db: FlightDB | None = None, solo_mode: bool = False
) -> Environment:
    """A fresh airline environment (a new DB copy unless ``db`` is given)."""
    if solo_mode:
        raise ValueError("Airline domain does not support solo mode")
    tools = AirlineTools(db if db is not None else get_db(data_dir))
    return Environment(domain_name=DOMAIN, policy=get_policy(data_dir), tools=tools)


def get_tasks(data_dir: Path | str | None = None) -> list[Task]:
    return tasks_for(domain_dir(DOMAIN, data_dir) / "tasks.json")
