"""`agentkit sandbox doctor`: check the daemon, the image and a round trip; explain fixes."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

from .result import SandboxError

__all__ = ["doctor"]


def doctor(image: str | None = None, say: Callable[[str], None] = print) -> int:
    """Run the checks, print a line per check; return 0 when everything works."""
    from . import container as ct
    from .image import default_image, image_exists

    tag = image or default_image()
    try:
        client = ct.docker_client()
        version = client.version()
        say(f"ok   docker daemon {version.get('Version')} (API {version.get('ApiVersion')})")
    except SandboxError as exc:
        say(f"FAIL docker daemon: {exc}")
        say("     fix: start it (`sudo systemctl start docker` or `dockerd &`) and make sure "
            "this user may use /var/run/docker.sock (or set DOCKER_HOST)")
        return 1
    if not image_exists(tag, client):
        say(f"FAIL image {tag} is missing")
        say("     fix: `agentkit sandbox build` (hosts that can pull python:3.11-slim) or "
            "`agentkit sandbox build --offline` (air-gapped: debootstrap + PyPI wheels)")
        return 1
    say(f"ok   image {tag}")

    async def round_trip() -> tuple[float, str | None, str]:
        from .sandbox import DockerSandbox

        started = time.monotonic()
        async with DockerSandbox(image=tag, memory="256m") as sb:
            cold = time.monotonic() - started
            r = await sb.run_python("import numpy, pandas, matplotlib\n6 * 7")
            net = await sb.run_python("import socket\nsocket.getaddrinfo('example.com', 80)")
        blocked = net.error is not None
        return cold, r.value if r.error is None else str(r.error), "blocked" if blocked else "OPEN"

    try:
        cold, value, network = anyio.run(round_trip)
    except Exception as exc:
        say(f"FAIL round trip: {type(exc).__name__}: {exc}")
        say("     fix: see the message above; `docker run --rm -it <image> python3` should work")
        return 1
    if value != "42":
        say(f"FAIL round trip returned {value!r}; rebuild the image (`agentkit sandbox build`)")
        return 1
    say(f"ok   round trip: started in {cold:.2f}s, numpy/pandas/matplotlib import, "
        f"network {network}")
    return 0
