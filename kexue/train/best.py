"""Keep the weights of the best dev evaluation: the Trainer's `on_eval` hook any topic can use.

As the Evaluator callbacks of Su's scripts (bojone/GPLinker duee_v1.py, duie_v1.py; bert4keras
examples): after every dev evaluation, `if f1 >= best_f1` save the weights (a tie goes to the later
step), and predict with the best weights at the end. The run folder gets best.safetensors, written
atomically with its step, metric and value in the file's own metadata (what `read_best` trusts), and
best.json beside it with every metric of that evaluation.

    keeper = BestWeights(out_dir, "spo/f1")
    Trainer(model, cfg, data, loss_fn, out_dir, eval_fn=..., on_eval=keeper).fit()
    best = read_best(out_dir)          # {step, metric, value} or None
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import safe_open

from kexue.train.checkpoint import save_model, write_json

BEST_FILE = "best.safetensors"  # the weights of the best dev evaluation
BEST_RECORD = "best.json"  # its step, the metric it was chosen on, and all its dev metrics


class BestWeights:
    """on_eval hook: keep the weights of the highest dev `metric` (read as eval_ema/METRIC, else eval/METRIC)."""

    def __init__(self, out_dir: str | Path, metric: str, best: dict[str, Any] | None = None):
        self.out_dir, self.metric, self.best = Path(out_dir), metric, best

    def __call__(self, trainer: Any, metrics: dict[str, float]) -> dict[str, Any]:
        key = next((k for k in (f"eval_ema/{self.metric}", f"eval/{self.metric}") if k in metrics), None)
        if key is None:
            raise ValueError(f"keep_best: the dev evaluation has no {self.metric} (got {', '.join(metrics)}); "
                             "set keep_best=false")
        # the scripts' `if f1 >= best_f1`: a tie goes to the later step; an undefined value (None: nothing
        # gold and nothing predicted) never beats a defined one, but the first evaluation is always kept
        value, best = metrics[key], None if self.best is None else self.best["value"]
        if self.best is None or (value is not None and (best is None or value >= best)):
            self.best = {"step": trainer.step, "metric": key, "value": value, "metrics": metrics}
            save_model(trainer.model, self.out_dir / BEST_FILE,
                       {"step": str(trainer.step), "metric": key, "value": "nan" if value is None else repr(value)})
            write_json(self.out_dir / BEST_RECORD, self.best)
        return {"best/step": self.best["step"], "best/f1": self.best["value"]}


def read_best(run_dir: str | Path) -> dict[str, Any] | None:
    """{step, metric, value} of a run's best.safetensors, from the file's own metadata; None without one."""
    file = Path(run_dir) / BEST_FILE
    if not file.is_file():
        return None
    with safe_open(str(file), framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
    if not {"step", "metric", "value"} <= meta.keys():
        raise ValueError(f"{file}: no step/metric/value in its metadata; not written by a kexue BestWeights hook "
                         "(delete it to use model.safetensors)")
    return {"step": int(meta["step"]), "metric": meta["metric"], "value": float(meta["value"])}
