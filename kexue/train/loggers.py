"""Where a run's records go besides metrics.jsonl: one interface, three loggers (`TrainConfig.log`).

Every metrics.jsonl record (loss, lr, eval metrics, seconds; the key `step` is the x axis) is also
handed to the logger that `log` names, on rank 0 only:
  tensorboard  events files in the run folder itself (tensorboard_log.py; `pip install 'kexue[log]'`)
  mlflow       an MLflow run in the file store OUT/mlruns (no server; `mlflow ui --backend-store-uri
               OUT/mlruns`), with the run's settings as parameters (`pip install 'kexue[mlflow]'`); MLflow 3
               keeps that store behind MLFLOW_ALLOW_FILE_STORE, which kexue sets (a database store
               would need SQLAlchemy, which mlflow-skinny leaves out)
  wandb        a Weights & Biases run in offline mode under OUT/wandb (nothing is sent; `wandb sync
               OUT/wandb/offline-run-*` uploads it later), with the settings as its config
               (`pip install 'kexue[wandb]'`)
A resumed run continues the same MLflow or W&B run: its id is kept in OUT/loggers.json. Nothing here
reaches the network: MLflow writes files, W&B runs in mode="offline".

A logger is anything with write(record) and close() (`Logger`); make_logger builds the one `log` names.
"""
from __future__ import annotations

import importlib.util
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from kexue.train.checkpoint import write_json

IDS_FILE = "loggers.json"  # {"mlflow": run id, "wandb": run id}: the run a resume continues
PACKAGES = {"tensorboard": ("tensorboard", "log", "tensorboard"), "mlflow": ("mlflow", "mlflow", "mlflow-skinny"),
            "wandb": ("wandb", "wandb", "wandb")}  # log → (module, extra, pip package)


class Logger(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class NoLogger:
    """log = "jsonl" (metrics.jsonl only), and every rank but 0."""

    def write(self, record: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


def require_logger(log: str) -> None:
    """A one-line error, before any work, when the package of `log`'s logger is missing."""
    module, extra, package = PACKAGES[log]
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"TrainConfig.log={log!r} needs the {module} package: pip install 'kexue[{extra}]' "
                         f"(or pip install {package}); or set log=jsonl")


def make_logger(log: str, out_dir: Path, enabled: bool, resumed_from: int | None = None,
                config: dict[str, Any] | None = None) -> Logger:
    """The logger `log` names for the run in out_dir (NoLogger when disabled or log = "jsonl")."""
    if not enabled or log == "jsonl":
        return NoLogger()
    require_logger(log)
    if log == "tensorboard":
        from kexue.train.tensorboard_log import TensorBoardLog

        return TensorBoardLog(out_dir, True, resumed_from)
    if log == "mlflow":
        return MLflowLog(out_dir, resumed_from, config or {})
    return WandbLog(out_dir, resumed_from, config or {})


class MLflowLog:
    """Records as MLflow metrics of one run in the file store out_dir/mlruns (experiment "kexue")."""

    def __init__(self, out_dir: Path, resumed_from: int | None, config: dict[str, Any]):
        from mlflow.tracking import MlflowClient

        # MLflow 3 keeps the file store "in maintenance mode" behind this switch; it needs no database package
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=(Path(out_dir).resolve() / "mlruns").as_uri())
        run_id = _saved_id(out_dir, "mlflow") if resumed_from is not None else None
        if run_id is None:
            experiment = self.client.get_experiment_by_name("kexue")
            experiment_id = experiment.experiment_id if experiment else self.client.create_experiment("kexue")
            run_id = self.client.create_run(experiment_id, run_name=Path(out_dir).name).info.run_id
            from mlflow.entities import Param

            self.client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in _flat(config).items()])
            _save_id(out_dir, "mlflow", run_id)
        self.run_id = run_id

    def write(self, record: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        step, now = int(record["step"]), int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in _scalars(record).items()])

    def close(self) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id)
            self.run_id = None


class WandbLog:
    """Records as the history of one W&B run, offline, under out_dir/wandb."""

    def __init__(self, out_dir: Path, resumed_from: int | None, config: dict[str, Any]):
        import wandb

        run_id = _saved_id(out_dir, "wandb") if resumed_from is not None else None
        if run_id is None:
            run_id = uuid.uuid4().hex[:8]  # a W&B run id: 8 lower-case letters and digits
            _save_id(out_dir, "wandb", run_id)
        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(mode="offline", dir=str(out_dir), id=run_id, resume="allow", project="kexue",
                              name=Path(out_dir).name, config=config, settings=wandb.Settings(
                                  console="off", disable_git=True, save_code=False, x_disable_stats=True,
                                  x_disable_meta=True, x_disable_machine_info=True, x_save_requirements=False))

    def write(self, record: dict[str, Any]) -> None:
        self.run.log(_scalars(record), step=int(record["step"]))

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    """The record's numbers (not `step`, not None, not bools)."""
    return {k: float(v) for k, v in record.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flat(v, key + ".") if isinstance(v, dict) and v else {key: v})
    return out


def _saved_id(out_dir: Path, name: str) -> str | None:
    file = Path(out_dir) / IDS_FILE
    return json.loads(file.read_text(encoding="utf-8")).get(name) if file.is_file() else None


def _save_id(out_dir: Path, name: str, run_id: str) -> None:
    file = Path(out_dir) / IDS_FILE
    ids = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    write_json(file, {**ids, name: run_id})
