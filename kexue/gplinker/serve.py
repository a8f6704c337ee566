"""The GPLinker service: FastAPI on uvicorn, with dynamic micro-batching and hard limits.

kexue.fm/archives/8926 and 8888 give the models; serving them is ours. Routes (OpenAPI at /docs):
- `POST /extract` {"text": "..."} or {"texts": ["...", ...]} → {"results": [...]}, per text what
  `Extractor` returns: events (DuEE form), triples (DuIE form) or entities, character offsets and a
  score per item;
- `GET /docs` and `GET /redoc`, the OpenAPI pages with their scripts, styles and icon served from
  /docs-assets out of the fastapi-offline package (FastAPI's defaults load them from a CDN: a service
  without internet access showed a blank /docs);
- `GET /health` (the process answers), `GET /ready` (model loaded, batcher running; 503 otherwise),
  `GET /info` (task, labels, weights file, limits, batching counters).
Concurrent requests are run as one micro-batch (batcher.py: `max_batch` texts, `max_wait_ms`; no wait
when the batch already holds every request in flight), in length buckets (extractor.py). What batching
buys on a CPU is bounded: benchmarks/serve.py measured 2.4× less server CPU per request at concurrency
32 (2.5 ms against 6.0 ms unbatched), since a batched forward pass costs about half a single one per text
and the HTTP and event-loop work of a request is not shared; by Little's law, p99 at concurrency 32
then stays near 32 / 2.4 ≈ 13× the one-at-a-time latency (issue 14's ≤ 2× needs 16× the throughput). The server sets Python's GIL switch interval
to 0.5 ms: with the default 5 ms, a busy event loop held the GIL for up to 5 ms between the torch ops
of the forward thread.

Limits, each answered with {"error": reason} and the process still serving:
- body: a Content-Length over `max_body` → 413 before reading; no Content-Length and no chunked
  body → 411; a negative or non-numeric one or bad chunk framing → 400 (h11 refuses them;
  `_Protocol` answers in JSON); a chunked body is counted as it arrives → 413 at
  `max_body`; a body that stops short of its Content-Length → 408 at `timeout_s`; bytes past it are
  read as the next request (→ 400 when they are none); a body that is not JSON → 400, a field of the
  wrong type or both / neither of text and texts → 422;
- a text over `max_chars` characters or more than `max_texts` texts → 413 (texts are refused, never cut);
- more than `max_concurrent` requests on /extract at once → 503 with Retry-After;
- a request not answered within `timeout_s` of its arrival (the model is behind) → 503 with
  Retry-After (a server-side wait, hence 5xx; 408 is kept for a client that is slow to send);
- a connection that sends no complete request head for `idle_timeout_s` is closed (408 first when it
  sent part of one), as is a kept-alive connection idle that long;
- SIGTERM: uvicorn stops accepting, finishes the requests in flight (up to `timeout_s`), then the
  batcher stops and the process ends (uvicorn re-raises the signal: exit status −15 / 143).
Errors of bodies close the connection (`Connection: close`): its remaining bytes cannot be trusted.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h11
import torch
import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles
from uvicorn.protocols.http.h11_impl import H11Protocol

from kexue.gplinker.batcher import MicroBatcher
from kexue.gplinker.extractor import Extractor


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_chars: int = 510  # per text; longer texts are refused, not cut (the posts' maxlen 512 − [CLS], [SEP])
    max_texts: int = 64  # per request
    max_body: int = 1 << 20  # bytes
    max_batch: int = 32  # texts in one forward pass
    max_wait_ms: float = 5.0  # how long a request waits for others to share its forward pass
    batching: bool = True  # False: one forward pass per request, one at a time
    max_concurrent: int = 64  # requests on /extract at once; more get 503 + Retry-After
    timeout_s: float = 30.0  # per request: its body must arrive and its answer be ready within this
    idle_timeout_s: float = 5.0  # a connection without a request head for this long is closed
    retry_after_s: int = 1  # the Retry-After of a 503
    switch_interval_ms: float = 0.5  # Python's GIL switch interval in the server (its default is 5 ms)
    threads: int = 0  # torch's intra-op threads for the forward pass; 0 keeps torch's default (one per core)

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_texts", "max_body", "max_batch", "max_concurrent", "retry_after_s"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"ServeConfig.{name}={getattr(self, name)!r}: must be an integer ≥ 1")
        for name in ("max_wait_ms", "timeout_s", "idle_timeout_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"ServeConfig.{name}={getattr(self, name)!r}: must be ≥ 0")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ValueError(f"ServeConfig.threads={self.threads!r}: must be an integer ≥ 0 (0: torch's default)")
        if not self.switch_interval_ms > 0:
            raise ValueError(f"ServeConfig.switch_interval_ms={self.switch_interval_ms!r}: must be > 0")


# -- request and response models (the OpenAPI schema) --------------------------------------------------
class ExtractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="one text")
    texts: list[str] | None = Field(None, description="several texts, answered in order")

    @model_validator(mode="after")
    def one_of(self) -> "ExtractRequest":
        if (self.text is None) == (self.texts is None):
            raise ValueError('give exactly one of "text" and "texts"')
        return self


class Argument(BaseModel):
    role: str
    argument: str
    argument_start_index: int = Field(description="character offset; −1 for an enumerated value")
    score: float


class Event(BaseModel):
    event_type: str
    trigger: str | None
    trigger_start_index: int | None
    score: float = Field(description="σ of the weakest logit the event was decoded from")
    arguments: list[Argument]


class Triple(BaseModel):
    subject: str
    subject_start_index: int
    predicate: str
    object: str
    object_start_index: int
    score: float


class Entity(BaseModel):
    start: int
    end: int = Field(description="exclusive")
    type: str
    text: str
    score: float


class TextResult(BaseModel):
    text: str
    event_list: list[Event] | None = None
    spo_list: list[Triple] | None = None
    entities: list[Entity] | None = None


class ExtractResponse(BaseModel):
    results: list[TextResult]


# -- the app --------------------------------------------------------------------------------------------
def create_app(extractor: Extractor, cfg: ServeConfig | None = None) -> Any:
    """The ASGI app: FastAPI routes wrapped in the body / concurrency limits."""
    cfg = cfg or ServeConfig()
    limits: Limits | None = None  # set below; the batcher reads its count of requests in flight
    batcher = MicroBatcher(extractor.extract_batch, cfg.max_batch, cfg.max_wait_ms / 1000, cfg.batching,
                           in_flight=lambda: limits.in_flight if limits is not None else 0)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.get_running_loop().run_in_executor(None, extractor.extract_batch, ["预热"])  # warm up
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="kexue GPLinker", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Events (kexue.fm/archives/8926), triples (8888) or entities (8373) with scores.")
    _offline_docs(app)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _json(400, "body is not valid JSON; send {\"text\": \"...\"} or {\"texts\": [\"...\"]}")
        where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors)
        return _json(422, where)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        reason = (f"no route {request.method} {request.url.path}; see /docs" if exc.status_code in (404, 405)
                  else str(exc.detail))
        return _json(exc.status_code, reason)

    @app.post("/extract", response_model=ExtractResponse, response_model_exclude_none=True,
              responses={400: {}, 408: {}, 411: {}, 413: {}, 422: {}, 503: {}})
    async def extract(req: ExtractRequest, request: Request) -> Any:
        texts = [req.text] if req.text is not None else req.texts
        if len(texts) > cfg.max_texts:
            return _json(413, f"{len(texts)} texts is over the limit of {cfg.max_texts} per request")
        for k, t in enumerate(texts):
            if len(t) > cfg.max_chars:
                return _json(413, f"texts[{k}] has {len(t)} characters, over the limit of {cfg.max_chars}; "
                                  "split it into sentences")
        if not texts:
            return {"results": []}
        loop = asyncio.get_running_loop()
        left = request.scope.get("kexue.deadline", loop.time() + cfg.timeout_s) - loop.time()
        job = asyncio.ensure_future(batcher.submit(texts))
        try:
            results = await asyncio.wait_for(job, max(left, 0.0))
        except asyncio.TimeoutError:
            return _json(503, f"not answered within {cfg.timeout_s:g} s; the model is behind, retry later",
                         {"Retry-After": str(cfg.retry_after_s)})
        # the Extractor's dicts are the schema already: sent as they are, not validated again per request
        return JSONResponse({"results": results})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        if not batcher.running:
            return _json(503, "not ready: the model is loading or the server is stopping",
                         {"Retry-After": str(cfg.retry_after_s)})
        return JSONResponse({"ready": True})

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return {"task": extractor.task, "labels": [list(x) if isinstance(x, tuple) else x for x in extractor.labels],
                "weights": extractor.weights, "device": str(extractor.device), "torch_threads": torch.get_num_threads(),
                "limits": asdict(cfg), "batching": asdict(batcher.stats)}

    limits = Limits(app, cfg)
    return limits


DOCS_ASSETS = "/docs-assets"  # where the OpenAPI pages' scripts, styles and icon are served


def _offline_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with every asset served by this process, none from a CDN."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"), name="docs-assets")
    redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI",
                                   oauth2_redirect_url=redirect, swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")

    @app.get(redirect, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png", with_google_fonts=False)


class Limits:
    """ASGI middleware for /extract: the concurrency cap, then the whole body read under the size and
    time limits before the app sees it (so a refused body never reaches FastAPI)."""

    def __init__(self, app: Any, cfg: ServeConfig):
        self.app, self.cfg, self.in_flight = app, cfg, 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/extract" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        cfg = self.cfg
        if self.in_flight >= cfg.max_concurrent:
            return await _send(send, 503, f"{self.in_flight} requests in flight, the limit is {cfg.max_concurrent}; "
                                          "retry later", {"Retry-After": str(cfg.retry_after_s)}, close=False)
        self.in_flight += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _guarded(self, scope: dict, receive: Any, send: Any) -> None:
        cfg, loop = self.cfg, asyncio.get_running_loop()
        deadline = loop.time() + cfg.timeout_s
        headers = {k.lower(): v for k, v in scope["headers"]}
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if length is None and not chunked:
            return await _send(send, 411, "Content-Length header missing (or send a chunked body)")
        if length is not None:
            if not length.strip().isdigit():  # h11 refuses these first; kept for other HTTP servers
                return await _send(send, 400, f"Content-Length {length.decode('latin-1')!r} is not a "
                                              "non-negative integer")
            if int(length) > cfg.max_body:
                return await _send(send, 413, f"body of {int(length)} bytes is over the limit of {cfg.max_body}")
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                return await _send(send, 408, f"body not received within {cfg.timeout_s:g} s "
                                              f"({len(body)} bytes arrived)")
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > cfg.max_body:
                return await _send(send, 413, f"body is over the limit of {cfg.max_body} bytes")
            if not message.get("more_body", False):
                break
        # the body is read as JSON whatever its Content-Type says (`curl -d` sends a form type)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
        scope = {**scope, "kexue.deadline": deadline, "headers": headers + [(b"content-type", b"application/json")]}
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would say it

        await self.app(scope, replay, send)


def _json(code: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=code, headers=headers)


async def _send(send: Any, code: int, reason: str, headers: dict[str, str] | None = None,
                close: bool = True) -> None:
    """A JSON error straight on the ASGI channel; with close, `Connection: close`."""
    body = json.dumps({"error": reason}, ensure_ascii=False).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": code, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _raw_response(code: int, phrase: str, reason: str) -> bytes:
    """A whole HTTP/1.1 JSON error response, for a connection that has no request h11 could answer."""
    body = json.dumps({"error": reason}).encode("utf-8")
    return (f"HTTP/1.1 {code} {phrase}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode("ascii") + body


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with JSON 400s and a deadline for every request head: a connection that
    sends nothing, or a partial head, for `timeout_keep_alive` seconds is closed (uvicorn's own timer
    starts only after a first response, and stops at the first byte)."""

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:  # a whole head has arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._unset_keepalive_if_required()  # uvicorn's timer would close silently what _head_timeout answers
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm()

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        body = json.dumps({"error": "malformed HTTP request (request line, a header such as a negative or "
                                    "non-numeric Content-Length, or the chunk framing); connection closed"}).encode()
        for event in (h11.Response(status_code=400, reason=b"Bad Request",
                                   headers=[(b"content-type", b"application/json"), (b"connection", b"close"),
                                            (b"content-length", str(len(body)).encode())]),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or (self.cycle is not None and not self.cycle.response_complete):
            return
        if self.conn.trailing_data[0]:  # part of a request head
            self.transport.write(_raw_response(408, "Request Timeout", f"no complete request head within "
                                                                      f"{self.timeout_keep_alive:g} s"))
        self.transport.close()


def run(extractor: Extractor, cfg: ServeConfig | None = None) -> None:
    """Serve until SIGINT / SIGTERM (then finish the requests in flight and return)."""
    import sys

    import uvicorn
    cfg = cfg or ServeConfig()
    # the forward thread needs the GIL back between torch ops; with the default 5 ms switch interval a busy
    # event loop delays each of its ops by up to 5 ms (a convoy that made batched passes 10× slower)
    sys.setswitchinterval(cfg.switch_interval_ms / 1000)
    if cfg.threads:
        # on a machine whose cores are busy with other work, one thread per forward pass wasted far less CPU
        # time than one per core (benchmarks/serve.py: OpenMP threads waiting for a core)
        torch.set_num_threads(cfg.threads)
    # uvicorn's keep-alive timeout is also our request-head deadline (_Protocol); a float works in both
    config = uvicorn.Config(create_app(extractor, cfg), host=cfg.host, port=cfg.port, http=_Protocol,
                            timeout_keep_alive=cfg.idle_timeout_s, timeout_graceful_shutdown=int(cfg.timeout_s) + 1,
                            log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run()
