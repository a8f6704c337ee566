"""The service over loopback: a real uvicorn process (`kexue gplinker serve`) on a tiny untrained run.

Every limit gets a genuinely malformed request, sent on a raw socket where an HTTP client would refuse
to send it, and the server answers a good request afterwards. All loops are bounded; the last test
stops the server with SIGTERM while a request is in flight.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.gplinker._tiny import fresh_run

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"max_body": 2000, "max_chars": 40, "max_texts": 4, "max_request_chars": 100, "max_concurrent": 3,
          "timeout_s": 1.5, "idle_timeout_s": 1.0, "max_wait_ms": 100, "max_batch": 16, "retry_after_s": 2,
          "threads": 2}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port: int, *parts: bytes, pause: float = 0.0, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """Send `parts` (pausing between them) on a new connection; read one response: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for k, part in enumerate(parts):
            if k and pause:
                time.sleep(pause)
            s.sendall(part)
        return read_response(s)


_unread: "weakref.WeakKeyDictionary[socket.socket, bytes]" = weakref.WeakKeyDictionary()


def read_response(s: socket.socket) -> tuple[int, dict, bytes]:
    """One response off `s`; bytes past it stay for the next call."""
    data = _unread.pop(s, b"")
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response; got {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    n = int(headers.get("content-length", 0))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    _unread[s] = body[n:]
    return int(lines[0].split()[1]), headers, body[:n]


def post(path: str, body: bytes, extra: str = "", length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n{extra}\r\n"
            .encode() + body)


def good(port: int, text: str = "马云创办了阿里巴巴。") -> dict:
    code, _, body = exchange(port, post("/extract", json.dumps({"text": text}).encode()))
    assert code == 200, body
    out = json.loads(body)
    assert out["results"][0]["text"] == text and isinstance(out["results"][0]["spo_list"], list)
    return out


def get(port: int, path: str) -> tuple[int, dict, bytes]:
    return exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


@pytest.fixture(scope="module")
def served_run(tmp_path_factory):
    # seed 1 and shift −0.5: an untrained model that decodes a few triples (scores to compare), and fast
    return fresh_run("relations", tmp_path_factory.mktemp("serve") / "run", seed=1, shift=-0.5)


@contextmanager
def serving(args: list[str], path: tuple[Path, ...] = (), limits: dict | None = None
            ) -> Iterator[tuple[subprocess.Popen, int]]:
    """`kexue gplinker serve ARGS --port P --set LIMITS` as a process, once /ready answers 200: (process, P).
    `path`: folders put before the project on its PYTHONPATH (test_serve_onnx.py: one where torch fails);
    `limits`: the settings instead of LIMITS ({}: the service's defaults, test_serve_memory.py)."""
    port = free_port()
    sets = [x for k, v in (LIMITS if limits is None else limits).items() for x in ("--set", f"{k}={v}")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, [*path, ROOT])), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kexue.cli", "gplinker", "serve", *args, "--port", str(port),
                             *sets], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(1200):  # up to 120 s for torch to import on a loaded machine
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}: {proc.stdout.read().decode()}")
            try:
                if get(port, "/ready")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not get ready within 120 s")
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(served_run):
    with serving(["--model", str(served_run)]) as (proc, port):
        yield proc, port


