"""Which environment key goes to which server."""

from __future__ import annotations

import pytest

from agentkit import UserError
from agentkit.models import OpenAICompatModel

DASH = "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DASHSCOPE_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "DEEPSEEK_API_KEY",
                "MOONSHOT_API_KEY", "AGENTKIT_MODEL"):
        monkeypatch.delenv(var, raising=False)


def test_default_is_qwen3_max_on_dashscope_with_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash")
    m = OpenAICompatModel()
    assert (m.name, m.base_url, m.profile.name) == ("qwen3-max", DASH, "dashscope")
    assert m._api_key == "sk-dash"


def test_openai_key_is_never_sent_to_another_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    with pytest.raises(UserError, match="DASHSCOPE_API_KEY"):
        OpenAICompatModel()
    with pytest.raises(UserError, match="DEEPSEEK_API_KEY"):
        OpenAICompatModel("deepseek-chat", base_url="https://api.deepseek.com/v1")
    assert OpenAICompatModel("gpt", base_url="https://api.openai.com/v1")._api_key == "sk-openai"


def test_openai_base_url_and_key_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example.com/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-gw")
    m = OpenAICompatModel("some-model")
    assert m.base_url == "https://gateway.example.com/v1" and m._api_key == "sk-gw"


def test_local_servers_need_no_key() -> None:
    m = OpenAICompatModel("qwen3:8b", base_url="http://localhost:11434/v1")
    assert m._api_key == "EMPTY" and m.profile.name == "ollama"
