"""Mock domain DB models: tasks and users (agent side), a notification inbox (user side).

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ...toolkit import DB

__all__ = ["MockDB", "MockTask", "MockUser", "MockUserDB", "Notification", "TaskStatus"]

TaskStatus = Literal["pending", "completed"]


class MockTask(BaseModel):
    task_id: str = Field(description="Unique identifier for the task")
    title: str = Field(description="Title of the task")
    description: str | None = Field(None, description="Description of the task")
    status: TaskStatus = Field(description="Status of the task")


class MockUser(BaseModel):
    user_id: str = Field(description="Unique identifier for the user")
    name: str = Field(description="User's name")
    tasks: list[str] = Field(description="List of task IDs assigned to the user")


class MockDB(DB):
    """Simple database with users and their tasks."""

    tasks: dict[str, MockTask] = Field(description="All tasks indexed by task ID")
    users: dict[str, MockUser] = Field(description="All users indexed by user ID")


class Notification(BaseModel):
    """A notification in the user's inbox."""

    model_config = ConfigDict(extra="forbid")

    notification_id: str = Field(description="Unique identifier for the notification")
    message: str = Field(description="The notification message")
    status: Literal["unread", "read"] = Field(
        default="unread", description="Whether the notification has been read"
    )
    task_id: str | None = Field(None, description="Associated task ID, if applicable")


class MockUserDB(DB):
    """Simple user database with a notification inbox."""

    notifications: dict[str, Notification] = Field(default_factory=dict)
