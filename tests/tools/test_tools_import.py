"""`import agentkit.tools` and building the tool lists stay cheap (no heavy imports)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("httpx", "httpcore", "trafilatura", "docker", "openai", "ddgs", "pypdf", "lxml")


def imported_after(code: str) -> set[str]:
    probe = (f"import sys\n{code}\n"
             f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip()
    return set(filter(None, out.split(",")))


def test_import_is_light() -> None:
    assert imported_after("import agentkit.tools") == set()


def test_building_tools_is_light(tmp_path: object) -> None:
    code = ("import tempfile\nfrom agentkit.tools import code_tools, file_tools, web_tools\n"
            "tools = [*code_tools(timeout=5), *file_tools(tempfile.mkdtemp()), *web_tools()]\n"
            "assert [t.name for t in tools] == ['code_interpreter', 'shell', 'read_file', "
            "'write_file', 'edit_file', 'list_files', 'glob', 'grep', 'web_search', "
            "'fetch_url'], [t.name for t in tools]")
    assert imported_after(code) == set()
