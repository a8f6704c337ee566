"""ONNX exports against torch: max |Δ| of GPLinker's logits and of the U-Nets' ε, onnxruntime against torch.

    .venv/bin/python benchmarks/onnx_parity.py

GPLinker at `kexue gplinker ... train`'s default shape (TinyEncoder hidden 128, 2 layers, EGP head_size 64,
max_len 128) for each task, and on a RoFormerV2 encoder (hidden 64, 2 layers), weights untrained (parity is a
property of the graph, not of what it learned), each exported with the TorchScript exporter (the default;
the events models also with torch.export's, --dynamo); onnxruntime's logits against torch's at lengths 8, 64
and 128, the middle row of each batch padded to half: the largest |Δ| over finite cells, whether −inf (masked)
cells are the same, and the export's CPU seconds. (That the numpy runtime's JSON is Extractor's is a test:
tests/gplinker/test_onnx.py.) The U-Nets (Su's mnist28 and Ho's digits8 presets, weights redrawn N(0, 0.2²):
Ho's last convs start at zero) at batch 1 and 8.
Writes benchmarks/results/onnx-parity.json.
"""
from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kexue.config import to_dict  # noqa: E402
from kexue.gplinker.model import shift_logits  # noqa: E402
from kexue.gplinker.onnx_export import MODEL_FILE, check_parity, export_onnx  # noqa: E402
from kexue.gplinker.train import load_run  # noqa: E402
from kexue.train.checkpoint import save_model  # noqa: E402
from tests.gplinker._tiny import tiny_linker  # noqa: E402

LENGTHS = (8, 64, 128)
SHIFT = {"ner": -1.5, "events": -1.0, "relations": -1.0}  # a few to a few thousand items per task


def _run(task: str, out: Path, roformer: bool) -> Path:
    from kexue.config import override
    from kexue.gplinker.train import GPLinker
    from kexue.roformer import RoFormerV2Config
    g, _ = tiny_linker(task, seed=1)
    cfg = override(g.cfg, ["encoder.hidden=128", "encoder.heads=4", "encoder.layers=2", "head.head_size=64"])
    if roformer:
        model = RoFormerV2Config(vocab_size=g.tokenizer.vocab_size, hidden_size=64, num_layers=2, num_heads=4,
                                 intermediate_size=128)
        cfg = replace(cfg, encoder=replace(cfg.encoder, kind="roformer", model=to_dict(model)))
    torch.manual_seed(1)
    g = GPLinker(cfg, g.labels, g.tokenizer)
    shift_logits(g.model, SHIFT[task])
    out.mkdir(parents=True, exist_ok=True)
    g.save_meta(out)
    save_model(g.model, out / "model.safetensors", {"step": "0"})
    return out


def gplinker_rows(tmp: Path) -> list[dict]:
    rows = []
    for encoder in ("tiny", "roformer"):
        for task in ("ner", "events", "relations"):
            run = _run(task, tmp / f"{encoder}-{task}", encoder == "roformer")
            g = load_run(run)
            for dynamo in (False, True) if task == "events" else (False,):
                out = tmp / f"{encoder}-{task}-{dynamo}"
                start = time.process_time()
                export_onnx(run, out, dynamo=dynamo)
                cpu = time.process_time() - start
                p = check_parity(g.model, out / MODEL_FILE, g.tokenizer.vocab_size, g.tokenizer.pad_id, LENGTHS)
                rows.append({"model": f"gplinker {task}, {encoder} encoder", "exporter": "dynamo" if dynamo else
                             "torchscript", "export_cpu_s": round(cpu, 2), "lengths": p.lengths,
                             "max_abs": p.max_abs, "same_mask": p.same_mask})
                print(rows[-1], flush=True)
    return rows


def unet_rows(tmp: Path) -> list[dict]:
    from kexue.diffusion.onnx_export import check_parity as unet_parity, export_unet
    from kexue.diffusion.unet_ho import UNetHo, UNetHoConfig
    from kexue.diffusion.unet_su import UNetSu, UNetSuConfig
    rows = []
    for name, model in (("su mnist28", UNetSu(UNetSuConfig.preset("mnist28"))),
                        ("ho digits8", UNetHo(UNetHoConfig.preset("digits8")))):
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
        T = getattr(model.cfg, "T", 1000)
        for dynamo in (False,):
            path = tmp / f"{name}-{dynamo}.onnx"
            start = time.process_time()
            export_unet(model, path, T, dynamo=dynamo)
            cpu = time.process_time() - start
            p = unet_parity(model, path, T, batch_sizes=(1, 8))
            rows.append({"model": f"U-Net {name}", "exporter": "dynamo" if dynamo else "torchscript",
                         "export_cpu_s": round(cpu, 2), "batch_sizes": p.batch_sizes, "max_abs": p.max_abs})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    import onnxruntime
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        rows = gplinker_rows(Path(d)) + unet_rows(Path(d))
    out = ROOT / "benchmarks" / "results" / "onnx-parity.json"
    out.write_text(json.dumps({"machine": platform.machine(), "torch": torch.__version__,
                               "onnxruntime": onnxruntime.__version__, "rows": rows}, indent=1), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
