"""The results file of a tau2 run, and the metrics over it (pass^k, summary tables).

The file is one JSON document, rewritten atomically after every finished simulation, so a run
can be resumed and re-graded (``agentkit tau2 grade``). It is a tau2-bench results document
(its ``Results.load``, ``tau2 view`` and ``tau2 evaluate-trajs`` read it; see
:mod:`agentkit.tau2.tau2format`)::

    {"format": "agentkit-tau2-results", "version": 2, "timestamp": "...",
     "info": {...tau2-bench's Info + agentkit's run configuration...},
     "tasks": [...the tasks as run...],
     "simulations": [...tau2-bench SimulationRuns, agentkit's extras under "agentkit"...]}

:func:`load_results` also reads agentkit's version-1 files and files tau2-bench wrote.

pass^k follows tau2-bench (MIT, Sierra Research): per task C(c, k) / C(n, k), averaged over
tasks, with infrastructure-error simulations dropped first and k up to the smallest trial
count of any task.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .grading import is_successful, pass_hat_k
from .simulation import SimulationResult, TerminationReason
from .tasks import Task
from .tau2format import from_document, is_tau2_bench_document, to_document

__all__ = [
    "RESULTS_FORMAT",
    "DomainMetrics",
    "Results",
    "compute_metrics",
    "format_summary",
    "load_results",
    "pass_hat_ks",
    "save_results",
]

RESULTS_FORMAT = "agentkit-tau2-results"
RESULTS_VERSION = 2


class Results(BaseModel):
    """A run's configuration, its tasks and every simulation so far.

    Keys this model does not know (from tau2-bench files) are kept and written back.
    """

    model_config = ConfigDict(extra="allow")

    format: str = RESULTS_FORMAT
    version: int = RESULTS_VERSION
    timestamp: str | None = None
    info: dict[str, Any] = Field(default_factory=dict)
    tasks: list[Task] = Field(default_factory=list)
    simulations: list[SimulationResult] = Field(default_factory=list)

    def task_map(self) -> dict[str, Task]:
        return {t.id: t for t in self.tasks}

    def completed(self) -> set[tuple[str, str, int]]:
        """(domain, task id, trial) of simulations that need no rerun (infra errors do)."""
        return {(s.domain, s.task_id, s.trial) for s in self.simulations
                if s.termination_reason != TerminationReason.INFRASTRUCTURE_ERROR}

    def upsert(self, sim: SimulationResult) -> None:
        """Add ``sim``, replacing an earlier record of the same (domain, task, trial)."""
        key = (sim.domain, sim.task_id, sim.trial)
        self.simulations = [s for s in self.simulations
                            if (s.domain, s.task_id, s.trial) != key]
        self.simulations.append(sim)


def load_results(path: str | Path) -> Results:
    """Read a results file: agentkit's (versions 1 and 2) or one tau2-bench wrote (also its
    directory layout: ``results.json`` beside ``simulations/``, or the directory itself).

    Clear errors for a missing, non-JSON or foreign file.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"results file not found: {p}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{p} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not (data.get("format") == RESULTS_FORMAT
                                          or is_tau2_bench_document(data)):
        raise ValueError(f"{p} is neither an agentkit nor a tau2-bench tau2 results file")
    if data.get("version", 0) > RESULTS_VERSION:
        raise ValueError(f"{p} has results format version {data['version']}; this agentkit "
                         f"reads up to {RESULTS_VERSION}")
    try:
        return Results.model_validate(from_document(data, p))
    except ValueError as exc:
        raise ValueError(f"{p} is not a readable tau2 results file: {exc}") from None


