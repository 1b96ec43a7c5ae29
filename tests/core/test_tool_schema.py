"""Tools from Python functions: schemas, docstrings, validation, context detection."""

from __future__ import annotations

import enum
from typing import Annotated, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from agentkit import RunContext, Tool, ToolArgumentsError, tool


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    city: str
    zip: str = "00000"


class Order(BaseModel):
    items: list[str]
    ship_to: Address


def test_common_types_schema() -> None:
    @tool
    def f(
        a: int,
        b: Optional[str] = None,  # noqa: UP045 - Optional is what users write
        c: Literal["x", "y"] = "x",
        color: Color = Color.RED,
        tags: list[str] | None = None,
        ratio: float = 0.5,
        flag: bool = False,
    ) -> str:
        """Do f."""
        return ""

    p = f.parameters
    assert p["type"] == "object" and p["required"] == ["a"]
    assert p["properties"]["a"] == {"type": "integer"}
    assert {"type": "null"} in p["properties"]["b"]["anyOf"]
    assert p["properties"]["c"]["enum"] == ["x", "y"]
    assert p["properties"]["color"]["enum"] == ["red", "blue"]
    assert p["properties"]["color"]["default"] == "red"
    assert p["properties"]["tags"]["anyOf"][0] == {"items": {"type": "string"}, "type": "array"}
    assert p["properties"]["ratio"] == {"default": 0.5, "type": "number"}
    assert p["additionalProperties"] is False
    assert f.description == "Do f."


def test_nested_models_are_inlined_and_validated() -> None:
    @tool
    def place(order: Order, note: str = "") -> str:
        """Place an order."""
        return order.ship_to.city

    props = place.parameters["properties"]["order"]
    assert "$ref" not in str(place.parameters)
    assert props["properties"]["ship_to"]["required"] == ["city"]
    kwargs = place.validate({"order": {"items": ["a"], "ship_to": {"city": "Paris"}}})
    assert isinstance(kwargs["order"], Order) and kwargs["order"].ship_to.zip == "00000"
    with pytest.raises(ToolArgumentsError) as err:
        place.validate({"order": {"items": "a", "ship_to": {}}})
    text = str(err.value)
    assert "order/items" in text and "order/ship_to" in text and "'city' is a required" in text


@pytest.mark.parametrize("style", ["google", "numpy", "sphinx"])
def test_docstring_styles(style: str) -> None:
    docs = {
        "google": """Look up weather.

        Args:
            city: The city name.
            days: How many days ahead.
        """,
        "numpy": """Look up weather.

        Parameters
        ----------
        city : str
            The city name.
        days : int
            How many days ahead.
        """,
        "sphinx": """Look up weather.

        :param city: The city name.
        :param days: How many days ahead.
        """,
    }

    def weather(city: str, days: int = 1) -> str:
        return city

    weather.__doc__ = docs[style]
    t = tool(weather)
    assert t.description == "Look up weather."
    assert t.parameters["properties"]["city"]["description"] == "The city name."
    assert t.parameters["properties"]["days"]["description"] == "How many days ahead."


def test_annotated_description_wins_and_overrides() -> None:
    @tool(name="lookup", description="Custom description.")
    def f(q: Annotated[str, Field(description="from Annotated")]) -> str:
        """Ignored.

        Args:
            q: from docstring
        """
        return q

    assert f.name == "lookup" and f.description == "Custom description."
    assert f.parameters["properties"]["q"]["description"] == "from Annotated"


def test_context_parameter_detected_and_hidden() -> None:
    @tool
    async def f(ctx: RunContext[dict[str, int]], x: int) -> int:
        """Use deps."""
        return ctx.deps["k"] + x

    assert f.takes_context and f.is_async
    assert list(f.parameters["properties"]) == ["x"]

    @tool
    def g(x: int) -> int:
        return x

    assert not g.takes_context and not g.is_async

    with pytest.raises(TypeError, match="first parameter"):
        @tool
        def h(x: int, ctx: RunContext[None]) -> int:
            return x


def test_from_schema_checks_schema_and_validates() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}},
              "required": ["n"]}
    t = Tool.from_schema("count", "Count.", schema, lambda n: n * 2)
    assert t.validate({"n": 2}) == {"n": 2}
    with pytest.raises(ToolArgumentsError, match="less than the minimum"):
        t.validate({"n": 0})
    with pytest.raises(Exception, match="is not valid"):
        Tool.from_schema("bad", "Bad.", {"type": "objekt"}, lambda: None)


def test_format_result() -> None:
    assert Tool.format_result("plain") == "plain"
    assert Tool.format_result({"a": 1, "b": [1.5]}) == '{"a":1,"b":[1.5]}'
    assert Tool.format_result(Address(city="P")) == '{"city":"P","zip":"00000"}'
    assert Tool.format_result(None) == "null"
