"""The GPLinker service's limits at the HTTP level: the ASGI middleware that caps requests in flight and
reads every /extract body under its size and time limits before FastAPI sees it, and uvicorn's h11
protocol with JSON 400s and a deadline for every request head.

kexue.fm/archives/8926 and 8888 give the models; the limits are ours (serve.py lists them and the status
each answers with). Every refusal is {"error": reason} with `Connection: close` where the connection's
remaining bytes cannot be trusted; the process keeps serving.
"""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from kexue.gplinker.serve import ServeConfig


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


class LimitedH11Protocol(H11Protocol):
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