def test_routes_answer(server):
    _, port = server
    good(port)
    code, _, body = exchange(port, post("/extract", json.dumps({"texts": ["甲", "乙丙", ""]}).encode()))
    assert code == 200 and [r["text"] for r in json.loads(body)["results"]] == ["甲", "乙丙", ""]
    assert json.loads(get(port, "/health")[2]) == {"status": "ok"}
    assert json.loads(get(port, "/ready")[2]) == {"ready": True}
    info = json.loads(get(port, "/info")[2])
    assert info["task"] == "relations" and info["labels"] == ["出生地", "创始人", "总部地点", "妻子"]
    assert info["weights"].startswith("model.safetensors") and info["limits"]["max_chars"] == 40
    # --set threads=2 reached torch (the process was started with OMP_NUM_THREADS=1)
    assert info["device"] == "cpu" and info["torch_threads"] == 2
    code, _, body = get(port, "/openapi.json")
    spec = json.loads(body)
    assert code == 200 and {"/extract", "/health", "/ready", "/info"} <= spec["paths"].keys()
    assert "ExtractRequest" in spec["components"]["schemas"]
    # curl -d sends a form Content-Type: the body is still read as JSON
    code, _, body = exchange(port, post("/extract", b'{"text": "ab"}').replace(b"application/json",
                                                                              b"application/x-www-form-urlencoded"))
    assert code == 200 and json.loads(body)["results"][0]["text"] == "ab"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_nothing_from_outside(server, page):
    """Swagger UI and ReDoc reference only this server's URLs, and each of them answers (an offline /docs
    is not blank)."""
    _, port = server
    code, headers, body = get(port, page)
    html = body.decode("utf-8")
    assert code == 200 and headers["content-type"].startswith("text/html")
    assert not re.findall(r"(?:https?:)?//[\w.-]+\.\w+", html), "a URL of another host in " + page
    urls = set(re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", html))
    assets = {u for u in urls if u.startswith("/docs-assets/")}
    assert len(assets) >= 2 and "/openapi.json" in urls and urls <= assets | {"/openapi.json"}
    for u in sorted(urls):
        code, _, asset = get(port, u)
        assert code == 200 and len(asset) > 1000, u


def test_the_service_predict_and_the_extractor_give_one_json(server, served_run, tmp_path):
    """One text through POST /extract, `kexue gplinker relations predict` and Extractor(...): the same items
    and the same scores (the registry's to_json in all three)."""
    from typer.testing import CliRunner

    from kexue.gplinker.cli import app
    from kexue.gplinker.extractor import Extractor
    _, port = server
    ex = Extractor.from_pretrained(served_run)
    texts = ["马云创办了阿里巴巴。", "周恩来出生于淮安，他的妻子邓颖超出生于南宁。", "一句话"]
    # a text the untrained model decodes a triple from, so that scores are compared, not only empty lists
    assert any(ex(t)["spo_list"] for t in texts), "the tiny model should decode a triple from one of the texts"
    src = tmp_path / "in.txt"
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["relations", "predict", "--model", str(served_run), "--input", str(src),
                                 "--output", str(tmp_path / "out.jsonl"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    predicted = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    for text, from_predict in zip(texts, predicted):
        code, _, body = exchange(port, post("/extract", json.dumps({"text": text}).encode()))
        assert code == 200
        from_service, from_python = json.loads(body)["results"][0], ex(text)
        assert from_service == from_python == from_predict  # items, offsets and scores to the sixth digit


def test_serve_settings_are_checked():
    from kexue.gplinker.serve import ServeConfig
    with pytest.raises(ValueError, match=r"ServeConfig.threads=-1: must be an integer ≥ 0"):
        ServeConfig(threads=-1)


CHUNKED = "Transfer-Encoding: chunked\r\n"
BAD = {  # name: (request parts, expected status, a word of the reason)
    "not JSON": ([post("/extract", b'{"text": "a')], 400, "not valid JSON"),
    "text not a string": ([post("/extract", b'{"text": 3}')], 422, "text"),
    "both text and texts": ([post("/extract", b'{"text": "a", "texts": ["b"]}')], 422, "exactly one"),
    "neither": ([post("/extract", b'{"txt": "a"}')], 422, "txt"),
    "too many texts": ([post("/extract", json.dumps({"texts": ["a"] * 5}).encode())], 413, "5 texts"),
    "text too long": ([post("/extract", json.dumps({"text": "长" * 41}).encode())], 413, "41 characters"),
    # 3 texts of 35 characters: each under max_chars, 105 in all over max_request_chars
    "too many characters in all": ([post("/extract", json.dumps({"texts": ["长" * 35] * 3}).encode())], 413,
                                   "texts: 105 characters in all, over max_request_chars=100"),
    "Content-Length over the limit": ([post("/extract", b"", length=10**9)], 413, "1000000000 bytes"),
    "no Content-Length": ([b"POST /extract HTTP/1.1\r\nHost: x\r\n\r\n"], 411, "Content-Length"),
    "negative Content-Length": ([b"POST /extract HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}"], 400,
                                "Content-Length"),
    "Content-Length not a number": ([b"POST /extract HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n{}"], 400,
                                    "Content-Length"),
    "chunked body over the limit": ([b"POST /extract HTTP/1.1\r\nHost: x\r\n" + CHUNKED.encode() + b"\r\n",
                                     b"".join(b"3e8\r\n" + b" " * 1000 + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"],
                                    413, "over the limit of 2000"),
    "bad chunk size": ([b"POST /extract HTTP/1.1\r\nHost: x\r\n" + CHUNKED.encode() + b"\r\nzz\r\n{}\r\n0\r\n\r\n"],
                       400, "chunk"),
    "Content-Length longer than the body": ([post("/extract", b'{"text": "a"}', length=100)], 408,
                                            "not received within 1.5 s"),
    "no such route": ([post("/nowhere", b"{}")], 404, "no route POST /nowhere"),
    # a lone surrogate is valid JSON but no character: it gave a 500 text/plain with a traceback
    "lone surrogate in text": ([post("/extract", b'{"text": "ab\\ud800c"}')], 400, "text holds a lone surrogate"),
    "lone surrogate in texts": ([post("/extract", b'{"texts": ["ok", "\\udfff"]}')], 400, "texts[1] holds a lone"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_each_limit_is_a_json_4xx_and_the_server_keeps_serving(server, name):
    _, port = server
    parts, want, word = BAD[name]
    code, headers, body = exchange(port, *parts, pause=0.05)
    assert code == want, body
    assert headers["content-type"].startswith("application/json") and word in json.loads(body)["error"]
    good(port)


def test_a_chunked_body_under_the_limit_is_served(server):
    _, port = server
    payload = json.dumps({"text": "甲乙"}).encode()
    code, _, body = exchange(port, b"POST /extract HTTP/1.1\r\nHost: x\r\n" + CHUNKED.encode() + b"\r\n",
                             f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n", pause=0.05)
    assert code == 200 and json.loads(body)["results"][0]["text"] == "甲乙"


def test_a_body_longer_than_its_content_length_is_cut_there(server):
    _, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(post("/extract", b'{"text": "ab"}GARBAGE\r\n\r\n', length=14))
        code, _, body = read_response(s)  # the declared 14 bytes are the request
        assert code == 200 and json.loads(body)["results"][0]["text"] == "ab"
        code, _, body = read_response(s)  # the rest is no request
        assert code == 400 and "malformed" in json.loads(body)["error"]
    good(port)


def test_concurrent_requests_over_the_cap_get_503_with_retry_after(server):
    _, port = server
    held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(LIMITS["max_concurrent"])]
    try:
        for s in held:  # a head and half a body: in flight until the body comes or times out
            s.sendall(post("/extract", b'{"text"', length=13))
        time.sleep(0.2)
        code, headers, body = exchange(port, post("/extract", b'{"text": "a"}'))
        assert code == 503 and headers["retry-after"] == "2" and "limit is 3" in json.loads(body)["error"]
        assert get(port, "/health")[0] == 200  # probes are not capped
        for s in held:
            s.sendall(b': "a"}')
        for s in held:
            assert read_response(s)[0] == 200
    finally:
        for s in held:
            s.close()
    good(port)


def test_idle_connections_are_closed(server):
    _, port = server
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # says nothing
        assert s.recv(100) == b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # half a request head
        s.sendall(b"POST /extract HTTP/1.1\r\nHost: x\r\n")
        code, _, body = read_response(s)
        assert code == 408 and "no complete request head" in json.loads(body)["error"]
        assert s.recv(100) == b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # kept alive after an answer
        s.sendall(post("/extract", b'{"text": "a"}'))
        assert read_response(s)[0] == 200
        assert s.recv(100) == b""
    assert time.monotonic() - start < 9  # three idle timeouts of 1 s, not the 10 s socket timeout
    good(port)


def test_concurrent_requests_share_a_forward_pass_and_each_gets_its_own_reply(server):
    _, port = server
    before = json.loads(get(port, "/info")[2])["batching"]
    n = LIMITS["max_concurrent"]
    texts = [f"第{k}句话" for k in range(n)]
    conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in texts]
    try:
        bodies = [json.dumps({"text": t}).encode() for t in texts]
        for s, b in zip(conns, bodies):
            s.sendall(post("/extract", b[:-1], length=len(b)))
        time.sleep(0.2)
        for s, b in zip(conns, bodies):  # the last byte of each, within well under max_wait_ms
            s.sendall(b[-1:])
        replies = [json.loads(read_response(s)[2]) for s in conns]
    finally:
        for s in conns:
            s.close()
    assert [r["results"][0]["text"] for r in replies] == texts
    after = json.loads(get(port, "/info")[2])["batching"]
    assert after["requests"] - before["requests"] == n
    assert after["forward_passes"] - before["forward_passes"] < n  # one-at-a-time would take n passes


def test_sigterm_finishes_the_request_in_flight_then_exits(server):
    proc, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        full = '{"text": "最后"}'.encode()
        s.sendall(post("/extract", full[:10], length=len(full)))
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(OSError):  # no new connections once stopping
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        s.sendall(full[10:])
        code, _, body = read_response(s)
        assert code == 200 and json.loads(body)["results"][0]["text"] == "最后"
    # uvicorn re-raises the signal once it has shut down cleanly: the exit status says "ended by SIGTERM"
    assert proc.wait(timeout=15) == -signal.SIGTERM
    said = proc.stdout.read().decode("utf-8")
    assert "Traceback" not in said
    assert "serving task relations (4 labels, model.safetensors" in said and "on cpu" in said  # says what it serves
