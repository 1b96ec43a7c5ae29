"""Structured output through a final-result tool.

`response_format` is not used: several OpenAI-compatible servers stop calling tools when
it is sent. The model ends the run by calling `final_result` with arguments that fit the
output type; a plain JSON answer that validates is accepted too. The arguments are the
output model's fields directly (`output_type=Weather` -> `{"city": ..., "temperature": ...}`);
any other type is wrapped: `{"result": <value>}` (`output_type=list[int]` -> `{"result": [1]}`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError, create_model

from .errors import UserError
from .tooldef import Tool

__all__ = ["FINAL_TOOL_NAME", "OutputSpec"]

FINAL_TOOL_NAME = "final_result"
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _never_called(**_: Any) -> None:  # pragma: no cover - the loop handles final_result itself
    raise RuntimeError("final_result is handled by the loop")


class OutputSpec:
    """How a run's output of type `output_type` is requested and validated."""

    def __init__(self, output_type: Any) -> None:
        self.output_type = output_type
        self.wrapped = not (isinstance(output_type, type) and issubclass(output_type, BaseModel))
        try:
            self._build(output_type)
        except Exception as exc:  # pydantic's reason, at Agent(...) rather than in a run
            raise UserError(f"output_type={output_type!r} cannot be used for structured "
                            f"output: {exc}") from exc
        self.instructions = (
            f"When the task is done, call the `{FINAL_TOOL_NAME}` tool with the final result; "
            "do not answer in plain text."
        )

    def _build(self, output_type: Any) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(output_type)
        if self.wrapped:
            schema = {
                "type": "object",
                "properties": {"result": self.adapter.json_schema()},
                "required": ["result"],
                "additionalProperties": False,
            }
        else:
            schema = output_type.model_json_schema()
        args_model = (create_model("final_result_args", result=(output_type, ...))
                      if self.wrapped else output_type)
        self.tool = Tool(
            _never_called,
            name=FINAL_TOOL_NAME,
            description="Give the final result of the task. Call this once, when it is done.",
            parameters=schema,
            args_model=args_model,
        )

    @classmethod
    def for_type(cls, output_type: Any) -> OutputSpec | None:
        if output_type is None or output_type is str:
            return None
        return cls(output_type)

    def from_arguments(self, arguments: dict[str, Any]) -> Any:
        """The output from the final tool's (already validated) JSON arguments."""
        if self.wrapped:
            return self.adapter.validate_python(arguments["result"])
        return self.output_type.model_validate(arguments)

    def parse_text(self, text: str) -> tuple[Any, str | None]:
        """A plain-text answer as the output type, or what is wrong with it (one sentence)."""
        body = text.strip()
        m = _FENCE.match(body)
        if m:
            body = m.group(1)
        try:
            return self.adapter.validate_json(body), None
        except ValidationError as exc:
            errors = exc.errors()
            if not body or errors[0]["type"] == "json_invalid":
                return None, "the answer was plain text, not a structured result"
            n = len(errors)
            where = ".".join(str(p) for p in errors[0]["loc"]) or "the result"
            more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
            return None, (f"the answer was JSON but not a valid result: {where}: "
                          f"{errors[0]['msg']}{more}")

    def retry_prompt(self, problem: str) -> str:
        """What the model is told after an unusable plain-text answer."""
        return (f"That reply cannot be used: {problem}. Call the `{FINAL_TOOL_NAME}` tool "
                "with the result instead.")
