"""Task models mirroring tau2's ``tasks.json``, and loading tasks by domain/split/id."""

from __future__ import annotations

import json
import textwrap
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Action",
    "Description",
    "EnvAssertion",
    "EnvFunctionCall",
    "EvaluationCriteria",
    "HistoryMessage",
    "HistoryToolCall",
    "InitialState",
    "InitializationData",
    "RewardType",
    "StructuredUserInstructions",
    "Task",
    "UserScenario",
    "load_splits",
    "load_tasks",
    "load_tasks_file",
]

Requestor = Literal["user", "assistant"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StructuredUserInstructions(_Model):
    """The user's situation, in the structured form (airline/retail/telecom)."""

    domain: str
    reason_for_call: str
    known_info: str | None = None
    unknown_info: str | None = None
    task_instructions: str

    def __str__(self) -> str:
        tab = "\t"
        lines = [f"Domain: {self.domain}"]
        lines.append(f"Reason for call:\n{textwrap.indent(self.reason_for_call, tab)}")
        if self.known_info is not None:
            lines.append(f"Known info:\n{textwrap.indent(self.known_info, tab)}")
        if self.unknown_info is not None:
            lines.append(f"Unknown info:\n{textwrap.indent(self.unknown_info, tab)}")
        lines.append(f"Task instructions:\n{textwrap.indent(self.task_instructions, tab)}")
        return "\n".join(lines)


class UserScenario(_Model):
    """Everything the user simulator is told; ``str()`` is tau2's prompt rendering."""

    persona: str | None = None
    instructions: StructuredUserInstructions | str

    def __str__(self) -> str:
        lines: list[str] = []
        if self.persona is not None:
            lines.append("Persona:")
            lines.append(textwrap.indent(self.persona, "\t"))
        lines.append("Instructions:")
        lines.append(textwrap.indent(str(self.instructions), "\t"))
        return "\n".join(lines)


class Description(_Model):
    purpose: str | None = None
    relevant_policies: str | None = None
    notes: str | None = None


class Action(_Model):
    """One gold tool call (agent's or user's)."""

    action_id: str
    requestor: Requestor = "assistant"
    name: str
    arguments: dict[str, Any]
    info: str | None = None
    compare_args: list[str] | None = None


class EnvFunctionCall(_Model):
    """A call of a toolkit function (tool or hidden setup/assertion function)."""

    env_type: Requestor
    func_name: str
    arguments: dict[str, Any]


class EnvAssertion(EnvFunctionCall):
    assert_value: bool = True
    message: str | None = None


class RewardType(str, Enum):
    DB = "DB"
    ENV_ASSERTION = "ENV_ASSERTION"
    NL_ASSERTION = "NL_ASSERTION"
    ACTION = "ACTION"
    COMMUNICATE = "COMMUNICATE"


class EvaluationCriteria(_Model):
    actions: list[Action] | None = None
    env_assertions: list[EnvAssertion] | None = None
    communicate_info: list[str] | None = None
    nl_assertions: list[str] | None = None
    reward_basis: list[RewardType] = Field(
        default_factory=lambda: [RewardType.DB, RewardType.COMMUNICATE]
    )


class InitializationData(_Model):
    agent_data: dict[str, Any] | None = None
    user_data: dict[str, Any] | None = None


class HistoryToolCall(_Model):
    """A tool call inside a task's recorded message history (arguments already parsed)."""

    id: str = ""
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    requestor: Requestor = "assistant"


class HistoryMessage(_Model):
    """A message of a task's ``message_history`` in tau2's format."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: list[HistoryToolCall] | None = None
    id: str | None = None  # tool messages: the call id
    requestor: Requestor = "assistant"
    error: bool = False
    turn_idx: int | None = None

    def is_tool_call(self) -> bool:
        return self.role in ("user", "assistant") and bool(self.tool_calls)


class InitialState(_Model):
    initialization_data: InitializationData | None = None
    initialization_actions: list[EnvFunctionCall] | None = None
    message_history: list[HistoryMessage] | None = None


class Task(_Model):
    """A benchmark task (see tau2 ``data_model/tasks.py``)."""

    id: str
    description: Description | None = None
    user_scenario: UserScenario
    ticket: str | None = None
    initial_state: InitialState | None = None
    evaluation_criteria: EvaluationCriteria | None = None
    issues: list[dict[str, Any]] | None = None
    required_documents: list[str] | None = None
    user_tools: list[str] | None = None

    @property
    def gold_actions(self) -> list[Action]:
        ec = self.evaluation_criteria
        return list(ec.actions) if ec is not None and ec.actions else []


def load_tasks_file(path: str | Path) -> list[Task]:
    """Parse a ``tasks.json`` file."""
    with Path(path).open("rb") as fh:
        raw = json.loads(fh.read())
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of tasks")
    return [Task.model_validate(item) for item in raw]


def load_splits(path: str | Path) -> dict[str, list[str]]:
    """Parse a ``split_tasks.json`` file (split name -> task ids); missing file -> {}."""
    p = Path(path)
    if not p.exists():
        return {}
    with p.open("rb") as fh:
        raw = json.loads(fh.read())
    return {str(k): [str(t) for t in v] for k, v in raw.items()}


def select_tasks(
    tasks: list[Task],
    splits: dict[str, list[str]],
    split: str | None = None,
    task_ids: list[str] | None = None,
) -> list[Task]:
    """Filter ``tasks`` by split and/or explicit ids (ids keep the tasks' file order)."""
    selected = tasks
    if split is not None:
        if split not in splits:
            known = ", ".join(sorted(splits)) or "none"
            raise ValueError(f"Unknown split {split!r} (known splits: {known})")
        wanted = set(splits[split])
        selected = [t for t in selected if t.id in wanted]
    if task_ids is not None:
        by_id = {t.id: t for t in selected}
        missing = [tid for tid in task_ids if tid not in by_id]
        if missing:
            raise ValueError(f"Unknown task id(s): {', '.join(missing)}")
        selected = [by_id[tid] for tid in task_ids]
    return selected


def load_tasks(
    domain: str,
    data_dir: str | Path | None = None,
    split: str | None = None,
    task_ids: list[str] | None = None,
) -> list[Task]:
    """Tasks of ``domain`` from the tau2 data directory, optionally filtered."""
    from .registry import get_domain

    return get_domain(domain).load_tasks(data_dir, split=split, task_ids=task_ids)
