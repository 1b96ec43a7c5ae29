"""Live progress of a tau2 run on stderr: simulations done, rewards so far, infrastructure
errors, tokens and cost so far (a ``rich`` progress bar; a plain line without a terminal)."""

from __future__ import annotations

import sys
import time
from typing import Any

from .grading import is_successful
from .simulation import SimulationResult, TerminationReason

__all__ = ["Progress", "simulation_cost"]


def simulation_cost(sim: SimulationResult,
                    price_per_mtok: tuple[float, float] | None) -> tuple[float, float] | None:
    """(agent cost, user cost) in USD at ``(input, output)`` USD per million tokens."""
    if price_per_mtok is None:
        return None
    p_in, p_out = price_per_mtok

    def cost(u: Any) -> float:
        return (u.input_tokens * p_in + u.output_tokens * p_out) / 1e6

    return cost(sim.agent_usage), cost(sim.user_usage)


class Progress:
    """Counts finished simulations and shows them (``enabled=False``: counts only)."""

    def __init__(self, total: int, enabled: bool,
                 price_per_mtok: tuple[float, float] | None = None) -> None:
        self.total, self.done, self.failed, self.succeeded = total, 0, 0, 0
        self.reward_sum = 0.0
        self.input_tokens = self.output_tokens = self.reasoning_tokens = 0
        self.cost = 0.0
        self.price = price_per_mtok
        self.enabled = enabled and total > 0
        self._started = time.monotonic()
        self._bar: Any = None
        self._task: Any = None
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )
                from rich.progress import Progress as RichProgress
            except ImportError:  # pragma: no cover - rich is a dependency
                return
            console = Console(stderr=True)
            self._bar = RichProgress(
                TextColumn("[bold]tau2"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
                console=console, transient=False, refresh_per_second=4)
            self._bar.start()
            self._task = self._bar.add_task(self.describe(), total=total)

    def describe(self) -> str:
        graded = self.done - self.failed
        avg = f"{self.reward_sum / graded:.3f}" if graded else "-"
        text = (f"{self.done}/{self.total} done, {self.succeeded} passed, "
                f"{self.failed} infra errors · avg reward {avg} · tokens "
                f"{_k(self.input_tokens)} in / {_k(self.output_tokens)} out "
                f"({_k(self.reasoning_tokens)} reasoning)")
        if self.price is not None:
            text += f" · ${self.cost:.4f}"
        return text

    def update(self, sim: SimulationResult) -> None:
        self.done += 1
        if sim.termination_reason == TerminationReason.INFRASTRUCTURE_ERROR:
            self.failed += 1
        else:
            self.reward_sum += sim.reward or 0.0
            self.succeeded += int(is_successful(sim.reward))
        for usage in (sim.agent_usage, sim.user_usage):
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
            self.reasoning_tokens += usage.reasoning_tokens
        costs = simulation_cost(sim, self.price)
        if costs is not None:
            self.cost += sum(costs)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=self.describe())
        else:  # pragma: no cover - rich is a dependency
            print(f"\r[tau2] {self.describe()}", end="" if self.done < self.total else "\n",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _k(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)
