"""A small `kexue reproduce` output folder: two fake topics with real PNG figures, for the report tests."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)

from kexue.result import Check, Claim, TopicResult, save_results  # noqa: E402

TRICKY = "<b>&\"quoted\"</b> <script>alert(1)</script>"  # text that must come out escaped

META = {
    "preset": "quick", "started": "2025-01-02T03:04:05+00:00", "seconds": 754.3,
    "command": "kexue reproduce --preset quick",
    "machine": {"cpu": "x86_64", "cores": 2, "threads": 2, "memory_gib": 7.6, "gpu": None},
    "versions": {"python": "3.11.7", "torch": "2.13.0", "numpy": "2.1.0", "kexue": "0.1.0"},
}


def write_figure(path: Path, title: str) -> None:
    """A real PNG, drawn with matplotlib's Agg backend."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 2.5), dpi=80)
    ax.plot([1, 2, 4, 8], [1, 4, 16, 64], marker="o", label="n²")
    ax.set_xlabel("n")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def sample_topics() -> list[TopicResult]:
    """Two posts: the older one first in the file, so the page's newest-first order is visible."""
    attention = TopicResult(
        topic="attention", post=8610, title="线性Attention的探索：Attention必须有个Softmax吗？",
        date="2020-07-04", preset="quick",
        claims=[
            Claim("Linear attention costs O(n) in the sequence length; softmax attention O(n²).",
                  "time ratio at n=4096: 7.9×\nslope of log time: 1.02 vs 1.97", "held",
                  figure="attention/cost.png"),
            Claim(f"Escaping check {TRICKY}", "measured & compared: a < b > c", "not held"),
            Claim("Quality matches softmax attention at full scale.", "needs the full preset (GPU)",
                  "not checkable"),
        ],
        metrics={"flops_ratio": 7.912345, "n": 4096, "loss": {"softmax": 2.5, "linear": 2.61},
                 "tricky": TRICKY, "ok": True, "missing": None, "curve": [1, 2, 3]},
        figures=["attention/cost.png", "attention/quality.png"],
        seconds=123.4, related_posts=[7546, 8338],
    )
    lru = TopicResult(
        topic="lru", post=9554, title="Google新作试图“复活”RNN：RNN能否再次辉煌？", date="2023-03-28",
        preset="quick",
        claims=[Claim("A deep LRU solves a long-range task that a vanilla RNN cannot.",
                      "accuracy 0.97 (LRU) vs 0.52 (RNN)", "held", figure="lru/accuracy.png",
                      quote="LRU在LRA上的效果", source=9554),
                Claim("The gap grows with length.", "one seed", "inconclusive", needs="three seeds a side")],
        checks=[Check("the ring sampler draws r uniformly on the annulus", "KS 0.01", "held",
                      rule="KS statistic below 0.05", control="uniform in r: not held (KS 0.2)")],
        metrics={"accuracy_lru": 0.97, "accuracy_rnn": 0.52}, figures=[], seconds=88.0,
    )
    return [attention, lru]


def make_out(out: Path, topics: list[TopicResult] | None = None) -> Path:
    """Write the figures and results.json of `topics` (default: the sample) into `out`."""
    topics = sample_topics() if topics is None else topics
    for t in topics:
        for fig in {*t.figures, *(c.figure for c in t.claims if c.figure)}:
            write_figure(out / fig, Path(fig).stem)
    save_results(topics, out / "results.json", META)
    return out

