"""Reply validation without Docker: the host's `result_from_reply` and the in-container
`ReplyReader` / `clean_reply` (loaded from the runtime source, as the container does)."""

from __future__ import annotations

import base64
import importlib.util
import json
from types import ModuleType
from typing import Any

import pytest
from agentkit.sandbox.container import RUNTIME
from agentkit.sandbox.result import ProtocolError, SandboxError, result_from_reply


@pytest.fixture(scope="module")
def common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agentkit_sandbox_common",
                                                  RUNTIME / "common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GOOD: dict[str, Any] = {"id": 3, "ok": True, "stdout": "out", "stderr": "", "value": "1",
                        "error": None, "exit_code": 0, "timed_out": False, "truncated": False,
                        "state_lost": False, "files": ["a.txt"], "oom_killed": False}


def test_result_from_a_good_reply() -> None:
    r = result_from_reply(GOOD, max_output=100, duration=0.5, lost_before=True)
    assert (r.stdout, r.value, r.files, r.state_lost, r.duration) == (
        "out", "1", ["a.txt"], True, 0.5)


@pytest.mark.parametrize("bad", [
    {"exit_code": "boom"}, {"exit_code": True}, {"exit_code": 1.5}, {"value": 5},
    {"stdout": None}, {"error": "x"}, {"error": {"type": 1}}, {"files": "a"},
    {"files": [1]}, {"timed_out": "yes"}, {"state_lost": 1},
])
def test_malformed_replies_are_protocol_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="malformed reply") as info:
        result_from_reply({**GOOD, **bad}, max_output=100, duration=0)
    assert isinstance(info.value, SandboxError)


def test_host_caps_output_and_value() -> None:
    r = result_from_reply({**GOOD, "stdout": "x" * 10**6, "value": "v" * 10**6},
                          max_output=1000, duration=0)
    assert r.truncated and len(r.stdout) <= 1400 and r.value is not None
    assert len(r.value) <= 20200


def test_reply_reader_takes_only_the_nonce_line(common: ModuleType) -> None:
    reader = common.ReplyReader("abc123")
    assert reader.feed(b'{"nonce": "old", "value": "stale"}\n{"value": "forged"}\n') is None
    assert reader.feed(b"garbage without newline") is None
    assert reader.feed(b"\n") is None  # the worker's leading newline ends the garbage
    line = json.dumps({"nonce": "abc123", "value": "real"}).encode()
    assert reader.feed(line[:10]) is None
    assert reader.feed(line[10:] + b"\n" + line + b"\n") == {"nonce": "abc123", "value": "real"}


def test_reply_reader_drops_endless_lines(common: ModuleType) -> None:
    reader = common.ReplyReader("n1")
    chunk = b'{"nonce": "n1", "value": "' + b"x" * (1 << 20)
    for _ in range(5):
        assert reader.feed(chunk) is None
    assert len(reader.buf) <= common.REPLY_LINE_MAX
    assert reader.feed(b'"}\n') is None  # the end of the oversized line is dropped too
    assert reader.feed(b'{"nonce": "n1", "value": "ok"}\n') == {"nonce": "n1", "value": "ok"}


def test_clean_reply_caps_and_checks_types(common: ModuleType) -> None:
    out, cut = common.clean_reply({"value": "y" * 10**6, "exit_code": 0, "extra": "dropped",
                                   "error": {"type": "E", "message": "m" * 10**6,
                                             "traceback": "t" * 10**6}}, 1000)
    assert cut and len(out["value"]) < 1200 and "extra" not in out
    assert len(out["error"]["message"]) < 21000 and len(out["error"]["traceback"]) < 51000
    out, _ = common.clean_reply({"exit_code": "boom", "value": 3, "figures": "f"}, 1000)
    assert out["exit_code"] == 1 and out["value"] is None and out["figures"] == []
    assert out["error"]["type"] == "SandboxError" and "malformed" in out["error"]["message"]


def test_get_reads_at_most_max_transfer_plus_one(tmp_path: Any) -> None:
    """A file can grow between the size check and the read: the executor reads at most
    max_transfer + 1 bytes and refuses. /proc files report size 0 and hold more, which
    makes that race deterministic (the executor code runs here as in the container)."""
    import errno
    import sys

    modules = {}
    for name in ("common", "files"):
        spec = importlib.util.spec_from_file_location(f"agentkit_sandbox_{name}",
                                                      RUNTIME / f"{name}.py")
        assert spec is not None and spec.loader is not None
        modules[name] = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = modules[name]
        spec.loader.exec_module(modules[name])
    try:
        files = modules["files"]
        files.WORKSPACE = "/proc"  # /proc/meminfo: st_size 0, about 1.5 kB of text
        with pytest.raises(OSError) as exc:
            files.get({"path": "meminfo"}, 100)
        assert exc.value.errno == errno.EFBIG
        files.WORKSPACE = str(tmp_path)
        (tmp_path / "exact").write_bytes(b"x" * 100)
        assert base64.b64decode(files.get({"path": "exact"}, 100)["data"]) == b"x" * 100
    finally:
        for name in modules:
            sys.modules.pop(f"agentkit_sandbox_{name}", None)
