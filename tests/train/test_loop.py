"""The Trainer's arithmetic: accumulation, parameter groups, clipping, AMP, records and summary."""
import json
import math
from collections import namedtuple
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn
from torch.utils.data import IterableDataset, TensorDataset

from kexue.train import TrainConfig, Trainer, decay_groups, lr_factor, read_metrics, to_device


def mse(m: nn.Module, batch) -> torch.Tensor:
    x, y = batch
    return (m(x) - y).pow(2).mean()


def regression(n: int = 64, dtype=torch.float64) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, generator=g, dtype=dtype)
    return TensorDataset(x, x @ torch.arange(1.0, 6.0, dtype=dtype)[:, None])


def mlp() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def test_grad_accumulation_equals_one_big_batch(tmp_path):
    """accum=4 micro-batches of 4 give the weights of one batch of 16 (float64, SGD)."""
    weights = []
    for accum in (1, 4):
        cfg = TrainConfig(steps=7, batch_size=16, grad_accum=accum, lr=0.05, optimizer="sgd", betas=(0.0, 0.0))
        trainer = Trainer(mlp(), cfg, regression(), mse, tmp_path / f"a{accum}", progress=False, device="cpu")
        trainer.fit()
        weights.append(trainer.model.state_dict())
    for k in weights[0]:
        torch.testing.assert_close(weights[1][k], weights[0][k], rtol=1e-12, atol=1e-13)
    assert not torch.equal(weights[0]["0.weight"], mlp().state_dict()["0.weight"])  # it did train


class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.full((3,), 2.0, dtype=torch.float64))
        self.b = nn.Parameter(torch.full((2,), -1.0, dtype=torch.float64))


def test_param_groups_get_their_lr_scale_and_weight_decay(tmp_path):
    model = Two()
    c_a, c_b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.tensor([0.5, -4.0], dtype=torch.float64)

    def loss_fn(m, batch):  # ∂L/∂a = c_a, ∂L/∂b = c_b
        return (m.a * c_a).sum() + (m.b * c_b).sum() + 0 * batch[0].sum()

    groups = lambda m: [{"params": [m.a], "lr_scale": 0.1, "weight_decay": 0.0},
                        {"params": [m.b], "lr_scale": 3.0, "weight_decay": 0.5}]
    cfg = TrainConfig(steps=1, batch_size=2, lr=0.2, optimizer="sgd", betas=(0.0, 0.0))
    trainer = Trainer(model, cfg, TensorDataset(torch.zeros(4, 1)), loss_fn, tmp_path, param_groups=groups,
                      progress=False, device="cpu")
    trainer.fit()
    # SGD with L2 decay: θ ← θ − lr · lr_scale · (g + wd · θ)
    expected_a = 2.0 - 0.2 * 0.1 * (c_a + 0.0 * 2.0)
    expected_b = -1.0 - 0.2 * 3.0 * (c_b + 0.5 * -1.0)
    torch.testing.assert_close(model.a.detach(), expected_a, rtol=0, atol=1e-15)
    torch.testing.assert_close(model.b.detach(), expected_b, rtol=0, atol=1e-15)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx([0.02, 0.6])


