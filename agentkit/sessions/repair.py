"""The repair pass run on a loaded history before it is sent: deterministic and idempotent.

A server answers 400 to a tool call without a result, or a result without its call; a
session damaged by a crash, a hand edit or an old bug must never poison a conversation.

- a call with no result gets an error result saying the call was interrupted, placed
  right after the results its reply did get;
- a result whose call is not in the reply it follows (an orphan), or a second result for
  one call, is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..messages import AssistantMessage, Message, ToolMessage

__all__ = ["INTERRUPTED", "repair_messages"]

INTERRUPTED = "Error: not run: the run was interrupted before this call ran."


def repair_messages(messages: Sequence[Message]) -> list[Message]:
    """A copy of `messages` in which every call has exactly one result, right after its reply."""
    out: list[Message] = []
    open_calls: dict[str, str] = {}  # id -> name, calls of the last reply not answered yet

    def close() -> None:
        for call_id, name in open_calls.items():
            out.append(ToolMessage(tool_call_id=call_id, name=name, content=INTERRUPTED,
                                   is_error=True))
        open_calls.clear()

    for msg in messages:
        if isinstance(msg, ToolMessage):
            if open_calls.pop(msg.tool_call_id, None) is not None:
                out.append(msg)
            continue  # an orphan or a duplicate
        close()
        if isinstance(msg, AssistantMessage):
            open_calls.update((tc.id, tc.name) for tc in msg.tool_calls)
        out.append(msg)
    close()
    return out
