"""The typing test: mypy --strict and pyright (strict) over a user-style script.

agentkit is installed (not editable) into a temporary directory first, so the checkers
see it as a user's program would: through its `py.typed` marker. Every
`reveal_type(...)  # T: <type>` must reveal exactly that type (module prefixes dropped),
every line marked `# E: <word>` must be an error mentioning <word>, and nothing else may be
reported. Run by scripts/test.sh; exits non-zero with the differences.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("user_script.py")
BIN = Path(sys.executable).parent
_QUALIFIED = re.compile(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)")


def normalise(type_text: str) -> str:
    return _QUALIFIED.sub(r"\1", type_text).replace('"', "").strip()


def expectations() -> tuple[dict[int, str], dict[int, str]]:
    reveals, errors = {}, {}
    for n, line in enumerate(SCRIPT.read_text().splitlines(), 1):
        if "reveal_type(" in line and (m := re.search(r"#\s*T:\s*(.+)$", line)):
            reveals[n] = m.group(1).strip()
        if not line.lstrip().startswith("#") and (m := re.search(r"#\s*E:\s*(\S+)", line)):
            errors[n] = m.group(1)
    return reveals, errors


def run_mypy(work: Path, env: dict[str, str]) -> tuple[dict[int, str], dict[int, list[str]]]:
    proc = subprocess.run(
        [str(BIN / "mypy"), "--strict", "--no-incremental", "--show-error-codes",
         "--python-executable", sys.executable, "user_script.py"],
        cwd=work, env=env, capture_output=True, text=True, check=False)
    reveals: dict[int, str] = {}
    errors: dict[int, list[str]] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"user_script\.py:(\d+): (error|note): (.*)$", line)
        if not m:
            continue
        n, kind, text = int(m.group(1)), m.group(2), m.group(3)
        if kind == "note" and text.startswith("Revealed type is "):
            reveals[n] = normalise(text.removeprefix("Revealed type is "))
        elif kind == "error":
            errors.setdefault(n, []).append(text)
    return reveals, errors


def run_pyright(work: Path, env: dict[str, str]) -> tuple[dict[int, str], dict[int, list[str]]]:
    proc = subprocess.run(
        [str(BIN / "pyright"), "--outputjson", "--pythonpath", sys.executable,
         "user_script.py"], cwd=work, env=env, capture_output=True, text=True, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"pyright did not run:\n{proc.stdout}\n{proc.stderr}") from None
    reveals: dict[int, str] = {}
    errors: dict[int, list[str]] = {}
    for d in report["generalDiagnostics"]:
        n = d["range"]["start"]["line"] + 1
        msg = d["message"]
        if d["severity"] == "information" and (m := re.match(r'Type of ".*" is "(.*)"$', msg)):
            reveals[n] = normalise(m.group(1))
        elif d["severity"] in ("error", "warning"):
            errors.setdefault(n, []).append(msg)
    return reveals, errors


def compare(tool: str, got: tuple[dict[int, str], dict[int, list[str]]],
            want: tuple[dict[int, str], dict[int, str]]) -> list[str]:
    (reveals, errors), (want_reveals, want_errors) = got, want
    problems = []
    for n, t in want_reveals.items():
        if reveals.get(n) != t:
            problems.append(f"{tool}: line {n}: revealed {reveals.get(n)!r}, expected {t!r}")
    for n, word in want_errors.items():
        if not any(word in e for e in errors.get(n, [])):
            problems.append(f"{tool}: line {n}: expected an error about {word!r}, "
                            f"got {errors.get(n)}")
    for n, msgs in errors.items():
        if n not in want_errors:
            problems.append(f"{tool}: line {n}: unexpected: {' | '.join(msgs)}")
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="agentkit-typing-") as tmp:
        work = Path(tmp)
        site = work / "site"
        src = work / "src"  # a clean copy: setuptools would reuse a stale build/ in ROOT
        shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
            ".hypothesis", "node_modules"))
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                        "--no-compile", "--target", str(site), str(src)],
                       check=True, stdout=subprocess.DEVNULL)
        shutil.copy(SCRIPT, work / "user_script.py")
        env = {**os.environ, "PYTHONPATH": str(site),  # the installed copy, not the checkout
               "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}  # no version check over the network
        want = expectations()
        problems = compare("mypy", run_mypy(work, env), want)
        problems += compare("pyright", run_pyright(work, env), want)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"typing test: {len(want[0])} reveal_type and {len(want[1])} error expectations, "
          f"mypy and pyright: {'FAILED' if problems else 'ok'}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
