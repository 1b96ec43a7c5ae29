"""The NL-assertion judge: an LLM grades a transcript against expected outcomes.

The transcript is flattened to ``role: content`` lines (tool-call turns show ``None``; texts
without inline thinking), and
one model call returns ``{"results": [{"expectedOutcome", "reasoning", "metExpectation"}]}``.
The prompt structure follows tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ..messages import SystemMessage, UserMessage
from ..models.base import Model, ModelRequest, ModelResponse, ModelSettings
from ..usage import Usage
from .grading import NLAssertionCheck
from .simulation import SimMessage, split_thinking

__all__ = ["JudgeError", "NLJudge", "flatten_transcript"]

JUDGE_SYSTEM_PROMPT = """
TASK
- You will be given a list of expected outcomes and a conversation that was collected during a test case run.
- The conversation is between an agent and a customer.
- Your job is to evaluate whether the agent satisfies each of the expected outcomes.
- Grade each expected outcome individually.

FORMAT
- Your response should be a JSON object with the following fields:
- `reasoning`: a short explanation for your classification
- `metExpectation`: `true` if the agent satisfies the expected outcomes, `false` otherwise
- `expectedOutcome`: repeat the expectation from the input that you are grading

Example response structure:
{
    "results": [
        {
            "expectedOutcome": "<one of the expected outcomes from the input>",
            "reasoning": "<reasoning trace>",
            "metExpectation": <false or true>,
        }
    ]
}
""".strip()  # noqa: E501 - benchmark prompt text


class JudgeError(RuntimeError):
    """The judge's answer could not be used (not JSON, wrong shape, missing outcomes)."""


def flatten_transcript(messages: Sequence[SimMessage]) -> str:
    """``role: content`` per message; tool-call turns without text show ``None``.

    Agent and user texts show what the other side saw (inline ``<think>`` blocks removed).
    """
    def content(m: SimMessage) -> str | None:
        if m.role == "tool" or m.content is None:
            return m.content
        return split_thinking(m.content)[0]

    return "\n".join(f"{m.role}: {content(m)}" for m in messages if m.role != "system")


_THINK = re.compile(r"<think>.*?</think>", re.S)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def _parse(text: str) -> dict[str, Any]:
    text = _THINK.sub("", text).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise JudgeError(f"judge answer is not JSON: {text[:200]!r}") from None
        try:
            data = json.loads(text[start:end + 1])
        except ValueError as exc:
            raise JudgeError(f"judge answer is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise JudgeError("judge answer has no 'results' list")
    return data


class NLJudge:
    """Grades NL assertions with ``model`` (temperature 0 by default).

    ``attempts``: how many times to ask again when the answer cannot be parsed.
    """

    def __init__(self, model: Model, settings: ModelSettings | None = None,
                 attempts: int = 2) -> None:
        self.model = model
        self.settings = settings or ModelSettings(temperature=0.0)
        self.attempts = max(1, attempts)
        self.usage = Usage()

    async def _ask(self, prompt: str) -> str:
        request = ModelRequest(
            messages=[SystemMessage(content=JUDGE_SYSTEM_PROMPT), UserMessage(content=prompt)],
            tools=[],
            settings=self.settings,
        )
        final: ModelResponse | None = None
        async for event in self.model.stream(request):
            if isinstance(event, ModelResponse):
                final = event
        if final is None:
            raise JudgeError("judge model stream ended without a response")
        self.usage.add(final.usage)
        return final.message.content

    async def judge(self, messages: Sequence[SimMessage],
                    assertions: list[str]) -> list[NLAssertionCheck]:
        """One check per returned result; an assertion the judge left out counts as unmet."""
        if not assertions:
            return []
        prompt = (f"conversation:\n{flatten_transcript(messages)}\n\n"
                  f"expectedOutcomes:\n{assertions}")
        last: JudgeError | None = None
        for _ in range(self.attempts):
            try:
                data = _parse(await self._ask(prompt))
            except JudgeError as exc:
                last = exc
                continue
            checks = []
            for item in data["results"]:
                if not isinstance(item, dict):
                    continue
                met = item.get("metExpectation")
                checks.append(NLAssertionCheck(
                    nl_assertion=str(item.get("expectedOutcome", "")),
                    met=met is True or (isinstance(met, str) and met.lower() == "true"),
                    justification=str(item.get("reasoning", ""))))
            graded = {c.nl_assertion for c in checks}
            for a in assertions:
                if a not in graded and len(checks) < len(assertions):
                    checks.append(NLAssertionCheck(
                        nl_assertion=a, met=False, justification="not graded by the judge"))
            return checks
        assert last is not None
        raise last
