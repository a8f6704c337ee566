"""Extractor: a trained GPLinker run as a function from texts to scored events, triples or entities.

kexue.fm/archives/8926 (events), kexue.fm/archives/8888 (relations), kexue.fm/archives/8373 (NER).
`Extractor.from_pretrained(run_dir)(texts)` returns, per text, the JSON object of the task's
`to_json` (tasks.py), the one form that `predict` writes and `POST /extract` answers: DuEE form
(event_type, trigger, trigger_start_index, arguments with role, argument, argument_start_index), DuIE
form (subject, predicate, object with their start indices) or entities (start, end, type, text), every
offset in characters of the text as given, every item with a `score` (scores.py; the posts report
none: where we depart and why is said there).

Not from the posts (they cut a text at maxlen tokens, silently): a text longer than the model's window is
read as overlapping windows and its items merged back into its own offsets (windows.py). Nor from the posts
(they predict a file in fixed batches): `__call__` sorts texts by length before
batching them, and `extract_batch` (a server's micro-batch) cuts its texts into length buckets, each one
forward pass padded to its own longest text (not to max_len), so short texts are run with short ones.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from kexue.gplinker.buckets import LEAST, SLACK, in_length_order, length_buckets
from kexue.gplinker.train import GPLinker, load_run
from kexue.gplinker.windows import Window, read_in_windows, windows
from kexue.train.distributed import parse_device

__all__ = ["Extractor", "LEAST", "SLACK", "length_buckets", "resolve_device"]


def resolve_device(device: str | None = None) -> torch.device:
    """`--device` as train's: None → cuda when there is one, else cpu; "cpu", "cuda", "cuda:N", "mps".
    A name torch does not know, or a device this machine lacks, is a ValueError saying what to use."""
    d = parse_device(device or ("cuda" if torch.cuda.is_available() else "cpu"), f"--device {device}")
    if d.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {device}: not a device GPLinker runs on; use cpu, cuda or cuda:N")
    return d


class Extractor:
    """Callable on a text or a list of texts → one JSON-ready dict per text, each item with a `score`."""

    def __init__(self, g: GPLinker, batch_size: int = 32, threshold: float = 0.0, slack: float = SLACK):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Extractor batch_size={batch_size!r}: must be an integer ≥ 1")
        if not slack >= 1:
            raise ValueError(f"Extractor slack={slack!r}: must be ≥ 1 (padded tokens over real tokens in a pass)")
        self.g, self.batch_size, self.threshold, self.slack = g, batch_size, threshold, slack
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
        return in_length_order(texts, self.batch_size, self.extract_batch, "the Extractor")

    @torch.no_grad()
    def extract_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        """`texts` as one batch (the server's micro-batches), decoded and scored, in order: run as forward
        passes of at most batch_size windows over texts of similar length (length_buckets), each padded to its
        own longest text."""
        # a text longer than the model's window is read as overlapping windows (windows.py), merged back
        return read_in_windows(texts, self._windows, self.g.encode, self._forward, self.slack, self.batch_size)

    def _windows(self, text: str) -> list[Window]:
        """The windows of max_len − 2 tokens (overlapping by a quarter) that `text` is read in; one if it fits."""
        _, offsets = self.g.tokenizer.encode_with_offsets(text, add_special=False)
        return windows(offsets, self.g.cfg.max_len - 2, len(text))

    def _forward(self, texts: list[str], encoded: list[tuple[list[int], list[tuple[int, int]]]]) -> list[dict]:
        """One forward pass, padded to the longest text, then the task's to_json of each text."""
        g = self.g
        n = max(len(ids) for ids, _ in encoded)
        ids = torch.full((len(texts), n), g.tokenizer.pad_id, dtype=torch.long)
        for b, (row, _) in enumerate(encoded):
            ids[b, :len(row)] = torch.tensor(row)
        device = self.device
        logits = g.model(ids.to(device), (ids != g.tokenizer.pad_id).to(device))
        outputs = [o.float().cpu().numpy() for o in logits]  # the decoders read NumPy arrays (cells.py), as ONNX's
        to_json = g.task.to_json
        return [to_json([o[b] for o in outputs], text, offsets, g.labels, self.threshold)
                for b, (text, (_, offsets)) in enumerate(zip(texts, encoded))]
