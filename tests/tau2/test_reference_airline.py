"""Airline fidelity: replaying every reference record reproduces tau2's outputs and hashes."""

from __future__ import annotations

from typing import Any

DOMAIN = "airline"


def test_reference_record(reference_record: dict[str, Any], reference_check: Any) -> None:
    problems = reference_check.run(reference_record)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- copy-on-write DB isolation


def test_fresh_envs_share_nothing_mutable(data_dir: Any) -> None:
    """Mutations through any dict access path never reach the cached pristine DB."""
    import copy

    from agentkit.tau2.registry import get_domain
    from agentkit.tau2.toolkit import dict_hash

    spec = get_domain(DOMAIN)
    pristine_hash = spec.build_env(data_dir).get_db_hash()
    env = spec.build_env(data_dir)
    db = env.tools.db
    uid = next(iter(db.users))
    db.users[uid].email = "a@b.c"
    next(iter(db.flights.values())).origin = "XXX"
    for _, res in list(db.reservations.items())[:3]:
        res.total_baggages = 99
    db.users.get(next(iter(db.users)), None).dob = "2000-01-01"
    dict(db.flights)[next(iter(db.flights))].destination = "YYY"
    {**db.reservations}[next(iter(db.reservations))].cabin = "business"
    (db.users | {})[uid].membership = "gold"
    copy.copy(db.reservations)[next(iter(db.reservations))].insurance = "yes"
    db.reservations.setdefault(next(iter(db.reservations))).status = "cancelled"
    popped = db.users.pop(uid)
    popped.reservations.append("ZZZ")
    mutated_hash = env.get_db_hash()
    assert mutated_hash == dict_hash(db.model_dump()), "incremental hash must equal full hash"
    assert mutated_hash != pristine_hash
    assert spec.build_env(data_dir).get_db_hash() == pristine_hash


# ---------------------------------------------------------------- tool schemas

AIRLINE_TOOLS = [
    "book_reservation",
    "calculate",
    "cancel_reservation",
    "get_reservation_details",
    "get_user_details",
    "list_all_airports",
    "search_direct_flight",
    "search_onestop_flight",
    "send_certificate",
    "transfer_to_human_agents",
    "update_reservation_baggages",
    "update_reservation_flights",
    "update_reservation_passengers",
    "get_flight_status",
]


def test_tool_schemas_follow_tau2(data_dir: Any) -> None:
    from agentkit.tau2.registry import get_domain
    from agentkit.tau2.toolkit import ToolType

    env = get_domain(DOMAIN).build_env(data_dir)
    schemas = {s["function"]["name"]: s["function"] for s in env.tool_schemas()}
    assert list(schemas) == AIRLINE_TOOLS
    writes = {n for n in AIRLINE_TOOLS if env.tools.tool_type(n) == ToolType.WRITE}
    assert writes == {
        "book_reservation",
        "cancel_reservation",
        "update_reservation_baggages",
        "update_reservation_flights",
        "update_reservation_passengers",
        "send_certificate",
    }
    assert schemas["transfer_to_human_agents"]["description"] == (
        "Transfer the user to a human agent, with a summary of the user's issue.\n\n"
        "Only transfer if\n -  the user explicitly asks for a human agent\n"
        " -  given the policy and the available tools, you cannot solve the user's issue."
    )
    book = schemas["book_reservation"]["parameters"]
    assert book["title"] == "parameters"
    assert set(book["$defs"]) == {"FlightInfo", "Passenger", "Payment"}
    assert book["required"] == [
        "user_id", "origin", "destination", "flight_type", "cabin", "flights", "passengers",
        "payment_methods", "total_baggages", "nonfree_baggages", "insurance",
    ]
    assert book["properties"]["cabin"]["enum"] == ["business", "economy", "basic_economy"]
    assert schemas["list_all_airports"]["parameters"]["properties"] == {}
    assert schemas["get_reservation_details"]["parameters"]["properties"]["reservation_id"] == {
        "description": "The reservation ID, such as '8JX2WO'.",
        "title": "Reservation Id",
        "type": "string",
    }
