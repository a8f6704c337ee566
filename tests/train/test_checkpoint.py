"""Checkpoints: strict loading names every offending tensor; interrupted writes leave no partial file."""
import errno
import json
import os

import pytest
import torch
from torch import nn

from kexue.train import atomic_path, load_model, save_model
from kexue.train.checkpoint import (DiskFullError, checkpoint_step, has_checkpoint, load_trainer_state, read_json,
                                    read_safetensors, save_checkpoint, write_json)


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


def snapshot(folder) -> dict:
    """Every name in a folder (recursively; links as their targets) and what reading it gives."""
    return {str(p.relative_to(folder)): os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


def test_interrupted_checkpoint_changes_nothing(tmp_path, monkeypatch):
    """A checkpoint dying at its last file (trainer_state.pt) leaves the committed one as it was, and no
    temporary."""
    torch.manual_seed(0)
    model = Net()
    save_checkpoint(tmp_path, model, {"step": 1}, None, {"k": 1})
    before = snapshot(tmp_path)
    assert before["checkpoint"] == "ckpt-000001" and before["model.safetensors"] == "checkpoint/model.safetensors"

    def failing_save(obj, f):
        f.write(b"partial")
        raise OSError("killed (simulated)")

    monkeypatch.setattr("kexue.train.checkpoint.torch.save", failing_save)
    with torch.no_grad():
        model.head.weight.add_(1.0)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(tmp_path, model, {"step": 2}, model.state_dict(), {"k": 2})
    assert snapshot(tmp_path) == before


def test_a_second_checkpoint_replaces_the_first_and_readers_follow(tmp_path):
    torch.manual_seed(0)
    model = Net()
    save_checkpoint(tmp_path, model, {"step": 1}, None, {"k": 1})
    with torch.no_grad():
        model.head.weight.add_(1.0)
    save_checkpoint(tmp_path, model, {"step": 2}, model.state_dict(), {"k": 2})
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "ckpt-000002", "config.json", "ema.safetensors",
                                            "model.safetensors", "trainer_state.pt"]
    assert checkpoint_step(tmp_path) == 2 and load_trainer_state(tmp_path)["step"] == 2
    loaded = load_model(Net(), tmp_path)
    assert torch.equal(loaded.head.weight, model.head.weight)
    assert read_safetensors(tmp_path / "model.safetensors")[1]["step"] == "2"  # the link, as a script reads it
    save_checkpoint(tmp_path, model, {"step": 2}, None, {"k": 2})  # the same step again: EMA gone with it
    assert os.readlink(tmp_path / "checkpoint") == "ckpt-000002-1" and not (tmp_path / "ema.safetensors").exists()
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "ckpt-000002-1", "config.json", "model.safetensors",
                                            "trainer_state.pt"]


def test_a_run_of_the_older_layout_resumes_and_moves_to_the_new_one(tmp_path):
    torch.manual_seed(0)
    model = Net()
    save_model(model, tmp_path / "model.safetensors", {"step": "3"})
    torch.save({"step": 3}, tmp_path / "trainer_state.pt")
    assert has_checkpoint(tmp_path) and load_trainer_state(tmp_path)["step"] == 3
    save_checkpoint(tmp_path, model, {"step": 4}, None, {})
    assert os.readlink(tmp_path / "trainer_state.pt") == "checkpoint/trainer_state.pt"
    assert load_trainer_state(tmp_path)["step"] == 4


def test_weights_carry_a_checksum_and_a_flipped_bit_is_named(tmp_path):
    torch.manual_seed(0)
    save_model(Net(), tmp_path / "m.safetensors")
    _, meta = read_safetensors(tmp_path / "m.safetensors")
    assert len(meta["tensors_sha256"]) == 64
    data = bytearray((tmp_path / "m.safetensors").read_bytes())
    data[-3] ^= 0x40  # an exponent bit of the last float
    (tmp_path / "m.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"m.safetensors: checksum mismatch"):
        load_model(Net(), tmp_path / "m.safetensors")


def test_a_file_without_checksum_still_loads(tmp_path):
    from safetensors.torch import save_file
    torch.manual_seed(0)
    a = Net()
    save_file({k: v.contiguous() for k, v in a.state_dict().items()}, str(tmp_path / "hf.safetensors"))
    b = load_model(Net(), tmp_path / "hf.safetensors")
    assert torch.equal(a.head.weight, b.head.weight)


@pytest.mark.parametrize("name", ["model.safetensors", "trainer_state.pt"])
def test_a_truncated_file_is_named_with_its_cause(tmp_path, name):
    torch.manual_seed(0)
    save_checkpoint(tmp_path, Net(), {"step": 1}, None, {})
    target = tmp_path / "checkpoint" / name
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as e:
        load_trainer_state(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / 'ckpt-000001' / name}: ") and "damaged or was cut short" in msg
    assert "\n" not in msg


def test_a_full_disk_names_the_folder_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = Net()
    save_checkpoint(tmp_path, model, {"step": 1}, None, {"k": 1})
    before = snapshot(tmp_path)
    write = os.write

    def full(fd, data):
        if "ckpt-000002" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(DiskFullError) as e:
        save_checkpoint(tmp_path, model, {"step": 2}, None, {"k": 2})
    assert e.value.strerror.startswith(f"no space left on {tmp_path} (writing the checkpoint of step 2;")
    assert snapshot(tmp_path) == before


def test_read_json_names_the_file_and_line(tmp_path):
    (tmp_path / "config.json").write_text('{\n  "a": 1,\n  "b": ')
    with pytest.raises(ValueError, match=r"config.json:3: not valid JSON \(Expecting value at column 8\)"):
        read_json(tmp_path / "config.json")
