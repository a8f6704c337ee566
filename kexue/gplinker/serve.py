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
when the batch already holds every request in flight), in length buckets (extractor.py) of at most
`max_batch` windows per forward pass, so that a large request is run in bounded passes: one of 64 texts of
510 characters (320 windows in one pass) peaked 440–470 MB over the idle process and left RSS 58–66 MB
higher; in passes of 32 windows, about 60 MB and 20 MB (tests/gplinker/test_serve_memory.py). What batching
buys on a CPU is bounded: benchmarks/serve.py measured 2.4× less server CPU per request at concurrency
32 (2.5 ms against 6.0 ms unbatched), since a batched forward pass costs about half a single one per text
and the HTTP and event-loop work of a request is not shared; by Little's law, p99 at concurrency 32
then stays near 32 / 2.4 ≈ 13× the one-at-a-time latency (issue 14's ≤ 2× needs 16× the throughput).
The server sets Python's GIL switch interval to 0.5 ms: with the default 5 ms, a busy event loop held the GIL for up to 5 ms between the torch ops
of the forward thread.

`kexue gplinker serve --onnx DIR` serves an exported folder (onnx_export.py) through `OnnxExtractor`
(onnx_runtime.py): the same routes, limits and batching, the forward pass in onnxruntime, no torch imported.

Limits (limits.py), each answered with {"error": reason} and the process still serving:
- body: a Content-Length over `max_body` → 413 before reading; no Content-Length and no chunked
  body → 411; a negative or non-numeric one or bad chunk framing → 400 (h11 refuses them;
  `LimitedH11Protocol` answers in JSON); a chunked body is counted as it arrives → 413 at
  `max_body`; a body that stops short of its Content-Length → 408 at `timeout_s`; bytes past it are
  read as the next request (→ 400 when they are none); a body that is not JSON → 400, a field of the
  wrong type or both / neither of text and texts → 422;
- a text over `max_chars` characters, more than `max_texts` texts, or more than `max_request_chars` characters
  in all → 413 (texts are refused, never cut);
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from kexue.gplinker.batcher import MicroBatcher
from kexue.gplinker.limits import Limits, LimitedH11Protocol


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_chars: int = 510  # per text; longer texts are refused, not cut (the posts' maxlen 512 − [CLS], [SEP])
    max_texts: int = 64  # per request
    # per request, all its texts together: with max_body and max_batch (windows per forward pass) what bounds
    # the memory one request holds; the default is max_texts texts of max_chars
    max_request_chars: int = 64 * 510
    max_body: int = 1 << 20  # bytes
    max_batch: int = 32  # texts in one forward pass
    max_wait_ms: float = 5.0  # how long a request waits for others to share its forward pass
    batching: bool = True  # False: one forward pass per request, one at a time
    max_concurrent: int = 64  # requests on /extract at once; more get 503 + Retry-After
    timeout_s: float = 30.0  # per request: its body must arrive and its answer be ready within this
    idle_timeout_s: float = 5.0  # a connection without a request head for this long is closed
    retry_after_s: int = 1  # the Retry-After of a 503
    switch_interval_ms: float = 0.5  # Python's GIL switch interval in the server (its default is 5 ms)
    threads: int = 0  # intra-op threads of the forward pass (torch, or onnxruntime with --onnx); 0: the default

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_texts", "max_request_chars", "max_body", "max_batch", "max_concurrent",
                     "retry_after_s"):
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
def create_app(extractor: Any, cfg: ServeConfig | None = None) -> Any:
    """The ASGI app: FastAPI routes wrapped in the body / concurrency limits. `extractor` is an `Extractor`
    (extractor.py, torch) or an `OnnxExtractor` (onnx_runtime.py, numpy + onnxruntime): extract_batch, task,
    labels, weights, device."""
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

    _error_handlers(app)

    @app.post("/extract", response_model=ExtractResponse, response_model_exclude_none=True,
              responses={400: {}, 408: {}, 411: {}, 413: {}, 422: {}, 503: {}})
    async def extract(req: ExtractRequest, request: Request) -> Any:
        texts = [req.text] if req.text is not None else req.texts
        refusal = _refusal(texts, req.text is not None, cfg)
        if refusal is not None:
            return refusal
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
                "weights": extractor.weights, "device": str(extractor.device), **_threads(extractor),
                "limits": asdict(cfg), "batching": asdict(batcher.stats)}

    limits = Limits(app, cfg)
    return limits


def _refusal(texts: list[str], single: bool, cfg: ServeConfig) -> JSONResponse | None:
    """The 413 / 400 for a request whose texts the limits refuse, or None."""
    if len(texts) > cfg.max_texts:
        return _json(413, f"{len(texts)} texts is over the limit of {cfg.max_texts} per request")
    total = sum(len(t) for t in texts)
    if total > cfg.max_request_chars:
        return _json(413, f"{'text' if single else 'texts'}: {total} characters in all, over max_request_chars="
                          f"{cfg.max_request_chars} per request; send them in several requests")
    for k, t in enumerate(texts):
        field = "text" if single else f"texts[{k}]"
        bad = _lone_surrogate(t)
        if bad is not None:  # JSON may carry "\ud800"; it is no character, and no reply could echo it
            return _json(400, f"{field} holds a lone surrogate \\u{ord(t[bad]):04x} at character {bad}; "
                              "send valid Unicode text")
        if len(t) > cfg.max_chars:
            return _json(413, f"texts[{k}] has {len(t)} characters, over the limit of {cfg.max_chars}; "
                              "split it into sentences")
    return None


def _error_handlers(app: FastAPI) -> None:
    """Every error the routes raise as one JSON {"error": reason}."""

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


def _threads(extractor: Any) -> dict[str, int]:
    """The intra-op threads of the forward pass: onnxruntime's session (0 = its default), else torch's."""
    if hasattr(extractor, "session"):
        return {"onnx_threads": extractor.threads}
    import torch
    return {"torch_threads": torch.get_num_threads()}


def _lone_surrogate(text: str) -> int | None:
    """The index of the first UTF-16 surrogate code point in `text` (not encodable as UTF-8), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return e.start
    return None


def _json(code: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=code, headers=headers)


def run(extractor: Any, cfg: ServeConfig | None = None) -> None:
    """Serve until SIGINT / SIGTERM (then finish the requests in flight and return)."""
    import sys

    import uvicorn
    cfg = cfg or ServeConfig()
    # the forward thread needs the GIL back between torch ops; with the default 5 ms switch interval a busy
    # event loop delays each of its ops by up to 5 ms (a convoy that made batched passes 10× slower)
    sys.setswitchinterval(cfg.switch_interval_ms / 1000)
    if cfg.threads and not hasattr(extractor, "session"):  # (an OnnxExtractor took its threads when it was built)
        import torch
        # on a machine whose cores are busy with other work, one thread per forward pass wasted far less CPU
        # time than one per core (benchmarks/serve.py: OpenMP threads waiting for a core)
        torch.set_num_threads(cfg.threads)
    # uvicorn's keep-alive timeout is also our request-head deadline (LimitedH11Protocol); a float works in both
    config = uvicorn.Config(create_app(extractor, cfg), host=cfg.host, port=cfg.port, http=LimitedH11Protocol,
                            timeout_keep_alive=cfg.idle_timeout_s, timeout_graceful_shutdown=int(cfg.timeout_s) + 1,
                            log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run()
