"""Sandbox latency: cold start, warm round trip, pool acquire, against `docker` baselines.

    python benchmarks/sandbox_latency.py [--runs 15] [--calls 500]

Everything is measured in the same run on the same image:
* cold start: `DockerSandbox()` create -> first `run_python("1")` result, versus a bare
  `docker run --rm IMAGE python3 -c 1` (CLI, wall time);
* warm round trip of a trivial call (`run_python("1")`, `run_shell("true")`), versus
  `docker exec CID python3 -c 1` / `docker exec CID true` (CLI, one exec per call);
* acquire from a warm `SandboxPool` (and acquire + first call).
Targets (issue #4, 2-core host): warm p50 <= 5 ms; pool acquire p50 <= 20 ms;
cold start <= 1.2x bare docker run.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Awaitable, Callable

import anyio
from agentkit.sandbox import DockerSandbox, SandboxPool, ensure_image

LABELS = {"agentkit.benchmark": "sandbox_latency"}


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(x: float) -> str:
    return f"{x * 1000:8.2f} ms"


def row(name: str, samples: list[float]) -> tuple[float, float]:
    p50, p95 = pct(samples, 0.5), pct(samples, 0.95)
    print(f"  {name:<50} p50 {ms(p50)}   p95 {ms(p95)}   (n={len(samples)})")
    return p50, p95


def cli(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(["docker", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def sdk_run(image: str) -> float:
    """Bare run through the Docker SDK (no CLI start-up): create, start, wait for exit."""
    from agentkit.sandbox.container import docker_client

    api = docker_client().api
    started = time.perf_counter()
    cid = api.create_container(image, command=["python3", "-c", "1"], labels=LABELS)["Id"]
    api.start(cid)
    api.wait(cid)
    took = time.perf_counter() - started
    api.remove_container(cid, force=True)
    return took


def sdk_first_output(image: str) -> float:
    """Strictest baseline: SDK create + attach + start until `print(1)`'s output arrives
    (no exit / teardown included, like our cold start)."""
    from agentkit.sandbox.container import docker_client

    api = docker_client().api
    started = time.perf_counter()
    cid = api.create_container(image, command=["python3", "-c", "print(1)"], labels=LABELS)["Id"]
    stream = api.attach(cid, stdout=True, stderr=True, stream=True, logs=True)
    api.start(cid)
    next(iter(stream))
    took = time.perf_counter() - started
    api.remove_container(cid, force=True)
    return took


async def timed(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - started)
    return out


async def main(runs: int, calls: int) -> int:
    image = ensure_image()
    print(f"image {image}")
    async with DockerSandbox(image=image, labels=LABELS):  # warm-up: reaper, page cache
        pass
    cli("run", "--rm", image, "python3", "-c", "1")

    cold: list[float] = []
    bare: list[float] = []
    bare_keep: list[float] = []
    bare_sdk: list[float] = []
    first_out: list[float] = []
    for i in range(runs):  # interleaved so that all see the same machine state
        bare.append(await anyio.to_thread.run_sync(
            cli, "run", "--rm", image, "python3", "-c", "1"))
        name = f"agentkit-bench-{i}"
        bare_keep.append(await anyio.to_thread.run_sync(
            cli, "run", "--name", name, image, "python3", "-c", "1"))
        await anyio.to_thread.run_sync(cli, "rm", "-f", name)  # untimed
        bare_sdk.append(await anyio.to_thread.run_sync(sdk_run, image))
        first_out.append(await anyio.to_thread.run_sync(sdk_first_output, image))
        sb = DockerSandbox(image=image, labels=LABELS)
        started = time.perf_counter()
        await sb.start()
        await sb.run_python("1")
        cold.append(time.perf_counter() - started)
        await sb.close()

    async with DockerSandbox(image=image, labels=LABELS) as sb:
        assert sb.container_id is not None
        cid = sb.container_id
        await timed(lambda: sb.run_python("1"), 50)
        warm_py = await timed(lambda: sb.run_python("1"), calls)
        warm_sh = await timed(lambda: sb.run_shell("true"), max(50, calls // 5))
        n_exec = max(20, runs * 2)
        exec_py = [await anyio.to_thread.run_sync(cli, "exec", cid, "python3", "-c", "1")
                   for _ in range(n_exec)]
        exec_true = [await anyio.to_thread.run_sync(cli, "exec", cid, "true")
                     for _ in range(n_exec)]

    acquire: list[float] = []
    first_call: list[float] = []
    async with SandboxPool(size=2, image=image, labels=LABELS) as pool:
        for _ in range(runs):
            await pool.wait_ready()
            started = time.perf_counter()
            got = await pool.acquire()
            acquire.append(time.perf_counter() - started)
            await got.run_python("1")
            first_call.append(time.perf_counter() - started)
            await got.close()

    print("\ncold start")
    cold50, _ = row("DockerSandbox: create -> first result", cold)
    bare50, _ = row("baseline: docker run --rm IMAGE python3 -c 1", bare)
    keep50, _ = row("baseline: docker run (no --rm)", bare_keep)
    sdk50, _ = row("baseline: SDK create+start+wait python3 -c 1", bare_sdk)
    out50, _ = row("baseline: SDK create+attach+start -> 1st output", first_out)
    print("\nwarm round trip")
    py50, _ = row("run_python('1')", warm_py)
    sh50, _ = row("run_shell('true')", warm_sh)
    ex50, _ = row("baseline: docker exec CID python3 -c 1", exec_py)
    ext50, _ = row("baseline: docker exec CID true", exec_true)
    print("\nwarm pool (size 2)")
    acq50, _ = row("SandboxPool.acquire()", acquire)
    row("acquire + first run_python('1')", first_call)

    checks = [
        ("warm round trip p50 <= 5 ms", py50 <= 0.005, f"{py50 * 1000:.2f} ms"),
        ("pool acquire p50 <= 20 ms", acq50 <= 0.020, f"{acq50 * 1000:.3f} ms"),
        ("cold start <= 1.2x bare docker run", cold50 <= 1.2 * min(bare50, keep50),
         f"{cold50 / min(bare50, keep50):.2f}x (vs the faster baseline)"),
    ]
    print("\nratios")
    print(f"  docker exec (python) / run_python         {ex50 / py50:8.1f}x slower")
    print(f"  docker exec (true) / run_shell            {ext50 / sh50:8.1f}x slower")
    print(f"  cold start / bare docker run --rm         {cold50 / bare50:8.2f}x")
    print(f"  cold start / bare docker run (no --rm)    {cold50 / keep50:8.2f}x")
    print(f"  cold start / bare SDK run                 {cold50 / sdk50:8.2f}x")
    print(f"  cold start / SDK time to first output     {cold50 / out50:8.2f}x")
    print("\ntargets")
    for name, ok, value in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {name:<40} {value}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="cold starts / pool acquires")
    parser.add_argument("--calls", type=int, default=500, help="warm round trips")
    ns = parser.parse_args()
    raise SystemExit(anyio.run(main, ns.runs, ns.calls))
