"""Structured output through a final-result tool.

`response_format` is not used: several OpenAI-compatible servers stop calling tools when
it is sent. The model ends the run by calling `final_result` with arguments that fit the
output type; a plain JSON answer that validates is accepted too.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError, create_model

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
        self.instructions = (
            f"When the task is done, call the `{FINAL_TOOL_NAME}` tool with the final result; "
            "do not answer in plain text."
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
        """A plain-text answer as the output type, or the reason it is not one."""
        body = text.strip()
        m = _FENCE.match(body)
        if m:
            body = m.group(1)
        try:
            return self.adapter.validate_json(body), None
        except ValidationError as exc:
            return None, (
                f"Your answer is not a valid final result ({exc.error_count()} problems: "
                f"{exc.errors()[0]['msg']}). Call the `{FINAL_TOOL_NAME}` tool with the result."
            )
