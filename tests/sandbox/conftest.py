"""Fixtures for the Docker sandbox tests: they run against the real daemon and FAIL (never
skip) when Docker or the image is unavailable; the image is built when missing."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from agentkit.sandbox import DockerSandbox, ensure_image
from agentkit.sandbox.container import docker_client, list_sandboxes

SUITE = f"agentkit.test={os.getpid()}-{uuid.uuid4().hex[:8]}"
SUITE_KEY, SUITE_VALUE = SUITE.split("=", 1)


def suite_containers() -> list[dict[str, Any]]:
    return list_sandboxes(SUITE)


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    docker_client()  # raises SandboxError (test error, not skip) when the daemon is absent
    return ensure_image()


@pytest.fixture(scope="session", autouse=True)
def no_leftover_containers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Count the suite's containers before and after the whole run: nothing may be left."""
    if not any(item.get_closest_marker("docker") for item in request.session.items):
        yield
        return
    before = suite_containers()
    assert before == []
    yield
    left = [c["Id"][:12] for c in suite_containers()]
    assert left == [], f"sandbox containers left behind: {left}"


SandboxFactory = Callable[..., DockerSandbox]


@pytest.fixture
def suite_labels() -> dict[str, str]:
    """Labels that mark a container as created by this test session."""
    return {SUITE_KEY: SUITE_VALUE}


@pytest.fixture(name="suite_containers")
def suite_containers_fixture() -> Callable[[], list[dict[str, Any]]]:
    return suite_containers


@pytest.fixture
async def make_sandbox(sandbox_image: str) -> AsyncIterator[SandboxFactory]:
    """Build started-on-demand sandboxes labelled with the suite id; all closed at teardown."""
    made: list[DockerSandbox] = []

    def factory(**kwargs: Any) -> DockerSandbox:
        labels = {SUITE_KEY: SUITE_VALUE, **kwargs.pop("labels", {})}
        kwargs.setdefault("image", sandbox_image)
        sb = DockerSandbox(labels=labels, **kwargs)
        made.append(sb)
        return sb

    yield factory
    for sb in made:
        await sb.close()


@pytest.fixture
async def sandbox(make_sandbox: SandboxFactory) -> AsyncIterator[DockerSandbox]:
    """A started sandbox with small limits that keep the hostile suite fast."""
    sb = make_sandbox(memory="256m", pids=64, tmp_size="32m", workspace_size="32m", timeout=10)
    await sb.start()
    yield sb
