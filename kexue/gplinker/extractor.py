"""Extractor: a trained GPLinker run as a function from texts to scored events, triples or entities.

kexue.fm/archives/8926 (events), kexue.fm/archives/8888 (relations), kexue.fm/archives/8373 (NER).
`Extractor.from_pretrained(run_dir)(texts)` returns, per text, the JSON object of the task's
`to_json` (tasks.py), the one form that `predict` writes and `POST /extract` answers: DuEE form
(event_type, trigger, trigger_start_index, arguments with role, argument, argument_start_index), DuIE
form (subject, predicate, object with their start indices) or entities (start, end, type, text), every
offset in characters of the text as given, every item with a `score` (scores.py; the posts report
none: where we depart and why is said there).

A batch is padded to its longest text (not to max_len), and `__call__` sorts texts by length before
batching them, so short texts are run with short ones.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from kexue.gplinker.train import GPLinker, load_run


def resolve_device(device: str | None = None) -> torch.device:
    """`--device` as train's: None → cuda when there is one, else cpu; "cpu", "cuda", "cuda:N", "mps".
    A name torch does not know, or a device this machine lacks, is a ValueError saying what to use."""
    try:
        d = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {device}: not a device; use cpu, cuda or cuda:N") from None
    if d.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"--device {device}: this machine has no CUDA device; use cpu")
        if d.index is not None and d.index >= n:
            raise ValueError(f"--device {device}: this machine has {n} CUDA device(s), cuda:0 to cuda:{n - 1}")
    elif d.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"--device {device}: MPS is not available here; use cpu")
    elif d.type != "cpu":
        raise ValueError(f"--device {device}: not a device GPLinker runs on; use cpu, cuda or cuda:N")
    return d


class Extractor:
    """Callable on a text or a list of texts → one JSON-ready dict per text, each item with a `score`."""

    def __init__(self, g: GPLinker, batch_size: int = 32, threshold: float = 0.0):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Extractor batch_size={batch_size!r}: must be an integer ≥ 1")
        self.g, self.batch_size, self.threshold = g, batch_size, threshold
        self.g.model.eval()

    @classmethod
    def from_pretrained(cls, run_dir: str | Path, device: str | None = None, last: bool = False,
                        batch_size: int = 32, threshold: float = 0.0) -> "Extractor":
        """A run folder from `kexue gplinker ... train` (its best dev weights, or the last step's with last),
        on `device` (None: cuda when there is one, else cpu; see resolve_device)."""
        return cls(load_run(run_dir, device=str(resolve_device(device)), last=last), batch_size, threshold)

    @property
    def task(self) -> str:
        return self.g.cfg.task

    @property
    def labels(self) -> list:
        return self.g.labels

    @property
    def weights(self) -> str:
        return self.g.weights

    @property
    def device(self) -> torch.device:
        return next(self.g.model.parameters()).device

    def __call__(self, texts: str | Sequence[str]) -> Any:
        """One text → its dict; a list → a list of dicts, in order. Batches group texts of similar length."""
        if isinstance(texts, str):
            return self([texts])[0]
        texts = list(texts)
        for k, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{k}] is a {type(t).__name__}; the Extractor takes strings")
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]))
        out: list[Any] = [None] * len(texts)
        for at in range(0, len(order), self.batch_size):
            chunk = order[at:at + self.batch_size]
            for k, result in zip(chunk, self.extract_batch([texts[k] for k in chunk])):
                out[k] = result
        return out

    @torch.no_grad()
    def extract_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        """One forward pass over `texts` as given (the server's micro-batches), decoded and scored."""
        if not texts:
            return []
        g = self.g
        encoded = [g.encode(t) for t in texts]
        # padded to the batch's longest text
        n = max(len(ids) for ids, _ in encoded)
        ids = torch.full((len(texts), n), g.tokenizer.pad_id, dtype=torch.long)
        for b, (row, _) in enumerate(encoded):
            ids[b, :len(row)] = torch.tensor(row)
        device = self.device
        outputs = [o.float().cpu() for o in g.model(ids.to(device), (ids != g.tokenizer.pad_id).to(device))]
        to_json = g.task.to_json
        return [to_json([o[b] for o in outputs], text, offsets, g.labels, self.threshold)
                for b, (text, (_, offsets)) in enumerate(zip(texts, encoded))]
