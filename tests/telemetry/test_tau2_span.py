"""A tau2 simulation (airline task 11, scripted agent and user over loopback servers) is one
span with its domain, task, trial, seed and reward, the parent of the agent's runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.trace import StatusCode

from agentkit.models import OpenAICompatModel
from agentkit.tau2.registry import get_domain
from agentkit.tau2.runner import RunConfig, run_benchmark, trial_seeds
from agentkit.testing import LoopbackServer, call, reply, tool_step

from .conftest import Captured

pytestmark = pytest.mark.anyio


async def test_one_span_per_simulation(otel: Captured, tmp_path: Path) -> None:
    gold = get_domain("airline").load_tasks(task_ids=["11"])[0].gold_actions[0].arguments
    agent_steps = [
        tool_step(call("get_reservation_details", {"reservation_id": "GV1N64"}),
                  thinking="Look it up."),
        reply("I can downgrade to basic economy; refund $5,244. Proceed?", thinking="Refund."),
        tool_step(call("update_reservation_flights", gold), thinking="Confirmed."),
        reply("Done: you were refunded 5244 dollars.", thinking="Tell the user."),
    ]
    user_steps = [reply(t, thinking="I am the customer.") for t in (
        "Please change my reservation GV1N64 to basic economy.", "Yes, proceed.",
        "Thanks! ###STOP###")]
    async with LoopbackServer(agent_steps) as agent_srv, LoopbackServer(user_steps) as user_srv:
        models = [OpenAICompatModel("qwen3-max", base_url=srv.base_url, api_key="k",
                                    profile="dashscope") for srv in (agent_srv, user_srv)]
        try:
            config = RunConfig(domain="airline", agent_model=models[0], user_model=models[1],
                               task_ids=["11"], trials=1, seed=300, max_retries=0,
                               concurrency=1, progress=False)
            results = await run_benchmark(config, tmp_path / "results.json")
        finally:
            for m in models:
                await m.aclose()
    (sim,) = results.simulations
    assert sim.reward == 1.0

    span = otel.one("tau2.simulation")
    a = span.attributes or {}
    assert span.name == "tau2.simulation airline" and span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    assert a["agentkit.tau2.domain"] == "airline" and a["agentkit.tau2.task_id"] == "11"
    assert a["agentkit.tau2.trial"] == 0 and a["agentkit.tau2.seed"] == trial_seeds(300, 1)[0]
    assert a["agentkit.tau2.reward"] == 1.0
    assert a["agentkit.tau2.termination_reason"] == "user_stop"
    runs = otel.named("invoke_agent")
    assert runs, "the agent's turns are runs"
    assert all(r.parent is not None and r.parent.span_id == span.context.span_id for r in runs)
    assert all(r.context.trace_id == span.context.trace_id for r in otel.spans())
    tools = {s.name for s in otel.named("execute_tool")}
    assert {"execute_tool get_reservation_details",
            "execute_tool update_reservation_flights"} <= tools
