"""A JSON HTTP service for a trained GPLinker run, on the standard library's ThreadingHTTPServer.

POST /extract with {"text": "..."} or {"texts": ["...", ...]} → {"results": [...]}: per text the events
(DuEE form: event_type, trigger, trigger_start_index, arguments with role, argument,
argument_start_index), the triples (subject, predicate, object with their starts) or the entities
(start, end, type, text), with character offsets. GET /health → {"task": ..., "labels": n}.
Requests are batched through the model (one lock: one forward at a time); a body over `max_body`
bytes, more than `max_texts` texts or a text over `max_chars` characters get 413, malformed JSON 400,
each with {"error": reason}, and the server keeps serving.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kexue.gplinker.data import TRIGGER
from kexue.gplinker.train import GPLinker


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_chars: int = 510  # per text; longer texts are refused, not cut
    max_texts: int = 64  # per request
    max_body: int = 1 << 20  # bytes


def to_json(task: str, text: str, result: Any) -> Any:
    """One text's prediction in DuEE / DuIE form (or entity list) with character offsets."""
    if task == "events":
        out = []
        for event in result:
            trig = next((a for a in event if a[1] == TRIGGER), None)
            out.append({"event_type": event[0][0], "trigger": trig[2] if trig else None,
                        "trigger_start_index": trig[3] if trig else None,
                        "arguments": [{"role": r, "argument": a, "argument_start_index": s}
                                      for _, r, a, s in event if r != TRIGGER]})
        return {"text": text, "event_list": out}
    if task == "relations":
        return {"text": text, "spo_list": [{"subject": s, "subject_start_index": text.find(s), "predicate": p,
                                            "object": o, "object_start_index": text.find(o)}
                                           for s, p, o in sorted(result)]}
    return {"text": text, "entities": [{"start": a, "end": b, "type": t, "text": text[a:b]} for a, b, t in sorted(result)]}


def make_server(g: GPLinker, cfg: ServeConfig | None = None) -> ThreadingHTTPServer:
    """The server, bound but not yet serving (call serve_forever; port 0 picks a free port)."""
    cfg = cfg or ServeConfig()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # no print in library code
            return

        def _send(self, code: int, payload: Any) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != "/health":
                return self._send(404, {"error": f"no route GET {self.path}; use POST /extract or GET /health"})
            self._send(200, {"task": g.cfg.task, "labels": len(g.labels)})

        def do_POST(self) -> None:
            if self.path != "/extract":
                return self._send(404, {"error": f"no route POST {self.path}; use POST /extract"})
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._send(411, {"error": "Content-Length header missing or not an integer"})
            if length > cfg.max_body:
                self.close_connection = True
                return self._send(413, {"error": f"body of {length} bytes is over the limit of {cfg.max_body}"})
            try:
                payload = json.loads(self.rfile.read(length).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                return self._send(400, {"error": f"body is not UTF-8 JSON: {e}"})
            texts = _texts(payload)
            if isinstance(texts, str):
                return self._send(400, {"error": texts})
            if len(texts) > cfg.max_texts:
                return self._send(413, {"error": f"{len(texts)} texts is over the limit of {cfg.max_texts}"})
            for k, t in enumerate(texts):
                if len(t) > cfg.max_chars:
                    return self._send(413, {"error": f"texts[{k}] has {len(t)} characters, over the limit of "
                                                     f"{cfg.max_chars}; split it into sentences"})
            with lock:
                results = g.predict(texts) if texts else []
            self._send(200, {"results": [to_json(g.cfg.task, t, r) for t, r in zip(texts, results)]})

    return ThreadingHTTPServer((cfg.host, cfg.port), Handler)


def _texts(payload: Any) -> list[str] | str:
    """The texts of a request, or the reason it is malformed."""
    if not isinstance(payload, dict):
        return 'expected a JSON object {"text": "..."} or {"texts": ["...", ...]}'
    if "text" in payload:
        return [payload["text"]] if isinstance(payload["text"], str) else "field 'text' must be a string"
    if "texts" in payload:
        t = payload["texts"]
        if isinstance(t, list) and all(isinstance(x, str) for x in t):
            return t
        return "field 'texts' must be a list of strings"
    return "missing field 'text' (or 'texts')"
