"""`OpenAICompatModel`: Chat Completions over any OpenAI-compatible server.

The openai package builds and sends the request (auth, base URL, error types); the body
is read raw (`with_streaming_response`) and parsed by agentkit's own `StreamNormalizer`,
which is several times cheaper than the SDK's per-chunk objects. Every request streams:
a thinking request is never sent non-streaming. The SDK never retries by itself
(`max_retries=0`); failures become `ModelAPIError` with `retryable` for the loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import os
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import fields, replace
from typing import Any
from urllib.parse import urlsplit

import anyio
import orjson

from ..errors import ModelAPIError, UserError
from ..retry import parse_retry_after
from ..wire.history import WireCache, build_request_body
from ..wire.normalizer import StreamNormalizer
from ..wire.profiles import (
    DASHSCOPE_DEFAULT_BASE_URL,
    Profile,
    for_model,
    get_profile,
    guess_profile,
)
from .base import ModelRequest, ModelResponse, ModelSettings, ModelStreamEvent

__all__ = ["DEFAULT_MODEL", "OpenAICompatModel"]

log = logging.getLogger("agentkit.models")  # summaries at DEBUG; never keys or headers

DEFAULT_MODEL = "qwen3-max"

# A provider's own key goes only to that provider's hosts; OPENAI_API_KEY goes to any other
# server, and to a provider host only when OPENAI_BASE_URL names it explicitly.
_PROVIDER_KEYS = (
    (("dashscope", "aliyuncs.com"), "DASHSCOPE_API_KEY"),
    (("deepseek.com",), "DEEPSEEK_API_KEY"),
    (("moonshot.cn", "moonshot.ai"), "MOONSHOT_API_KEY"),
)


def key_vars(base_url: str) -> tuple[str, ...]:
    """The environment variables whose key may be sent to `base_url`, in order."""
    from urllib.parse import urlparse

    host = (urlparse(base_url).hostname or "").lower()
    paired = os.environ.get("OPENAI_BASE_URL", "").rstrip("/") == base_url.rstrip("/")
    for markers, var in _PROVIDER_KEYS:
        if any(m in host for m in markers):
            return (var, "OPENAI_API_KEY") if paired else (var,)
    return ("OPENAI_API_KEY",)


_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
# the HTTP core's trace event once the whole request is written (http11. / http2. prefix)
_SENT_EVENT = "receive_response_headers.started"


def _import_openai() -> Any:
    import openai

    return openai


def _is_local(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    if host in ("localhost", "host.docker.internal") or host.endswith(".local"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_unspecified or ip.is_link_local


class OpenAICompatModel:
    """A model behind an OpenAI-compatible Chat Completions endpoint.

    With no arguments: Qwen3-Max on DashScope's international compatible-mode endpoint,
    the key from `DASHSCOPE_API_KEY`. `OPENAI_BASE_URL` / `OPENAI_API_KEY` are honoured.
    `profile` names the server dialect ("auto" guesses from the base URL) or is a
    `Profile`; `profile_overrides` replaces single fields of it. `thinking=True` turns
    thinking on the profile's way, `False` asks for Instruct mode, `None` leaves the
    server's default. `settings` are defaults for fields a request leaves unset.
    `instruct_model` names the model sent when a step asks for Instruct mode (thinking off)
    where the provider has a separate Instruct model; without it the profile switches
    thinking off on the same model.
    """

    def __init__(self, model: str | None = None, base_url: str | None = None,
                 api_key: str | None = None, *, profile: str | Profile = "auto",
                 thinking: bool | None = True, settings: ModelSettings | None = None,
                 profile_overrides: Mapping[str, Any] | None = None,
                 timeout: float = 600.0, connect_timeout: float = 10.0,
                 default_headers: Mapping[str, str] | None = None,
                 http_client: Any = None, call_id_prefix: str = "call_",
                 instruct_model: str | None = None) -> None:
        self._model = model or os.environ.get("AGENTKIT_MODEL") or DEFAULT_MODEL
        self.instruct_model = instruct_model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL")
                         or DASHSCOPE_DEFAULT_BASE_URL).rstrip("/")
        if isinstance(profile, Profile):
            prof = profile
        elif profile == "auto":
            prof = guess_profile(self.base_url, self._model)
        else:
            prof = for_model(get_profile(profile), self._model)
        if profile_overrides:
            prof = replace(prof, **dict(profile_overrides))
        self.profile = prof
        self._thinking = thinking
        self.settings = settings or ModelSettings()
        self._api_key = api_key or self._key_from_env()
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._default_headers = dict(default_headers or {})
        self._http_client = http_client
        self._conn: _Conn | None = None  # the client of the event loop that last used it
        self._pending: tuple[Any, anyio.Event] | None = None  # a client being built
        # No WireCache: caching each message's wire dict saves ~5 µs a request but keeps
        # ~5 KB per run in flight alive (and old runs' dicts until the cache fills).
        self._cache: WireCache | None = None
        self._ids = itertools.count(1)
        self._id_prefix = call_id_prefix

    def _key_from_env(self) -> str:
        names = key_vars(self.base_url)
        for var in names:
            value = os.environ.get(var)
            if value:
                return value
        if _is_local(self.base_url):
            return "EMPTY"  # local servers (vLLM, Ollama, ...) need no key
        raise UserError(
            f"No API key for {self.base_url}. Set it in the environment, e.g. "
            f"`export {names[0]}=sk-...`, or pass api_key=... to OpenAICompatModel "
            "(for another server also set OPENAI_BASE_URL).")

    def __repr__(self) -> str:
        return (f"OpenAICompatModel(model={self._model!r}, base_url={self.base_url!r}, "
                f"profile={self.profile.name!r}, thinking={self._thinking!r})")

    @property
    def name(self) -> str:
        return self._model

    @property
    def thinking(self) -> bool | None:
        return self._thinking

    def new_call_id(self) -> str:
        """An id for a call the server sent without one (text markup); unique per model."""
        return f"{self._id_prefix}{next(self._ids)}"

    @property
    def _client(self) -> Any:
        return self._conn.client if self._conn is not None else None

    @property
    def _send(self) -> Any:
        return self._conn.send if self._conn is not None else None

    async def _get_client(self) -> _Conn:
        """The one client of this model on the running event loop, built once.

        The check and the store happen with no `await` between them; a request arriving
        while the client is being built (in a worker thread: importing openai and building
        its HTTP client cost tens of milliseconds) waits for that one.
        """
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): one client
            loop = None
        while True:
            conn = self._conn
            if conn is not None and conn.loop is loop:
                return conn
            pending = self._pending
            if pending is not None and pending[0] is loop:
                await pending[1].wait()  # built by another request (or it failed: try again)
                continue
            ready = anyio.Event()
            self._pending = (loop, ready)
            try:
                conn = await anyio.to_thread.run_sync(self._build_conn, loop)
                self._conn = conn
            finally:
                if self._pending is not None and self._pending[1] is ready:
                    self._pending = None
                ready.set()
            return conn

    def _build_conn(self, loop: Any) -> _Conn:
        openai = _import_openai()
        client = openai.AsyncOpenAI(
            api_key=self._api_key, base_url=self.base_url, max_retries=0,
            timeout=openai.Timeout(self._timeout, connect=self._connect_timeout),
            default_headers=self._default_headers or None, http_client=self._http_client)
        return _Conn(loop, client, _response_class(client), _direct_sender(client))

    async def aclose(self) -> None:
        """Close the HTTP connection pool (a later request opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.client.close()

    async def __aenter__(self) -> OpenAICompatModel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _settings(self, request: ModelRequest) -> ModelSettings:
        base, s = self.settings, request.settings
        merged = {f.name: getattr(s, f.name) for f in fields(ModelSettings)}
        for f in fields(ModelSettings):
            if merged[f.name] is None:
                merged[f.name] = getattr(base, f.name)
        merged["extra_body"] = {**base.extra_body, **s.extra_body}
        return ModelSettings(**merged)

    def model_for(self, request: ModelRequest, thinking: bool | None) -> str:
        """The model name a request is sent with (a step's own, the Instruct one, or ours)."""
        if request.model:
            return request.model
        if thinking is False and self.instruct_model:
            return self.instruct_model
        return self._model

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        """The JSON body `stream(request)` sends (for inspection and tests)."""
        thinking = request.thinking if request.thinking is not None else self._thinking
        req = replace(request, settings=self._settings(request))
        return build_request_body(self.model_for(request, thinking), req, self.profile,
                                  thinking, self._cache)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        thinking = request.thinking if request.thinking is not None else self._thinking
        settings = self._settings(request)
        body = build_request_body(self.model_for(request, thinking),
                                  replace(request, settings=settings), self.profile, thinking,
                                  self._cache)
        norm = StreamNormalizer(self.profile, request.tools, thinking, new_id=self.new_call_id)
        request.sent = False  # set once this attempt's request has reached the server

        def on_sent() -> None:
            request.sent = True

        conn = await self._get_client()
        openai = _import_openai()
        extra: dict[str, Any] = {"headers": {"Accept": "text/event-stream"}}
        if settings.request_timeout is not None:
            extra["timeout"] = openai.Timeout(settings.request_timeout,
                                              connect=self._connect_timeout)
        try:
            # orjson's bytes keep their buffer's capacity (up to 8x the length): an exact
            # copy is what waits to be sent (measured: 127 KB held for a 15 KB body)
            parcel = [bytes(memoryview(orjson.dumps(body)))]
        except TypeError as exc:
            raise UserError(f"the request cannot be sent as JSON (check extra_body): {exc}",
                            messages=list(request.messages)) from exc
        sent_model = body["model"]
        del body  # neither the body nor its bytes stay alive while the answer streams
        final: list[ModelStreamEvent] = []
        log.debug("request to %s: model=%s messages=%d tools=%d thinking=%s bytes=%d",
                  self.base_url, sent_model, len(request.messages), len(request.tools),
                  thinking, len(parcel[0]))
        try:
            # The body is serialised once with orjson and sent as is; the response comes
            # back unread (cast_to=Response, stream=True) and is parsed line by line here.
            if conn.send is not None:
                response = await conn.send(parcel.pop(), extra.get("timeout"), on_sent)
            else:
                request.sent = None  # the SDK's public path cannot tell: counted as sent
                response = await conn.client.post(
                    "/chat/completions", cast_to=conn.response_cls, content=parcel.pop(),
                    options=extra, stream=True)
            try:
                feed = norm.feed_line
                rest = b""
                async for block in response.aiter_bytes():
                    if rest:
                        block = rest + block
                    lines = block.split(b"\n")
                    rest = lines.pop()
                    for line in lines:
                        for event in feed(line):
                            yield event
                    del block, lines  # not kept alive while the next block is awaited
                if rest:
                    for event in feed(rest):
                        yield event
                final = norm.close()
            finally:
                await response.aclose()
        except ModelAPIError:
            raise
        except Exception as exc:
            mapped = _map_error(exc, openai, self.base_url)
            if mapped is None:
                raise
            raise mapped from exc
        last = final[-1]
        if isinstance(last, ModelResponse):
            last.model_name = last.model_name or sent_model
            log.debug("response %s: model=%s finish=%s input=%d output=%d reasoning=%d",
                      last.response_id, last.model_name, last.message.finish_reason,
                      last.usage.input_tokens, last.usage.output_tokens,
                      last.usage.reasoning_tokens)
        for event in final:
            yield event


class _Conn:
    """The SDK client of one event loop, with what `stream` needs from it."""

    __slots__ = ("client", "loop", "response_cls", "send")

    def __init__(self, loop: Any, client: Any, response_cls: Any, send: Any) -> None:
        self.loop = loop
        self.client = client
        self.response_cls = response_cls
        self.send = send


class _OneShot:
    """A request body that lets go of its bytes once they have been sent (orjson's output
    also carries up to twice its length in spare capacity, which this drops too)."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncGenerator[bytes, None]:
        data, self._data = self._data, b""
        yield data


def _direct_sender(client: Any) -> Any:
    """`send(payload, timeout, on_sent) -> response` on the SDK's own HTTP client, or None.

    `on_sent()` is called once the request has been written to a connection (through the
    HTTP core's `trace` extension), so a deadline or a failed connect before that point
    is known not to have reached the server.

    The SDK still provides the base URL, the auth and default headers and the connection
    pool; skipping its per-request option processing saves about 0.7 ms of CPU a request
    (measured in benchmarks/loop_overhead.py). Status errors are raised as the SDK's own
    error types (through its `_make_status_error_from_response`), so error mapping is
    unchanged. With an SDK lacking these hooks, `stream` falls back to `client.post`.
    """
    http = getattr(client, "_client", None)
    make_error = getattr(client, "_make_status_error_from_response", None)
    if http is None or make_error is None or not hasattr(http, "send"):
        return None
    url = f"{str(client.base_url).rstrip('/')}/chat/completions"
    headers = {k: v for k, v in {**client.default_headers, **client.auth_headers}.items()
               if isinstance(v, str)}
    headers["Accept"] = "text/event-stream"

    async def send(payload: bytes, request_timeout: Any, on_sent: Callable[[], None]) -> Any:
        async def trace(event: str, info: Any) -> None:
            if event.endswith(_SENT_EVENT):
                on_sent()

        # a one-shot body: the request does not keep the bytes once they are written
        request = http.build_request(
            "POST", url, content=_OneShot(payload),
            headers={**headers, "Content-Length": str(len(payload))},
            timeout=request_timeout or client.timeout, extensions={"trace": trace})
        del payload
        response = await http.send(request, stream=True)
        if response.status_code >= 400:
            try:
                await response.aread()
            finally:
                await response.aclose()
            raise make_error(response)
        return response

    return send


def _response_class(client: Any) -> Any:
    """The Response class of the HTTP library under the SDK (httpx2 in openai 3, else httpx)."""
    http = getattr(client, "_client", None)
    try:
        import httpx2

        if isinstance(http, httpx2.AsyncClient):
            return httpx2.Response
    except ImportError:
        pass
    import httpx

    return httpx.Response


def _transport_errors() -> tuple[type[BaseException], ...]:
    import sys

    found: list[type[BaseException]] = []
    for mod_name in ("httpx2", "httpx"):
        mod = sys.modules.get(mod_name)
        if mod is not None:
            for attr in ("TransportError", "TimeoutException", "StreamError"):
                cls = getattr(mod, attr, None)
                if isinstance(cls, type):
                    found.append(cls)
    return tuple(found)


def _map_error(exc: BaseException, openai: Any, base_url: str) -> ModelAPIError | None:
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        headers = exc.response.headers if exc.response is not None else None
        body = exc.body
        detail = body.get("message") if isinstance(body, dict) else None
        detail = detail or exc.message
        retryable = status in _RETRYABLE_STATUS or status >= 500
        return ModelAPIError(f"HTTP {status} from {base_url}: {detail}", status_code=status,
                             retryable=retryable, retry_after=parse_retry_after(headers),
                             body=body)
    if isinstance(exc, openai.APITimeoutError):
        return ModelAPIError(f"the request to {base_url} timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ModelAPIError(f"could not connect to {base_url}: {exc.__cause__ or exc}",
                             retryable=True)
    if isinstance(exc, _transport_errors()):
        if "Connect" in type(exc).__name__:
            return ModelAPIError(f"could not connect to {base_url}: {exc}", retryable=True)
        what = "timed out" if "Timeout" in type(exc).__name__ else "broke off"
        return ModelAPIError(f"the stream from {base_url} {what}: {type(exc).__name__}: {exc}",
                             retryable=True)
    if isinstance(exc, ValueError) and "malformed SSE" in str(exc):
        return ModelAPIError(f"the stream from {base_url} was garbled: {exc}", retryable=True)
    if isinstance(exc, openai.APIError):
        return ModelAPIError(f"the model server failed: {exc}", retryable=False)
    return None
