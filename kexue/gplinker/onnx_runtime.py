"""A GPLinker ONNX folder (onnx_export.py) as a function from texts to JSON, on numpy + onnxruntime alone.

kexue.fm/archives/8926 (events), 8888 (relations), 8373 (NER). `OnnxExtractor.from_folder(dir)(texts)`
returns what `Extractor.from_pretrained(run)(texts)` returns (extractor.py): per text the DuEE / DuIE /
entity JSON with character offsets and a score per item, a text longer than the window read as overlapping
windows (windows.py), a batch cut into length buckets (buckets.py). The forward pass is the ONNX graph; the
decoding is the Extractor's own: scores.py and the decoders it calls, on NumPy arrays (cells.py). Importing
this module imports no torch (tests/gplinker/test_onnx.py checks it in a fresh process): a service of the
folder needs `pip install onnxruntime numpy tokenizers` and kexue, not torch.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from kexue.gplinker.buckets import SLACK, in_length_order
from kexue.gplinker.scores import TO_JSON
from kexue.gplinker.windows import Window, read_in_windows, windows

MANIFEST = "gplinker-onnx.json"  # onnx_export.MANIFEST (not imported from there: that module imports torch)
FORMAT = "kexue-gplinker-onnx/1"


def load_tokenizer(folder: Path, spec: dict[str, Any]) -> Any:
    """The tokenizer the manifest names, read from the folder as the run read it (encoders.load_tokenizer)."""
    from kexue.data.tokenizers import CharTokenizer, WordPieceTokenizer
    vocab = folder / spec.get("vocab", "vocab.txt")
    if spec["kind"] == "char":
        return CharTokenizer.load(vocab)
    if spec["kind"] == "hf":
        from kexue.data.hf_tokenizer import HFTokenizer
        return HFTokenizer.load(vocab)
    if spec["kind"] == "wordpiece":
        return WordPieceTokenizer(vocab, lowercase=spec["lowercase"], nfkc=spec["nfkc"])
    raise ValueError(f"{folder / MANIFEST}: tokenizer kind {spec['kind']!r}; expected char, wordpiece or hf")


class OnnxExtractor:
    """Callable on a text or a list of texts → one JSON-ready dict per text (Extractor's face)."""

    def __init__(self, folder: str | Path, batch_size: int = 32, threshold: float | None = None,
                 threads: int = 0, slack: float = SLACK):
        folder = Path(folder)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest}: not a GPLinker ONNX folder (write one with "
                                    "`kexue gplinker export --format onnx RUN OUT`)")
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{manifest}: format {meta.get('format')!r}, this kexue reads {FORMAT}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"OnnxExtractor batch_size={batch_size!r}: must be an integer ≥ 1")
        self.folder, self.meta, self.batch_size, self.slack = folder, meta, batch_size, slack
        self.threshold = meta["threshold"] if threshold is None else threshold
        self.labels = [tuple(x) if isinstance(x, list) else x for x in meta["labels"]]
        self.tokenizer = load_tokenizer(folder, meta["tokenizer"])
        self.to_json = TO_JSON[meta["task"]]
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(folder / meta.get("model", "model.onnx")), options,
                                            providers=["CPUExecutionProvider"])
        self.threads = threads or options.intra_op_num_threads

    @classmethod
    def from_folder(cls, folder: str | Path, **kwargs: Any) -> "OnnxExtractor":
        return cls(folder, **kwargs)

    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def weights(self) -> str:
        return f"{self.folder / 'model.onnx'} ({self.meta['weights']})"

    @property
    def device(self) -> str:
        return "onnxruntime cpu"

    def __call__(self, texts: str | Sequence[str]) -> Any:
        """One text → its dict; a list → a list of dicts, in order. Batches group texts of similar length."""
        return in_length_order(texts, self.batch_size, self.extract_batch, "the extractor")

    def extract_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        """`texts` as one batch, as Extractor.extract_batch: windows, length buckets, decode, merge."""
        # a text longer than the model's window is read as overlapping windows (windows.py), merged back
        return read_in_windows(texts, self._windows,
                               lambda c: self.tokenizer.encode_with_offsets(c, max_len=self.meta["max_len"]),
                               self._forward, self.slack, self.batch_size)

    def _windows(self, text: str) -> list[Window]:
        _, offsets = self.tokenizer.encode_with_offsets(text, add_special=False)
        return windows(offsets, self.meta["max_len"] - 2, len(text))

    def _forward(self, texts: list[str], encoded: list[tuple[list[int], list[tuple[int, int]]]]) -> list[dict]:
        """One run of the graph, padded to the longest text, then the task's JSON of each text."""
        pad = self.tokenizer.pad_id
        n = max(len(ids) for ids, _ in encoded)
        ids = np.full((len(texts), n), pad, dtype=np.int64)
        for b, (row, _) in enumerate(encoded):
            ids[b, :len(row)] = row
        outputs = self.session.run(None, {"ids": ids, "mask": ids != pad})
        return [self.to_json([o[b] for o in outputs], text, offsets, self.labels, self.threshold)
                for b, (text, (_, offsets)) in enumerate(zip(texts, encoded))]
