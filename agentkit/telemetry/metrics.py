"""The metric instruments: the GenAI client histograms and agentkit's tool-call metrics."""

from __future__ import annotations

from typing import Any

__all__ = ["Metrics"]

# bucket boundaries advised by the GenAI semantic conventions
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                  16777216, 67108864]
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                     40.96, 81.92]


class Metrics:
    """`gen_ai.client.token.usage` and `gen_ai.client.operation.duration` (histograms, per
    model request and per run), `agentkit.tool.duration` (histogram) and
    `agentkit.tool.errors` (counter), all from one meter."""

    __slots__ = ("duration", "token_usage", "tool_duration", "tool_errors")

    def __init__(self, meter: Any) -> None:
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}",
            description="Number of input and output tokens used per model request",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s",
            description="Duration of GenAI operations (model requests, agent runs)",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS)
        self.tool_duration = meter.create_histogram(
            "agentkit.tool.duration", unit="s", description="Duration of tool calls",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS)
        self.tool_errors = meter.create_counter(
            "agentkit.tool.errors", unit="{call}",
            description="Tool calls that failed (raised, timed out, were cancelled or "
                        "returned an error result)")
