"""Step callbacks (kexue/train/callbacks.py): every optimizer step seen once, in order, with its loss; the
Trainer's own before the registered ones; a handle that unregisters; nothing changed by watching."""
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from kexue.train import TrainConfig, Trainer, read_metrics, register_step_callback


def data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=g, dtype=torch.float64)
    return TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64))


def mse(m, batch):
    x, y = batch
    return (m(x) - y).pow(2).mean()


def trainer(out, callbacks=(), steps: int = 5, grad_accum: int = 1) -> Trainer:
    torch.manual_seed(1)
    cfg = TrainConfig(steps=steps, batch_size=8, grad_accum=grad_accum, lr=0.05, optimizer="sgd", log_every=1)
    return Trainer(nn.Linear(3, 1).double(), cfg, data(), mse, out, callbacks=callbacks, progress=False, device="cpu")


def test_callbacks_see_every_step_with_its_logged_loss(tmp_path):
    """fn(trainer, step, loss) after steps 1..n, trainer.step == step, loss == the step's logged mean loss
    (over its micro-batches, so grad_accum=2 gives the same record)."""
    for accum in (1, 2):
        seen = []
        t = trainer(tmp_path / f"a{accum}", [lambda tr, step, loss: seen.append((step, tr.step, float(loss)))],
                    grad_accum=accum)
        t.fit()
        logged = [r["loss"] for r in read_metrics(tmp_path / f"a{accum}") if "loss" in r]
        assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5] and all(s == ts for s, ts, _ in seen)
        assert [loss for _, _, loss in seen] == pytest.approx(logged, rel=1e-12)


def test_own_callbacks_run_before_the_registered_until_the_handle_is_removed(tmp_path):
    order = []
    with register_step_callback(lambda tr, step, loss: order.append(("registered", step))):
        trainer(tmp_path / "a", [lambda tr, step, loss: order.append(("own", step))], steps=2).fit()
    assert order == [("own", 1), ("registered", 1), ("own", 2), ("registered", 2)]
    order.clear()
    trainer(tmp_path / "b", steps=2).fit()  # the with block removed it: nothing sees this run
    assert order == []
    handle = register_step_callback(lambda tr, step, loss: order.append(step))
    handle.remove()
    handle.remove()  # a second remove does nothing
    trainer(tmp_path / "c", steps=2).fit()
    assert order == []


def test_watching_changes_nothing_and_a_raise_stops_the_run_there(tmp_path):
    plain = trainer(tmp_path / "plain")
    plain.fit()
    watched = trainer(tmp_path / "watched", [lambda tr, step, loss: float(loss)])
    watched.fit()
    for k, v in plain.model.state_dict().items():
        assert torch.equal(watched.model.state_dict()[k], v)

    def stop_at_3(tr, step, loss):
        if step == 3:
            raise KeyboardInterrupt

    t = trainer(tmp_path / "cut", [stop_at_3])
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    assert t.step == 3 and all(r["step"] < 3 for r in read_metrics(tmp_path / "cut"))  # step 3 was not recorded


def test_a_callback_must_be_a_function(tmp_path):
    with pytest.raises(TypeError, match="a step callback is a function"):
        trainer(tmp_path / "a", ["not a function"])
    with pytest.raises(TypeError, match="got int"):
        register_step_callback(3)
