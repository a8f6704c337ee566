"""A request the model does not answer within timeout_s gets 503 + Retry-After, and the server goes on.

A real uvicorn server in a thread of the test process, on an extractor whose forward pass is slow.
"""
import json
import threading
import time

import uvicorn

from kexue.gplinker.limits import LimitedH11Protocol
from kexue.gplinker.serve import ServeConfig, create_app
from tests.gplinker.test_serve import exchange, free_port, post


class SlowExtractor:
    task, labels, weights = "ner", ["PER"], "none (a test double)"

    def __init__(self):
        self.slow = threading.Event()

    def extract_batch(self, texts):
        if self.slow.is_set():
            time.sleep(1.5)
        return [{"text": t, "entities": []} for t in texts]


def test_a_request_not_answered_in_time_gets_503_and_the_next_is_served():
    ex, port = SlowExtractor(), free_port()
    cfg = ServeConfig(port=port, timeout_s=0.5, retry_after_s=3)
    server = uvicorn.Server(uvicorn.Config(create_app(ex, cfg), host="127.0.0.1", port=port, http=LimitedH11Protocol,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        assert exchange(port, post("/extract", b'{"text": "a"}'))[0] == 200
        ex.slow.set()
        code, headers, body = exchange(port, post("/extract", b'{"text": "b"}'))
        assert code == 503 and headers["retry-after"] == "3"
        assert "not answered within 0.5 s" in json.loads(body)["error"]
        ex.slow.clear()
        time.sleep(1.2)  # the slow pass finishes in its thread
        code, _, body = exchange(port, post("/extract", b'{"text": "c"}'))
        assert code == 200 and json.loads(body)["results"] == [{"text": "c", "entities": []}]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
