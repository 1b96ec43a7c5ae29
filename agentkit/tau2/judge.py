"""The NL-assertion judge: an LLM grades a transcript against expected outcomes.

The transcript is flattened to ``role: content`` lines (tool-call turns show ``None``; texts
without inline thinking), and one model call returns
``{"results": [{"expectedOutcome", "reasoning", "metExpectation"}]}``.

Fidelity to tau2-bench (MIT, Sierra Research) is the default:

- the system and user prompts are byte for byte the ones tau2-bench sends (indentation and
  the trailing spaces of its source included: a real judge model sees every byte);
- the answer is read as tau2-bench reads it: ``json.loads`` of the answer text (fenced or
  prose-wrapped JSON is unusable, so the judge is asked again, as tau2-bench retries), each
  returned result validated by pydantic (``metExpectation`` of ``1`` or ``"yes"`` counts as
  met, ``"maybe"`` is an unusable answer), and only the returned assertions are graded.

``strict=True`` (``--strict-judge``) is a stricter reading: only a JSON ``true`` (or the
string ``"true"``) counts as met, anything else as unmet, and an assertion the judge left
out counts as unmet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from ..messages import SystemMessage, UserMessage
from ..models.base import Model, ModelRequest, ModelResponse, ModelSettings
from ..usage import Usage
from .grading import NLAssertionCheck
from .simulation import SimMessage, split_thinking

__all__ = [
    "JUDGE_SYSTEM_PROMPT",
    "JudgeError",
    "NLJudge",
    "flatten_transcript",
    "judge_user_prompt",
    "parse_judge_answer",
]

_IN = " " * 8  # tau2-bench indents its prompt text by eight spaces

JUDGE_SYSTEM_PROMPT = (
    "\n"
    f"{_IN}TASK\n"
    f"{_IN}- You will be given a list of expected outcomes and a conversation that was "
    "collected during a test case run.\n"
    f"{_IN}- The conversation is between an agent and a customer.\n"
    f"{_IN}- Your job is to evaluate whether the agent satisfies each of the expected "
    "outcomes.\n"
    f"{_IN}- Grade each expected outcome individually.\n"
    "\n"
    f"{_IN}FORMAT\n"
    f"{_IN}- Your response should be a JSON object with the following fields:\n"
    f"{_IN}- `reasoning`: a short explanation for your classification\n"
    f"{_IN}- `metExpectation`: `true` if the agent satisfies the expected outcomes, `false` "
    "otherwise\n"
    f"{_IN}- `expectedOutcome`: repeat the expectation from the input that you are grading\n"
    f"{_IN}\n"
    f"{_IN}Example response structure:\n"
    f"{_IN}{{\n"
    f'{_IN}    "results": [\n'
    f"{_IN}        {{\n"
    f'{_IN}            "expectedOutcome": "<one of the expected outcomes from the input>",\n'
    f'{_IN}            "reasoning": "<reasoning trace>",\n'
    f'{_IN}            "metExpectation": <false or true>,\n'
    f"{_IN}        }}\n"
    f"{_IN}    ]\n"
    f"{_IN}}}\n"
    f"{_IN}"
)
"""tau2-bench's judge system prompt, byte for byte."""


def judge_user_prompt(transcript: str, assertions: Sequence[str]) -> str:
    """tau2-bench's judge user prompt: the transcript, then the outcomes as a Python list."""
    return (f"\n{_IN}conversation:\n{_IN}{transcript}\n{_IN}\n"
            f"{_IN}expectedOutcomes:\n{_IN}{list(assertions)}\n{_IN}")


class JudgeError(RuntimeError):
    """The judge's answer could not be used (not JSON, wrong shape, unreadable result)."""


def flatten_transcript(messages: Sequence[SimMessage]) -> str:
    """``role: content`` per message; tool-call turns without text show ``None``.

    Agent and user texts show what the other side saw (inline ``<think>`` blocks removed).
    """
    def content(m: SimMessage) -> str | None:
        if m.role == "tool" or m.content is None:
            return m.content
        return split_thinking(m.content)[0]

    return "\n".join(f"{m.role}: {content(m)}" for m in messages if m.role != "system")


def _strict_met(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def parse_judge_answer(text: str, assertions: Sequence[str],
                       strict: bool = False) -> list[NLAssertionCheck]:
    """The checks in a judge answer, read as tau2-bench reads it (``strict``: see module doc).

    Inline thinking (``<think>...</think>``) is not part of the answer and is removed first;
    anything else that is not a JSON object raises :class:`JudgeError`.
    """
    answer = split_thinking(text)[0]
    try:
        data = json.loads(answer)
    except ValueError as exc:
        raise JudgeError(f"judge answer is not JSON ({exc}): {answer[:200]!r}") from None
    if not isinstance(data, dict):
        raise JudgeError(f"judge answer is not a JSON object: {answer[:200]!r}")
    results = data.get("results", [])
    if not isinstance(results, list):
        raise JudgeError("judge answer's 'results' is not a list")
    checks: list[NLAssertionCheck] = []
    for item in results:
        if not isinstance(item, dict):
            raise JudgeError(f"judge result is not an object: {item!r:.200}")
        try:
            outcome, met, reasoning = (item["expectedOutcome"], item["metExpectation"],
                                       item["reasoning"])
        except KeyError as exc:
            raise JudgeError(f"judge result lacks {exc}: {item!r:.200}") from None
        try:
            checks.append(NLAssertionCheck(
                nl_assertion=outcome, met=_strict_met(met) if strict else met,
                justification=reasoning))
        except ValidationError as exc:
            raise JudgeError(f"judge result unreadable: {exc}") from None
    if strict:
        graded = {c.nl_assertion for c in checks}
        checks += [NLAssertionCheck(nl_assertion=a, met=False,
                                    justification="not graded by the judge")
                   for a in assertions if a not in graded]
    return checks


class NLJudge:
    """Grades NL assertions with ``model`` (temperature 0 by default).

    ``attempts``: how many times to ask when the answer cannot be used (then
    :class:`JudgeError`: the simulation is an infrastructure error and is retried whole, as
    in tau2-bench). ``strict``: the stricter reading (see the module docstring).
    """

    def __init__(self, model: Model, settings: ModelSettings | None = None,
                 attempts: int = 2, strict: bool = False) -> None:
        self.model = model
        self.settings = settings or ModelSettings(temperature=0.0)
        self.attempts = max(1, attempts)
        self.strict = strict
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
        """One check per returned result (``strict``: plus one unmet per missing assertion)."""
        if not assertions:
            return []
        prompt = judge_user_prompt(flatten_transcript(messages), assertions)
        last: JudgeError | None = None
        for _ in range(self.attempts):
            try:
                return parse_judge_answer(await self._ask(prompt), assertions, self.strict)
            except JudgeError as exc:
                last = exc
        assert last is not None
        raise last
