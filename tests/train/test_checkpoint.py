"""Checkpoints: strict loading names every offending tensor; interrupted writes leave no partial file."""
import json
import os

import pytest
import torch
from torch import nn

from kexue.train import atomic_path, load_model, save_model
from kexue.train.checkpoint import read_safetensors, save_checkpoint, write_json


class Net(nn.Module):
    def __init__(self, hidden: int = 4, extra: bool = False):
        super().__init__()
        self.encoder = nn.Linear(3, hidden)
        self.head = nn.Linear(hidden, 2)
        if extra:
            self.extra = nn.Linear(2, 2)


def test_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    a, b = Net(), Net()
    save_model(a, tmp_path / "model.safetensors")
    load_model(b, tmp_path)  # a run directory means its model.safetensors
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])


def test_missing_tensor_is_named(tmp_path):
    save_model(Net(), tmp_path / "m.safetensors")
    with pytest.raises(ValueError) as e:
        load_model(Net(extra=True), tmp_path / "m.safetensors")
    msg = str(e.value)
    assert "missing tensor(s) extra.weight, extra.bias" in msg and "m.safetensors" in msg
    assert "unexpected" not in msg and "\n" not in msg


def test_unexpected_tensor_is_named(tmp_path):
    save_model(Net(extra=True), tmp_path / "m.safetensors")
    with pytest.raises(ValueError) as e:
        load_model(Net(), tmp_path / "m.safetensors")
    msg = str(e.value)
    assert "unexpected tensor(s) extra.bias, extra.weight" in msg and "m.safetensors" in msg
    assert "missing" not in msg


def test_misshaped_tensor_is_named_with_both_shapes(tmp_path):
    save_model(Net(hidden=5), tmp_path / "m.safetensors")
    model = Net(hidden=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as e:
        load_model(model, tmp_path / "m.safetensors")
    msg = str(e.value)
    assert "encoder.weight (file [5, 3], model [4, 3])" in msg
    assert "encoder.bias (file [5], model [4])" in msg and "head.weight (file [2, 5], model [2, 4])" in msg
    assert "head.bias" not in msg
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # nothing half-loaded


def test_tied_weights_are_stored_once_and_restored(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(7, 3)
            self.out = nn.Linear(3, 7, bias=False)
            self.out.weight = self.embed.weight

    torch.manual_seed(0)
    a, b = Tied(), Tied()
    save_model(a, tmp_path / "t.safetensors")
    tensors, meta = read_safetensors(tmp_path / "t.safetensors")
    assert json.loads(meta["aliases"]) == {"out.weight": "embed.weight"}
    load_model(b, tmp_path / "t.safetensors")
    assert torch.equal(b.embed.weight, a.embed.weight) and b.out.weight is b.embed.weight


def test_missing_files_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        load_model(Net(), tmp_path)
    save_model(Net(), tmp_path / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="without EMA"):
        load_model(Net(), tmp_path, ema=True)


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    torch.manual_seed(0)
    old = Net()
    save_model(old, path)
    old_bytes = path.read_bytes()

    def partial_write(self, data):  # write part of the file, then fail
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr("pathlib.Path.write_bytes", partial_write)
    with pytest.raises(OSError, match="simulated"):
        save_model(Net(), path)
    assert path.read_bytes() == old_bytes
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]


def test_interrupted_first_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.json"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path) as tmp:
            tmp.write_text('{"half": ')
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1} and os.listdir(tmp_path) == ["out.json"]


def test_interrupted_checkpoint_renames_nothing(tmp_path, monkeypatch):
    """A checkpoint dying at its last file (trainer_state.pt) leaves every earlier file as it was."""
    torch.manual_seed(0)
    model = Net()
    save_checkpoint(tmp_path, model, {"step": 1}, None, {"k": 1})
    before = {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)}

    def failing_save(obj, f):
        open(f, "wb").write(b"partial")
        raise OSError("killed (simulated)")

    monkeypatch.setattr("kexue.train.checkpoint.torch.save", failing_save)
    with torch.no_grad():
        model.head.weight.add_(1.0)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(tmp_path, model, {"step": 2}, model.state_dict(), {"k": 2})
    assert {p: (tmp_path / p).read_bytes() for p in os.listdir(tmp_path)} == before
