"""Retail fidelity: replaying every reference record reproduces tau2's outputs and hashes."""

from __future__ import annotations

from typing import Any

DOMAIN = "retail"


def test_reference_record(reference_record: dict[str, Any], reference_check: Any) -> None:
    problems = reference_check.run(reference_record)
    assert not problems, "\n".join(problems)
