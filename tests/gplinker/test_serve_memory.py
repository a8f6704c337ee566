"""What one large request costs the service's memory (issue 24 §6): a real `kexue gplinker serve` process.

A request of 64 texts × 510 characters (the default limits' largest) is 320 windows of 126 characters.
Run as one forward pass, its outputs (windows × labels × n² floats, and the encoder's activations) took
the process 440–470 MB over its idle RSS at the peak, and glibc kept 58–66 MB of it afterwards. Run in passes of
at most `max_batch` windows, the peak is about 60 MB over the idle RSS and 20–46 MB stays (20 on the
machine of issue 24, 46 on an AMD EPYC with AVX-512): the allocator's free lists, reused by the next
request. The peak bound sits between the two ways of running; what stays is checked not to grow with two
more requests of the same size, which holds on both machines where a bound on its size did not.
"""
import json
import random

from tests.gplinker._tiny import fresh_run
from tests.gplinker.test_serve import exchange, post, serving

PEAK_MB = 150  # VmHWM over the idle RSS: 440–470 MB in one pass, ~60 MB in passes of 32 windows
GROWTH_MB = 10  # VmRSS after two more of those requests over the VmRSS after the first two


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (the peak) of a process, in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def test_a_request_of_the_largest_size_is_run_in_bounded_passes_and_its_memory_goes_back(tmp_path):
    run = fresh_run("relations", tmp_path / "run", seed=1, shift=-0.5)
    with serving(["--model", str(run), "--set", "threads=1", "--set", "timeout_s=300"], limits={}) as (proc, port):
        rng = random.Random(0)
        chars = [chr(c) for c in range(0x4E00, 0x4E00 + 300)]

        def extract(n: int, length: int) -> None:
            texts = ["".join(rng.choice(chars) for _ in range(length)) for _ in range(n)]
            code, _, body = exchange(port, post("/extract", json.dumps({"texts": texts}).encode()), timeout=300)
            assert code == 200, body
            assert [r["text"] for r in json.loads(body)["results"]] == texts

        extract(1, 510)  # one long text: the window-sized kernels and buffers exist before the idle level
        idle = memory_mb(proc.pid)["VmRSS"]
        for _ in range(2):
            extract(64, 510)
        after = memory_mb(proc.pid)
        assert after["VmHWM"] - idle < PEAK_MB, (idle, after)
        for _ in range(2):
            extract(64, 510)
        again = memory_mb(proc.pid)
        assert again["VmRSS"] - after["VmRSS"] < GROWTH_MB, (idle, after, again)


def test_an_extractor_batch_runs_in_passes_of_at_most_batch_size_windows(tmp_path):
    """extract_batch (a server's micro-batch) cuts its windows into passes of ≤ batch_size; the results are
    those of one pass."""
    from kexue.gplinker.extractor import Extractor
    run = fresh_run("relations", tmp_path / "run", seed=1, shift=-0.5)
    texts = ["马云创办了阿里巴巴。" * 30, "周恩来出生于淮安。", "一句话" * 60]  # 300 + 9 + 180 characters
    whole, small = Extractor.from_pretrained(run, device="cpu", batch_size=64), Extractor.from_pretrained(
        run, device="cpu", batch_size=2)
    passes = []
    forward = small._forward
    small._forward = lambda chunks, encoded: passes.append(len(chunks)) or forward(chunks, encoded)
    assert small.extract_batch(texts) == whole.extract_batch(texts)
    assert max(passes) == 2 and sum(passes) == sum(len(small._windows(t)) for t in texts) > 4, passes