def save_results(results: Results, path: str | Path) -> None:
    """Write atomically (temporary file + rename): a crash never leaves a torn file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = results.model_dump(mode="json", exclude_none=True)
    data.update(format=RESULTS_FORMAT, version=RESULTS_VERSION)
    text = json.dumps(to_document(data), indent=1, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- metrics


def pass_hat_ks(sims: Iterable[SimulationResult]) -> dict[int, float]:
    """pass^1..pass^k over graded simulations (infrastructure errors dropped).

    Ungraded simulations (no reward) count as failures. Empty input gives ``{}``.
    """
    per_task: dict[str, list[bool]] = defaultdict(list)
    for s in sims:
        if s.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR:
            continue
        per_task[f"{s.domain}/{s.task_id}"].append(is_successful(s.reward))
    if not per_task:
        return {}
    max_k = min(len(v) for v in per_task.values())
    return {k: sum(pass_hat_k(len(v), sum(v), k) for v in per_task.values()) / len(per_task)
            for k in range(1, max_k + 1)}


class DomainMetrics(BaseModel):
    domain: str
    tasks: int
    simulations: int
    infra_errors: int
    avg_reward: float | None
    pass_hat_ks: dict[int, float]
    terminations: dict[str, int]
    db_match: int
    db_mismatch: int
    llm_free: bool
    ungraded: int
    #: Agent requests and reasoning tokens per mode ("thinking" / "instruct"); wall seconds.
    mode_requests: dict[str, int] = {}
    mode_reasoning_tokens: dict[str, int] = {}
    wall_time: float = 0.0


def compute_metrics(results: Results) -> list[DomainMetrics]:
    """One row of metrics per domain in the file."""
    by_domain: dict[str, list[SimulationResult]] = defaultdict(list)
    for s in results.simulations:
        by_domain[s.domain or str(results.info.get("domain", ""))].append(s)
    rows = []
    for domain, sims in sorted(by_domain.items()):
        graded = [s for s in sims if s.termination_reason != TerminationReason.INFRASTRUCTURE_ERROR]
        rewards = [s.reward if s.reward is not None else 0.0 for s in graded]
        db = [s.reward_info.get("db_check") for s in graded if s.reward_info]
        rows.append(DomainMetrics(
            domain=domain,
            tasks=len({s.task_id for s in graded}),
            simulations=len(graded),
            infra_errors=len(sims) - len(graded),
            avg_reward=sum(rewards) / len(rewards) if rewards else None,
            pass_hat_ks=pass_hat_ks(graded),
            terminations=dict(Counter(TerminationReason(s.termination_reason).value
                                      for s in sims)),
            db_match=sum(1 for d in db if d and d.get("db_match")),
            db_mismatch=sum(1 for d in db if d and not d.get("db_match")),
            llm_free=any(s.reward_info.get("llm_free") for s in graded if s.reward_info),
            ungraded=sum(1 for s in graded if s.reward_info is None),
            **_mode_totals(sims),
        ))
    return rows


def _mode_totals(sims: Sequence[SimulationResult]) -> dict[str, Any]:
    requests: Counter[str] = Counter()
    reasoning: Counter[str] = Counter()
    for s in sims:
        for mode, usage in s.agent_usage.by_mode.items():
            requests[mode] += usage.requests
            reasoning[mode] += usage.reasoning_tokens
    return {"mode_requests": dict(requests), "mode_reasoning_tokens": dict(reasoning),
            "wall_time": sum(s.duration for s in sims)}


def format_summary(rows: Sequence[DomainMetrics], policy: str | None = None) -> str:
    """A plain-text table: one line per domain, pass^1..k, infra errors and terminations."""
    if not rows:
        return "no simulations"
    max_k = max((max(r.pass_hat_ks) for r in rows if r.pass_hat_ks), default=0)
    head = ["domain", "tasks", "sims", "infra", "avg_reward"] + [
        f"pass^{k}" for k in range(1, max_k + 1)]
    table = [head]
    for r in rows:
        name = r.domain + (" (llm-free)" if r.llm_free else "")
        line = [name, str(r.tasks), str(r.simulations), str(r.infra_errors),
                "-" if r.avg_reward is None else f"{r.avg_reward:.4f}"]
        line += [f"{r.pass_hat_ks[k]:.4f}" if k in r.pass_hat_ks else "-"
                 for k in range(1, max_k + 1)]
        table.append(line)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        terms = ", ".join(f"{k}={v}" for k, v in sorted(r.terminations.items()))
        lines.append(f"{r.domain}: terminations {terms}; db match {r.db_match}, "
                     f"mismatch {r.db_mismatch}"
                     + (f"; {r.ungraded} ungraded" if r.ungraded else ""))
        if r.mode_requests:
            modes = ", ".join(f"{m} {n} requests / {r.mode_reasoning_tokens.get(m, 0)} reasoning "
                              "tokens" for m, n in sorted(r.mode_requests.items()))
            lines.append(f"{r.domain}: agent modes ({policy or 'default'}): {modes}; "
                         f"wall {r.wall_time:.1f} s")
        if r.llm_free:
            lines.append(f"{r.domain}: LLM-free grading: NL assertions skipped, "
                         "NL_ASSERTION replaced by COMMUNICATE")
        if r.infra_errors:
            lines.append(f"{r.domain}: {r.infra_errors} simulation(s) failed with "
                         "infrastructure errors (excluded from avg_reward and pass^k)")
    return "\n".join(lines)
