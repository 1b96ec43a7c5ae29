"""The telecom environment: agent DB <-> user phone sync, policies, and the env factory.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research). ``sync_tools`` runs
after every ``get_response`` (the live path), after every initialization action and assertion,
and at the end of ``set_state`` -- exactly where the benchmark runs it. ``make_tool_call`` alone
does not sync (the evaluator's gold replay relies on that).
"""

from pathlib import Path
from typing import Literal

from agentkit.tau2.data import domain_dir, fresh_db, read_text
from agentkit.tau2.environment import Environment

from .models import LineStatus, TelecomDB
from .tools import TelecomTools
from .user_models import PaymentRequest, TelecomUserDB
from .user_tools import TelecomUserTools

__all__ = [
    "POLICY_FILES",
    "TelecomEnvironment",
    "get_environment",
    "get_policy",
]

PolicyType = Literal["manual", "workflow"]

# (main policy, tech-support policy) per (solo_mode, policy_type). The benchmark has no solo
# variant of the manual, so solo+manual uses the regular manual.
POLICY_FILES: dict[tuple[bool, str], tuple[str, str]] = {
    (False, "manual"): ("main_policy.md", "tech_support_manual.md"),
    (False, "workflow"): ("main_policy.md", "tech_support_workflow.md"),
    (True, "manual"): ("main_policy_solo.md", "tech_support_manual.md"),
    (True, "workflow"): ("main_policy_solo.md", "tech_support_workflow_solo.md"),
}


class TelecomEnvironment(Environment):
    """Environment whose ``sync_tools`` mirrors the agent-side line into the user's phone."""

    tools: TelecomTools
    user_tools: TelecomUserTools

    def sync_tools(self) -> None:
        """Push line state (active, roaming, data exceeded) and payment requests to the user.

        A paid payment request marks its bill paid (and is cleared); a bill awaiting payment
        becomes the user's payment request when none is pending.
        """
        surroundings = self.user_tools.db.surroundings
        phone_number = surroundings.phone_number
        if phone_number is None:
            return
        agent = self.tools
        line = agent._get_line_by_phone(phone_number)
        surroundings.line_active = line.status == LineStatus.ACTIVE
        surroundings.roaming_allowed = bool(line.roaming_enabled)
        plan = agent._get_plan_by_id(line.plan_id)
        surroundings.mobile_data_usage_exceeded = (
            line.data_used_gb >= plan.data_limit_gb + line.data_refueling_gb
        )

        request = surroundings.payment_request
        if request is not None and request.paid:
            agent._set_bill_to_paid(request.bill_id)
            surroundings.payment_request = None
        if surroundings.payment_request is None:
            customer = agent._customer_by_phone(phone_number)
            awaiting = agent._get_bills_awaiting_payment(customer)
            if awaiting:
                bill = awaiting[0]
                surroundings.payment_request = PaymentRequest(
                    bill_id=bill.bill_id, amount_due=bill.total_due
                )


def get_policy(
    data_dir: Path | str | None = None,
    solo_mode: bool = False,
    policy_type: PolicyType = "manual",
) -> str:
    """The agent policy: main policy + tech-support manual (or workflow), tagged like tau2."""
    key = (bool(solo_mode), policy_type)
    if key not in POLICY_FILES:
        raise ValueError(f"Invalid policy type: {policy_type} (expected 'manual' or 'workflow')")
    main_name, tech_name = POLICY_FILES[key]
    folder = domain_dir("telecom", data_dir)
    main = read_text(folder / main_name)
    tech = read_text(folder / tech_name)
    return (
        "<main_policy>\n"
        + main
        + "\n</main_policy>\n<tech_support_policy>\n"
        + tech
        + "\n</tech_support_policy>"
    )


def get_environment(
    data_dir: Path | str | None = None,
    solo_mode: bool = False,
    policy_type: PolicyType = "manual",
    db: TelecomDB | None = None,
    user_db: TelecomUserDB | None = None,
) -> TelecomEnvironment:
    """A fresh telecom environment (pristine DBs unless ``db`` / ``user_db`` are given).

    ``policy_type="workflow"`` gives the benchmark's "telecom-workflow" variant.
    """
    policy = get_policy(data_dir, solo_mode=solo_mode, policy_type=policy_type)
    folder = domain_dir("telecom", data_dir)
    if db is None:
        db = fresh_db(TelecomDB, folder / "db.toml")
    if user_db is None:
        user_db = fresh_db(TelecomUserDB, folder / "user_db.toml")
    return TelecomEnvironment(
        domain_name="telecom" if policy_type == "manual" else "telecom-workflow",
        policy=policy,
        tools=TelecomTools(db),
        user_tools=TelecomUserTools(user_db),
        solo_mode=solo_mode,
    )
