"""The README's "Testing your agents" example runs as documented (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_testing_agents_example_runs() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "testing_agents.py")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ScriptedModel", "FunctionModel", "LoopbackServer"]
    assert "Quote(currency='USD', value=5.4)" in lines[0]
    assert "['fault', 'fault', 'complete', 'complete']" in lines[2]


def test_readme_points_at_the_example() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "examples/testing_agents.py" in readme