def test_adamw_weight_decay_per_group(tmp_path):
    """AdamW's decoupled decay: with zero gradient, θ ← θ (1 − lr · lr_scale · wd) and Adam's step is 0."""
    model = Two()
    groups = lambda m: [{"params": [m.a], "lr_scale": 1.0, "weight_decay": 0.0},
                        {"params": [m.b], "lr_scale": 0.5, "weight_decay": 0.1}]
    cfg = TrainConfig(steps=3, batch_size=2, lr=0.2)
    Trainer(model, cfg, TensorDataset(torch.zeros(4, 1)), lambda m, b: 0 * (m.a.sum() + m.b.sum()), tmp_path,
            param_groups=groups, progress=False, device="cpu").fit()
    torch.testing.assert_close(model.a.detach(), torch.full((3,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(model.b.detach(), torch.full((2,), -1.0 * (1 - 0.2 * 0.5 * 0.1) ** 3,
                                                            dtype=torch.float64))


def test_param_group_errors_name_the_parameter(tmp_path):
    data = TensorDataset(torch.zeros(4, 1))
    cfg = TrainConfig(steps=1, batch_size=2)
    with pytest.raises(ValueError, match="'a' is in two groups"):
        Trainer(Two(), cfg, data, mse, tmp_path, param_groups=lambda m: [{"params": [m.a]}, {"params": [m.a, m.b]}],
                device="cpu")
    with pytest.raises(ValueError, match="parameter\\(s\\) b are in no group"):
        Trainer(Two(), cfg, data, mse, tmp_path, param_groups=lambda m: [{"params": [m.a]}], device="cpu")


def test_decay_groups_split_matrices_from_biases_and_norms():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    decay, plain = decay_groups(model, weight_decay=0.01)
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert len(plain["params"]) == 4 and plain["weight_decay"] == 0.0 and decay["weight_decay"] == 0.01


def test_clipping_bounds_the_update(tmp_path):
    """Plain SGD with ‖g‖ > c: the update is lr · c · g / (‖g‖ + 1e-6) (PyTorch's ε), of norm ≈ lr · c."""
    model = Two()
    before = torch.cat([model.a.detach(), model.b.detach()])
    cfg = TrainConfig(steps=1, batch_size=2, lr=0.1, optimizer="sgd", betas=(0.0, 0.0), clip=0.5, log_every=1)
    Trainer(model, cfg, TensorDataset(torch.zeros(4, 1)), lambda m, b: 100 * (m.a.sum() + m.b.sum()), tmp_path,
            progress=False, device="cpu").fit()
    delta = torch.cat([model.a.detach(), model.b.detach()]) - before
    norm = 100 * math.sqrt(5)
    assert delta.norm().item() == pytest.approx(0.1 * 0.5 * norm / (norm + 1e-6), rel=1e-12)
    assert read_metrics(tmp_path)[0]["grad_norm"] == pytest.approx(norm, rel=1e-12)


@dataclass
class Preset:
    name: str = "tiny"
    hidden: int = 8
    train: TrainConfig = field(default_factory=TrainConfig)


def test_metrics_and_config_are_written_and_parse(tmp_path):
    cfg = TrainConfig(steps=10, batch_size=8, lr=0.01, schedule="cosine", warmup=2, log_every=4, eval_every=5)
    out = tmp_path / "run"

    def loss_fn(m, batch):
        loss = mse(m, batch)
        return loss, {"half_loss": loss.item() / 2}

    summary = Trainer(mlp(), cfg, regression(), loss_fn, out, eval_fn=lambda m: {"score": 1.5},
                      run_config=Preset(train=cfg), progress=False, device="cpu").fit()
    records = read_metrics(out)
    assert [r["step"] for r in records] == [4, 5, 8, 10]
    logged = [r for r in records if "loss" in r]
    assert [r["step"] for r in logged] == [4, 8, 10]
    for r in logged:
        assert r["half_loss"] == pytest.approx(r["loss"] / 2, rel=1e-6)
        assert r["lr"] == pytest.approx(0.01 * lr_factor(cfg, r["step"] - 1), rel=1e-12)
        assert r["seconds"] >= 0
    assert [r.get("eval/score") for r in records] == [None, 1.5, None, 1.5]
    config = json.loads((out / "config.json").read_text())
    assert config["run"]["hidden"] == 8 and config["train"]["steps"] == 10
    assert summary["final_loss"] == records[-1]["loss"] and summary["steps"] == 10
    assert summary["eval/score"] == 1.5 and summary["checkpoint"] == str(out / "model.safetensors")
    assert summary["metrics"] == records[-1]
    only_train = tmp_path / "plain"
    Trainer(mlp(), cfg, regression(), mse, only_train, progress=False, device="cpu").fit()
    assert json.loads((only_train / "config.json").read_text())["schedule"] == "cosine"


def test_amp_runs_the_loss_under_bf16_autocast(tmp_path):
    dtypes = []

    def loss_fn(m, batch):
        out = m(batch[0].float())
        dtypes.append(out.dtype)
        return out.float().pow(2).mean()

    model = nn.Linear(5, 1)
    cfg = TrainConfig(steps=2, batch_size=8, amp=True)
    summary = Trainer(model, cfg, regression(), loss_fn, tmp_path, progress=False, device="cpu").fit()
    assert dtypes == [torch.bfloat16, torch.bfloat16] and model.weight.dtype == torch.float32
    assert math.isfinite(summary["final_loss"])


class Stream(IterableDataset):
    """A deterministic iterable: epoch e yields the examples in an order fixed by e."""

    def __init__(self, data: TensorDataset):
        self.data, self.epoch = data, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(self.epoch))
        return (self.data[i] for i in order.tolist())


def test_iterable_data_resumes_where_it_stopped(tmp_path):
    cfg = TrainConfig(steps=11, batch_size=12, grad_accum=2, lr=0.01)  # 5 steps per epoch of 64
    whole = Trainer(mlp(), cfg, Stream(regression()), mse, tmp_path / "whole", progress=False, device="cpu")
    whole.fit()
    first = TrainConfig(steps=7, batch_size=12, grad_accum=2, lr=0.01)
    Trainer(mlp(), first, Stream(regression()), mse, tmp_path / "split", progress=False, device="cpu").fit()
    second = Trainer(mlp(), cfg, Stream(regression()), mse, tmp_path / "split", progress=False, device="cpu")
    summary = second.fit(resume=True)
    assert summary["resumed_from"] == 7
    for k, v in whole.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[k], v)


def test_a_generator_is_refused_at_its_second_epoch(tmp_path):
    examples = (regression()[i] for i in range(16))
    with pytest.raises(ValueError, match="yielded no full micro-batch in epoch 1"):
        Trainer(mlp(), TrainConfig(steps=3, batch_size=8), examples, mse, tmp_path, progress=False, device="cpu").fit()


def test_loss_must_be_a_scalar(tmp_path):
    with pytest.raises(ValueError, match="scalar tensor"):
        Trainer(mlp(), TrainConfig(steps=1, batch_size=8), regression(), lambda m, b: m(b[0]), tmp_path,
                progress=False, device="cpu").fit()


def test_batch_must_split_over_accumulation(tmp_path):
    with pytest.raises(ValueError, match="batch_size=10 is not divisible by world_size × grad_accum = 1 × 4"):
        Trainer(mlp(), TrainConfig(steps=1, batch_size=10, grad_accum=4), regression(), mse, tmp_path,
                progress=False, device="cpu").fit()


def test_progress_and_summary_go_to_stderr_when_asked(tmp_path, capsys):
    Trainer(mlp(), TrainConfig(steps=3, batch_size=8), regression(), mse, tmp_path / "quiet", progress=False,
            device="cpu").fit()
    assert capsys.readouterr() == ("", "")
    summary = Trainer(mlp(), TrainConfig(steps=3, batch_size=8), regression(), mse, tmp_path / "loud",
                      print_summary=True, count_tokens=lambda b: b[0].shape[0], device="cpu").fit()
    out, err = capsys.readouterr()
    assert out == "" and "training summary" in err and "3/3" in err and "tokens/s" in err
    assert summary["tokens_per_s"] > 0


def test_to_device_keeps_containers():
    Pair = namedtuple("Pair", "x y")
    batch = {"a": [torch.ones(1), (torch.zeros(2), "text")], "b": Pair(torch.ones(1), 3)}
    moved = to_device(batch, torch.device("cpu"))
    assert isinstance(moved["b"], Pair) and moved["b"].y == 3 and moved["a"][1][1] == "text"
    assert isinstance(moved["a"], list) and isinstance(moved["a"][1], tuple)


def test_on_eval_sees_the_evaluated_weights_and_adds_to_the_record(tmp_path):
    """on_eval runs after each eval_fn with the logged metrics and the weights eval_fn saw (here θ̄)."""
    seen_eval, seen_hook = [], []

    def eval_fn(m):
        seen_eval.append(m[0].weight.detach().clone())
        return {"score": float(len(seen_eval))}

    def on_eval(trainer, metrics):
        seen_hook.append((trainer.step, metrics, trainer.model[0].weight.detach().clone()))
        return {"best/step": trainer.step}

    cfg = TrainConfig(steps=6, batch_size=8, lr=0.05, log_every=3, eval_every=2, ema=0.5)
    trainer = Trainer(mlp(), cfg, regression(), mse, tmp_path, eval_fn=eval_fn, on_eval=on_eval, progress=False,
                      device="cpu")
    trainer.fit()
    assert [s for s, _, _ in seen_hook] == [2, 4, 6]
    assert [m for _, m, _ in seen_hook] == [{"eval_ema/score": 1.0}, {"eval_ema/score": 2.0}, {"eval_ema/score": 3.0}]
    for w_eval, (_, _, w_hook) in zip(seen_eval, seen_hook):
        assert torch.equal(w_eval, w_hook)
    assert not torch.equal(seen_hook[-1][2], trainer.model[0].weight)  # θ came back after the hook
    records = {r["step"]: r for r in read_metrics(tmp_path)}
    assert [records[s].get("best/step") for s in (2, 3, 4, 6)] == [2, None, 4, 6]
