"""tau2-bench's results layout: files its ``Results.load``, ``tau2 view`` and
``tau2 evaluate-trajs`` read as they are, and reading the files tau2-bench writes.

A results file agentkit writes is a tau2-bench ``Results`` document (``timestamp``, ``info``,
``tasks``, ``simulations``) with agentkit's own data where tau2-bench's pydantic models
ignore extra keys:

- ``info`` holds tau2-bench's ``Info`` (``git_commit``, ``num_trials``, ``max_steps``,
  ``max_errors``, ``seed``, ``user_info``, ``agent_info``, ``environment_info``) beside
  agentkit's run configuration (``domain``, ``agent_model``, ``trials``, ...), which resume
  compares;
- each simulation is a tau2-bench ``SimulationRun``; the fields tau2-bench does not know
  (domain, stop token, steps, error count, attempts, last error, token usage) sit in one
  ``agentkit`` object, so no name can collide with a field a tau2-bench version adds;
- ``format`` / ``version`` at the top mark agentkit's files.

Field names follow tau2-bench (MIT, Sierra Research), version 1.0.
"""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "AGENTKIT_SIM_FIELDS",
    "from_document",
    "git_commit",
    "is_tau2_bench_document",
    "tau2_info",
    "to_document",
]

AGENTKIT_SIM_FIELDS = ("domain", "stop_token", "steps", "num_errors", "attempts", "error",
                       "agent_usage", "user_usage", "agent_modes")
"""Simulation fields tau2-bench's ``SimulationRun`` lacks: stored under ``"agentkit"``."""

_AGENT_IMPLEMENTATION = "agentkit_loop_agent"
_USER_IMPLEMENTATION = "agentkit_llm_user"


@lru_cache(maxsize=1)
def git_commit() -> str:
    """agentkit's version and, when run from a checkout, its git commit (for ``git_commit``)."""
    from .. import __version__

    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
        commit = out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"agentkit {__version__}" + (f" {commit}" if commit else "")


def tau2_info(info: dict[str, Any], policy: str, *, commit: str) -> dict[str, Any]:
    """tau2-bench's ``Info`` fields for agentkit's run configuration ``info`` (added to it)."""
    return {
        **info,
        "git_commit": commit,
        "num_trials": info.get("trials", 1),
        "max_steps": info.get("max_steps", 200),
        "max_errors": info.get("max_errors", 10),
        "seed": info.get("seed"),
        "user_info": {"implementation": _USER_IMPLEMENTATION, "llm": info.get("user_model"),
                      "llm_args": dict(info.get("user_settings") or {})},
        "agent_info": {"implementation": _AGENT_IMPLEMENTATION, "llm": info.get("agent_model"),
                       "llm_args": dict(info.get("agent_settings") or {})},
        "environment_info": {"domain_name": info.get("domain", ""), "policy": policy},
    }


def to_document(data: dict[str, Any]) -> dict[str, Any]:
    """agentkit's dumped ``Results`` -> the on-disk tau2-bench document (a new dict)."""
    doc = dict(data)
    sims = []
    for sim in doc.get("simulations", []):
        sim = dict(sim)
        extra = {k: sim.pop(k) for k in AGENTKIT_SIM_FIELDS if k in sim}
        sim.setdefault("start_time", sim.get("end_time") or doc.get("timestamp") or "")
        sim.setdefault("end_time", sim["start_time"])
        sim.setdefault("duration", 0.0)
        sim["agentkit"] = {**sim.get("agentkit", {}), **extra}
        sims.append(sim)
    doc["simulations"] = sims
    return doc


def is_tau2_bench_document(data: Any) -> bool:
    """A results document tau2-bench wrote (not agentkit's: no ``format`` marker)."""
    return (isinstance(data, dict) and "format" not in data
            and isinstance(data.get("info"), dict)
            and isinstance(data["info"].get("environment_info"), dict)
            and isinstance(data.get("tasks"), list))


def _load_dir_simulations(path: Path) -> list[dict[str, Any]]:
    """tau2-bench's directory layout: one JSON file per simulation in ``simulations/``."""
    sims_dir = (path if path.is_dir() else path.parent) / "simulations"
    out = []
    for f in sorted(sims_dir.glob("*.json")):
        out.append(json.loads(f.read_text(encoding="utf-8")))
    return out


def from_document(data: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """An on-disk document (agentkit v1/v2 or tau2-bench's) -> agentkit ``Results`` data."""
    doc = dict(data)
    if is_tau2_bench_document(doc):
        doc = _from_tau2_bench(doc, path)
    sims = []
    for sim in doc.get("simulations") or []:
        sim = dict(sim)
        extra = sim.pop("agentkit", None)
        if isinstance(extra, dict):
            sim.update(extra)
        sims.append(sim)
    doc["simulations"] = sims
    return doc


def _from_tau2_bench(doc: dict[str, Any], path: Path | None) -> dict[str, Any]:
    info = dict(doc["info"])
    env_info, agent_info = info.get("environment_info") or {}, info.get("agent_info") or {}
    user_info = info.get("user_info") or {}
    domain = env_info.get("domain_name", "")
    info.setdefault("domain", domain)
    info.setdefault("agent_model", agent_info.get("llm"))
    info.setdefault("user_model", user_info.get("llm"))
    info.setdefault("trials", info.get("num_trials"))
    info.setdefault("agent_settings", agent_info.get("llm_args") or {})
    info.setdefault("user_settings", user_info.get("llm_args") or {})
    info["source"] = "tau2-bench"
    sims = doc.get("simulations") or []
    if not sims and path is not None and (doc.get("simulation_index")
                                          or (path.parent / "simulations").is_dir()):
        sims = _load_dir_simulations(path)
    converted = []
    for sim in sims:
        sim = dict(sim)
        sim.pop("agentkit", None)
        if "agent_usage" in sim:  # tau2-bench's provider usage is not agentkit's Usage
            sim["tau2_agent_usage"] = sim.pop("agent_usage")
        sim["domain"] = domain
        if sim.get("trial") is None:
            sim["trial"] = 0
        if sim.get("messages") is None:
            sim["messages"] = []
        converted.append(sim)
    return {**doc, "format": "tau2-bench", "version": 0, "info": info,
            "simulations": converted}
