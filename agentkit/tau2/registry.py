"""Domain registry: domain name -> module, loaded lazily.

A domain module must define::

    def get_environment(data_dir: Path | str | None = None, **opts) -> Environment
    def get_tasks(data_dir: Path | str | None = None) -> list[Task]

and may define ``get_splits(data_dir=None) -> dict[str, list[str]]`` (default: the domain's
``split_tasks.json``) and ``get_policy(data_dir=None, **opts) -> str``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .environment import Environment
    from .tasks import Task

__all__ = ["DOMAINS", "DomainSpec", "get_domain", "list_domains"]

DOMAINS: dict[str, str] = {
    "airline": "agentkit.tau2.domains.airline",
    "retail": "agentkit.tau2.domains.retail",
    "telecom": "agentkit.tau2.domains.telecom",
    "mock": "agentkit.tau2.domains.mock",
}


@dataclass(frozen=True)
class DomainSpec:
    """How to build a domain's environments and load its tasks."""

    name: str
    module: ModuleType

    def build_env(self, data_dir: Path | str | None = None, **opts: Any) -> Environment:
        """A fresh environment (pristine DB copy, no task state applied)."""
        env: Environment = self.module.get_environment(data_dir=data_dir, **opts)
        return env

    def get_splits(self, data_dir: Path | str | None = None) -> dict[str, list[str]]:
        fn: Callable[..., dict[str, list[str]]] | None = getattr(self.module, "get_splits", None)
        if fn is not None:
            return fn(data_dir=data_dir)
        from .data import domain_dir, splits_for

        return splits_for(domain_dir(self.name, data_dir) / "split_tasks.json")

    def load_tasks(
        self,
        data_dir: Path | str | None = None,
        split: str | None = None,
        task_ids: list[str] | None = None,
    ) -> list[Task]:
        """Tasks filtered by split and/or ids (unknown split or id -> ValueError)."""
        tasks: list[Task] = self.module.get_tasks(data_dir=data_dir)
        splits = self.get_splits(data_dir) if split is not None else {}
        from .tasks import select_tasks

        return select_tasks(tasks, splits, split=split, task_ids=task_ids)

    def policy(self, data_dir: Path | str | None = None, **opts: Any) -> str:
        """The agent policy text."""
        fn = getattr(self.module, "get_policy", None)
        if fn is not None:
            return str(fn(data_dir=data_dir, **opts))
        return self.build_env(data_dir, **opts).policy


def list_domains() -> list[str]:
    return sorted(DOMAINS)


def get_domain(name: str) -> DomainSpec:
    """The :class:`DomainSpec` of ``name`` (unknown name -> ValueError listing the known ones)."""
    if name not in DOMAINS:
        raise ValueError(f"Unknown tau2 domain {name!r} (known: {', '.join(list_domains())})")
    return DomainSpec(name=name, module=importlib.import_module(DOMAINS[name]))
