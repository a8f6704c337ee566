"""The training loop as the ecosystem expects it (issue 21 §4): loggers behind one interface (TensorBoard,
MLflow, W&B offline), train.compile with plain tensor names, train.keep_last, train.deterministic."""
import json
import os
import socket
import time

import pytest
import torch

from kexue.train import TrainConfig, Trainer, load_model, read_metrics
from kexue.train.checkpoint import CHECKPOINT_LINK, kept_checkpoints, read_safetensors
from kexue.train.estimate import RunEstimate
from tests.train.test_loop import mlp, mse, regression


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(steps=6, batch_size=16, lr=0.02, log_every=1, eval_every=3, ema=0.9), **kw})


def trainer(out, on_step=None, **kw) -> Trainer:
    return Trainer(mlp(), cfg(**kw), regression(), mse, out, progress=False, device="cpu",
                   eval_fn=lambda m: {"mse": 0.5}, run_config={"task": "regression"}, on_step=on_step)


def fit(out, resume=False, **kw) -> Trainer:
    t = trainer(out, **kw)
    t.fit(resume=resume)
    return t


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection off this machine fails the test."""
    real = socket.socket.connect

    def connect(self, address, *a, **kw):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise AssertionError(f"a logger reached for the network: {address}")
        return real(self, address, *a, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    for key in ("WANDB_API_KEY", "WANDB_MODE", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)


def test_mlflow_gets_every_record_and_the_settings_and_a_resume_continues_its_run(tmp_path, no_network):
    from mlflow.tracking import MlflowClient

    def crash(trainer, step):
        if step == 4:
            raise RuntimeError("crash")  # after the checkpoint of step 3

    with pytest.raises(RuntimeError):
        trainer(tmp_path, crash, log="mlflow", ckpt_every=3).fit()
    fit(tmp_path, resume=True, log="mlflow", ckpt_every=3)
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())
    runs = client.search_runs([client.get_experiment_by_name("kexue").experiment_id])
    assert len(runs) == 1  # the resume went on in the same run
    run = runs[0]
    assert run.data.params["train.lr"] == "0.02" and run.data.params["run.task"] == "regression"
    loss = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "loss")}
    assert loss == pytest.approx({r["step"]: r["loss"] for r in read_metrics(tmp_path)})
    assert [m.value for m in client.get_metric_history(run.info.run_id, "eval_ema/mse")] == [0.5, 0.5]


def test_wandb_offline_writes_a_local_run_with_the_records(tmp_path, no_network):
    fit(tmp_path, log="wandb")
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))  # nothing sent: `wandb sync` would upload it
    run_id = json.loads((tmp_path / "loggers.json").read_text())["wandb"]
    assert runs[0].name.endswith(run_id)
    history = {int(row["_step"]): row for row in wandb_history(next(runs[0].glob("*.wandb")))}
    want = {r["step"]: r["loss"] for r in read_metrics(tmp_path)}
    assert {s: row["loss"] for s, row in history.items() if "loss" in row} == pytest.approx(want)


def wandb_history(file) -> list[dict]:
    """The history rows of a W&B transaction log (.wandb): a 7-byte header, then LevelDB log records
    (crc 4 bytes, length 2, type 1; FULL 1, FIRST 2, MIDDLE 3, LAST 4) in 32 KiB blocks, each a protobuf Record."""
    from wandb.proto import wandb_internal_pb2

    data, pos, rows, part = file.read_bytes(), 7, [], b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        n, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        if n == 0 and kind == 0:
            break
        part, pos = part + data[pos + 7:pos + 7 + n], pos + 7 + n
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(part)
            part = b""
            if record.WhichOneof("record_type") == "history":
                rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
    return rows


def test_a_missing_logger_package_is_one_line_naming_its_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("mlflow", "wandb") else
                        real(name, *a))
    for log, extra in (("mlflow", "mlflow"), ("wandb", "wandb")):
        with pytest.raises(ValueError, match=rf"log='{log}' needs the {log} package: pip install 'kexue\[{extra}\]'"):
            Trainer(mlp(), cfg(log=log), regression(), mse, "unused", progress=False, device="cpu")


def test_a_compiled_run_keeps_plain_names_loads_uncompiled_and_resumes_exactly(tmp_path, monkeypatch):
    # dynamo + AOTAutograd as train.compile runs them, without inductor's C++ build (114 s of this test
    # under load; the names, loading and resume do not depend on the backend)
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, **kw: real(module, backend="aot_eager", **kw))
    began = time.process_time()
    straight = fit(tmp_path / "eager")

    def stop(trainer, step):
        if step == 3:
            raise RuntimeError("cut")  # after the checkpoint of step 3

    compiled = trainer(tmp_path / "c", stop, compile=True, ckpt_every=3)
    assert type(compiled._forward).__name__ == "OptimizedModule"
    with pytest.raises(RuntimeError, match="cut"):
        compiled.fit()
    tensors, _ = read_safetensors(tmp_path / "c" / "model.safetensors")
    assert set(tensors) == set(mlp().state_dict())  # "0.weight", not "_orig_mod.0.weight"
    load_model(mlp(), tmp_path / "c")  # strict, into an uncompiled model
    resumed = fit(tmp_path / "c", resume=True, ckpt_every=3)  # compile=false on resume: allowed
    for k, v in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=1e-12, atol=1e-12)
    print(f"compiled run: {time.process_time() - began:.1f} CPU s")


def test_keep_last_keeps_the_newest_checkpoints_and_the_link_on_the_newest(tmp_path):
    fit(tmp_path / "one", ckpt_every=2)
    assert [p.name for p in kept_checkpoints(tmp_path / "one")] == ["ckpt-000006"]
    fit(tmp_path / "three", ckpt_every=1, keep_last=3)
    names = sorted(p.name for p in (tmp_path / "three").glob("ckpt-*"))
    assert names == ["ckpt-000004", "ckpt-000005", "ckpt-000006"]
    assert os.readlink(tmp_path / "three" / CHECKPOINT_LINK) == "ckpt-000006"
    # an older kept checkpoint is a whole one: its weights load, with the step in their metadata
    _, meta = read_safetensors(tmp_path / "three" / "ckpt-000004" / "model.safetensors")
    assert meta["step"] == "4"
    # a resume to more steps keeps pruning to three; the kept ones survive its start
    fit(tmp_path / "three", resume=True, steps=8, ckpt_every=1, keep_last=3)
    assert sorted(p.name for p in (tmp_path / "three").glob("ckpt-*")) == ["ckpt-000006", "ckpt-000007",
                                                                           "ckpt-000008"]
    with pytest.raises(ValueError, match="keep_last=0: must be a positive integer"):
        TrainConfig(keep_last=0)


def test_deterministic_switches_torch_to_deterministic_algorithms_for_the_run_only(tmp_path):
    seen = []

    def loss_fn(m, batch):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return mse(m, batch)

    before = torch.are_deterministic_algorithms_enabled()
    runs = []
    for name in ("a", "b"):
        t = Trainer(mlp(), cfg(deterministic=True), regression(), loss_fn, tmp_path / name, progress=False,
                    device="cpu")
        t.fit()
        runs.append(t.model.state_dict())
    assert seen and all(seen)
    assert torch.are_deterministic_algorithms_enabled() == before  # restored
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k])
    seen.clear()
    Trainer(mlp(), cfg(), regression(), loss_fn, tmp_path / "c", progress=False, device="cpu").fit()
    assert not any(seen)


def test_the_estimate_is_said_once_from_the_first_steps_and_warns_past_a_day():
    ticks = iter(range(0, 10**9, 10))  # every step takes 10 s on this fake clock
    est = RunEstimate(total=40_000, start=0, device="cpu", clock=lambda: next(ticks))
    lines = [est.tick(step) for step in range(1, 10)]
    assert lines[:3] == [[], [], []] and all(not x for x in lines[4:])
    said = lines[3]  # after step 4: steps 2–4 timed (the first step warms up)
    assert said[0] == "estimated time: 4d15h for 39,996 more steps (10 s/step over steps 2–4, cpu)"
    assert said[1] == ("warning: this run would take more than a day on cpu; it is sized for a GPU (--device cuda), "
                       "or shorten it with --set train.steps=N")
    slow = iter(range(0, 10**9, 3600))  # an hour a step: said after step 2 (a minute has passed)
    est = RunEstimate(40, 0, "cuda", clock=lambda: next(slow))
    said = [est.tick(s) for s in (1, 2)][1]
    assert said[0].startswith("estimated time: 1d14h for 38 more steps") and "on cuda; shorten it" in said[1]
    fast = iter(range(0, 10**6))  # 1 s a step: 10 steps left, nothing to say
    quiet = RunEstimate(total=14, start=0, device="cpu", clock=lambda: next(fast))
    assert not any(quiet.tick(s) for s in range(1, 15))
