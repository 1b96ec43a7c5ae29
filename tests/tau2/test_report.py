"""``agentkit tau2 report --html``: the page checked in a real headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright for Python; never ``playwright install``), with every
request that is not the page itself refused and recorded: it loads with no network, the plot
and the tables are there, a conversation opens from its task row, untrusted text stays text.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from agentkit.tau2.cli import register
from agentkit.tau2.report import failing_checks
from agentkit.tau2.results import load_results

FIXTURE = Path(__file__).parent / "fixtures" / "tau2_bench_results.json"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
PAYLOAD = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="agentkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def hostile_copy(tmp_path: Path) -> Path:
    """The fixture with markup in a user message, a tool result and a task id."""
    doc = json.loads(FIXTURE.read_text())
    sim = doc["simulations"][1]
    sim["messages"][1]["content"] = "Add " + PAYLOAD
    sim["messages"][3]["content"] = PAYLOAD
    path = tmp_path / "model-b.json"
    path.write_text(json.dumps(doc))
    return path


def test_failing_checks_are_named() -> None:
    sims = {s.id: s for s in load_results(FIXTURE).simulations}
    assert failing_checks(sims["sim-groceries-0"]) == []
    assert failing_checks(sims["sim-groceries-1"]) == [
        "DB: final database differs from the gold one"]
    assert failing_checks(sims["sim-status-1"]) == ["terminated: max_steps"]
    assert failing_checks(sims["sim-status-infra"])[0].startswith("infrastructure error")


def test_the_report_works_in_a_real_browser(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    assert main(["tau2", "report", str(FIXTURE), str(hostile_copy(tmp_path)),
                 "--html", str(out)]) == 0
    assert "pass^1" in capsys.readouterr().out
    page_url = out.resolve().as_uri()
    text = out.read_text()
    assert "<script>window.pwned" not in text and "&lt;script&gt;" in text

    refused: list[str] = []
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            def gate(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if url == page_url:
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    refused.append(url)
                    route.abort()  # type: ignore[attr-defined]

            context.route("**/*", gate)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_url)
            # the plot: an inline SVG with one line per results file
            assert page.locator("#passk-plot svg").count() == 1
            legend = page.locator("#passk-plot svg").text_content() or ""
            assert "tau2_bench_results.json · mock" in legend and "model-b.json · mock" in legend
            assert page.locator("#dist-plot svg").count() == 1
            # the tables
            assert page.locator("#passk tr").count() == 3  # header + one row per file
            assert "0.5000" in page.locator("#passk").inner_text()
            assert page.locator("table.tasks").count() == 2
            first = page.locator("table.tasks").first
            assert "final database differs" in first.inner_text()
            assert page.locator("#dists tr").count() == 1 + 2 * 3
            # a conversation opens from its task row
            conv = page.locator("#conv-1-1")
            assert conv.evaluate("el => el.open") is False
            page.locator('table.tasks a[href="#conv-1-1"]').click()
            page.wait_for_function("document.getElementById('conv-1-1').open")
            assert conv.locator("pre").first.is_visible()
            shown = conv.inner_text()
            assert "Add " + PAYLOAD in shown  # markup shown as text, never run
            assert "create_task" in shown and "Buy grocery" in shown
            assert page.evaluate("window.pwned === undefined")
            assert errors == []
        finally:
            context.close()
    assert refused == []  # nothing but the page itself was ever requested
