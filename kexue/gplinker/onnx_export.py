"""A trained GPLinker run as a variable-length ONNX graph, with everything its decoder needs beside it.

kexue.fm/archives/8926, 8888, 8373 give the models; taking one out of kexue is ours. `export_onnx(run, out)`
writes into the folder `out`:

| file | what |
|---|---|
| `model.onnx` | inputs `ids` int64 [batch, n], `mask` bool [batch, n] (True = token); outputs the task's logits, each [batch, heads, n, n] with −inf where masked: events `argu, head, tail`; relations `entity, head, tail`; ner `spans` |
| `gplinker-onnx.json` | task, labels, max_len, threshold, output names, tokenizer kind and settings, pad id, which weights |
| `vocab.txt` (+ `tokenizer.json`, `tokenizer_config.json` for a checkpoint's own tokenizer) | the run's tokenizer, as the run saved it |

so that the folder alone, read by onnx_runtime.py with numpy + onnxruntime + tokenizers, turns text into the
JSON `Extractor` gives. Batch and length are dynamic (up to max_len tokens, the RoPE tables being built for
that many positions: kexue/nn/rope.py `freeze_rope`).

Two exporters (both offline, torch 2.13): the TorchScript one (`dynamo=False`, the default here: about ten
times less CPU time, no onnxscript needed, torch ≥ 2.4) and torch.export's (`dynamo=True`, torch's default
since 2.9; needs onnxscript). They give the same graph to within float rounding; `check_parity` measures it.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kexue import __version__
from kexue.gplinker.train import load_run
from kexue.nn.rope import freeze_rope

MODEL_FILE = "model.onnx"
MANIFEST = "gplinker-onnx.json"
FORMAT = "kexue-gplinker-onnx/1"
OPSET = 18


@dataclass
class Parity:
    lengths: list[int]  # the sequence lengths checked (each batch with a padded row)
    max_abs: float  # max |torch − onnxruntime| over every finite logit
    same_mask: bool  # −inf at exactly the same cells


def traceable(model: nn.Module, max_len: int) -> nn.Module:
    """`model` in eval mode with its RoPE tables built for `max_len` positions: what a graph with a dynamic
    length needs (no table grown at run time, no complex numbers)."""
    freeze_rope(model, max_len)
    return model.eval()


def export_graph(model: nn.Module, path: str | Path, max_len: int, outputs: list[str], pad_id: int = 0,
                 dynamo: bool = False) -> Path:
    """`model(ids, mask)` as ONNX at `path`, batch and length dynamic (length ≤ max_len)."""
    path = Path(path)
    model = traceable(model, max_len)
    n = min(max_len, 16)
    # an example batch with a padded row (the graph keeps the mask whatever the example: kexue/nn/tracing.py)
    ids = torch.full((2, n), 1 + pad_id, dtype=torch.long)
    ids[1, n // 2:] = pad_id
    mask = ids != pad_id
    names = {"input_names": ["ids", "mask"], "output_names": outputs}
    with torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter warns that it is deprecated and that shape checks are traced as constants
        # (they hold for every shape the graph takes); neither is the user's to act on
        warnings.simplefilter("ignore", (torch.jit.TracerWarning, DeprecationWarning))
        # torch.export's exporter: notes on its internals and on axis names it merges (batch, n of both inputs)
        warnings.simplefilter("ignore", (FutureWarning, UserWarning))
        if dynamo:
            batch, length = torch.export.Dim("batch"), torch.export.Dim("n", max=max_len)
            torch.onnx.export(model, (ids, mask), str(path), dynamo=True, opset_version=OPSET, verbose=False,
                              dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}), **names)
        else:
            axes = {name: {0: "batch", 1: "n"} for name in ("ids", "mask", *outputs)}
            torch.onnx.export(model, (ids, mask), str(path), dynamo=False, opset_version=OPSET,
                              dynamic_axes=axes, **names)
    return path


def export_onnx(run_dir: str | Path, out_dir: str | Path, last: bool = False, dynamo: bool = False,
                threshold: float = 0.0) -> dict[str, Any]:
    """The run folder `run_dir` (its best dev weights, or the last step's with `last`) as the ONNX folder
    `out_dir` (see the module docstring); returns the manifest written."""
    g = load_run(run_dir, device="cpu", last=last)
    e = g.cfg.encoder
    if e.lexicon or e.bigrams:
        what = (f"lexicon features (encoder.lexicon={e.lexicon})" if e.lexicon
                else f"bigram embeddings (encoder.bigrams={e.bigrams})")
        raise ValueError(f"{run_dir}: the run reads {what}, looked up in Python, which an ONNX graph cannot hold; "
                         f"serve it with `kexue gplinker {g.cfg.task} serve` instead")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs = list(g.task.outputs)  # the task's outputs in order (kexue/gplinker/tasks.py)
    export_graph(g.model, out / MODEL_FILE, g.cfg.max_len, outputs, g.tokenizer.pad_id, dynamo)
    g.tokenizer.save(out / "vocab.txt")
    enc = g.cfg.encoder
    manifest = {
        "format": FORMAT, "task": g.cfg.task, "labels": g.labels, "max_len": g.cfg.max_len,
        "threshold": threshold, "inputs": ["ids", "mask"], "outputs": outputs,
        "tokenizer": {"kind": enc.tokenizer, "lowercase": enc.lowercase, "nfkc": enc.nfkc,
                      "pad_id": g.tokenizer.pad_id, "vocab": "vocab.txt"},
        "weights": g.weights, "run": str(Path(run_dir).resolve()), "kexue": __version__,
        "exporter": "dynamo" if dynamo else "torchscript", "opset": OPSET,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def check_parity(model: nn.Module, onnx_path: str | Path, vocab_size: int, pad_id: int = 0,
                 lengths: tuple[int, ...] = (5, 33, 100), batch: int = 3, seed: int = 0) -> Parity:
    """torch's logits against onnxruntime's on random ids at each length, row 1 of each batch padded to half."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    worst, same = 0.0, True
    for n in lengths:
        ids = torch.randint(0, vocab_size, (batch, n), generator=g)
        ids[ids == pad_id] = (pad_id + 1) % vocab_size
        ids[1, max(n // 2, 1):] = pad_id
        mask = ids != pad_id
        with torch.no_grad():
            expected = [o.float().numpy() for o in model.eval()(ids, mask)]
        got = session.run(None, {"ids": ids.numpy(), "mask": mask.numpy()})
        for e, o in zip(expected, got):
            finite = np.isfinite(e)
            same &= bool(np.array_equal(finite, np.isfinite(o)))
            if finite.any():
                worst = max(worst, float(np.abs(e[finite] - o[finite]).max()))
    return Parity(list(lengths), worst, same)
