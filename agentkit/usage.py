"""Token and request accounting."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["ModeUsage", "Usage"]


class ModeUsage(BaseModel):
    """Requests and tokens of the steps run in one mode ("thinking" or "instruct")."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    #: Instruct steps where reasoning arrived anyway (the server ignored the switch).
    thinking_ignored: int = 0

    def __add__(self, other: ModeUsage) -> ModeUsage:
        return ModeUsage(
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            thinking_ignored=self.thinking_ignored + other.thinking_ignored)


class Usage(BaseModel):
    """Counts as the server reported them; `requests` counts HTTP requests, retries included."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    #: The same counts split by mode, for runs whose steps record one. Never mutated in
    #: place (a new dict on change), so `model_copy()` snapshots stay as they were.
    by_mode: dict[str, ModeUsage] = Field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> None:
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.cached_tokens += other.cached_tokens
        if other.by_mode:
            merged = dict(self.by_mode)
            for mode, counts in other.by_mode.items():
                merged[mode] = merged[mode] + counts if mode in merged else counts
            self.by_mode = merged

    def add_mode(self, mode: str, usage: Usage, *, thinking_ignored: bool = False) -> None:
        """Count `usage` (one response) under `mode` as well."""
        counts = ModeUsage(requests=usage.requests, input_tokens=usage.input_tokens,
                           output_tokens=usage.output_tokens,
                           reasoning_tokens=usage.reasoning_tokens,
                           thinking_ignored=int(thinking_ignored))
        old = self.by_mode.get(mode)
        self.by_mode = {**self.by_mode, mode: old + counts if old is not None else counts}

    def __add__(self, other: Usage) -> Usage:
        out = self.model_copy()
        out.add(other)
        return out
