"""The image: content-addressed tag, build entry points, and what the image contains."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from agentkit.sandbox import DEFAULT_IMAGE, DockerSandbox, default_image
from agentkit.sandbox import image as image_mod

pytestmark = pytest.mark.docker


def test_tag_is_a_hash_of_the_image_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTKIT_SANDBOX_IMAGE", raising=False)
    tag = default_image()
    assert DEFAULT_IMAGE == tag or "AGENTKIT_SANDBOX_IMAGE" in os.environ
    assert tag == f"agentkit-sandbox:{image_mod.inputs_hash()}"
    copy = tmp_path / "sandbox"
    shutil.copytree(image_mod.HERE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(image_mod, "HERE", copy)
    assert default_image() == tag  # same inputs, same tag
    (copy / "runtime" / "supervisor.py").write_text("# runtime edits need no rebuild\n")
    assert default_image() == tag
    for rel in ("Dockerfile", "image/requirements.txt", "image/Dockerfile.offline",
                "image/debian-packages.txt"):
        original = (copy / rel).read_bytes()
        (copy / rel).write_bytes(original + b"\n# changed\n")
        assert default_image() != tag, rel
        (copy / rel).write_bytes(original)
    assert default_image() == tag
    monkeypatch.setenv("AGENTKIT_SANDBOX_IMAGE", "custom:1")
    assert default_image() == "custom:1"


def test_build_entry_point_if_missing_is_a_no_op(sandbox_image: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agentkit.sandbox", "build", "--offline", "--if-missing",
         "--tag", sandbox_image],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == sandbox_image and "is present" in proc.stderr


def test_doctor_reports_a_working_setup(sandbox_image: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agentkit.sandbox", "doctor", "--image", sandbox_image],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ok ") == 3 and "network blocked" in proc.stdout


def test_doctor_explains_a_missing_image() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agentkit.sandbox", "doctor", "--image",
         "agentkit-sandbox:does-not-exist"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    assert "missing" in proc.stdout and "agentkit sandbox build --offline" in proc.stdout


def test_cli_register_adds_the_sandbox_command() -> None:
    import argparse

    from agentkit.sandbox.cli import register

    parser = argparse.ArgumentParser(prog="agentkit")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sandbox", "build", "--offline", "--if-missing"])
    assert args.offline and args.if_missing and callable(args.func)
    assert callable(parser.parse_args(["sandbox", "doctor"]).func)


@pytest.mark.anyio
async def test_image_contents(make_sandbox: Callable[..., DockerSandbox]) -> None:
    sb = make_sandbox()
    await sb.start()
    r = await sb.run_python(
        "import sys, numpy, pandas, matplotlib\n"
        "(sys.version_info[:2], numpy.__version__, pandas.__version__, matplotlib.__version__)"
    )
    assert r.error is None and r.value is not None and r.value.startswith("((3, 11)"), r
    r = await sb.run_python(
        "import pandas as pd, numpy as np\n"
        "df = pd.DataFrame({'a': np.arange(4)})\nint(df.a.sum())"
    )
    assert r.value == "6"
