"""`kexue roformer pretrain` on the Trainer: a killed and resumed run equals an unbroken one, and two gloo
processes under torchrun equal one process with the same global batch (kexue.fm/archives/8998's recipe,
at a toy size, on a small corpus written here)."""
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kexue.train.checkpoint import read_safetensors
from kexue.train.progress import read_metrics
from tests.runs import assert_same_run

SCRIPT = Path(__file__).with_name("pretrain_run.py")
TINY = ["--size", "small", "--set", "model.hidden_size=32", "--set", "model.num_layers=2", "--set",
        "model.num_heads=2", "--set", "model.intermediate_size=64", "--set", "model.vocab_size=800",
        "--set", "max_len=32", "--set", "eval_texts=5", "--set", "train.schedule=constant",
        "--set", "train.lr=3e-3", "--set", "train.batch_size=4", "--set", "train.log_every=1",
        "--set", "train.eval_every=4", "--set", "train.ckpt_every=4"]


def write_corpus(path: Path) -> Path:
    r = random.Random(0)
    who = ["我们", "北京大学的学生", "老师", "这家公司", "科学家", "他的朋友"]
    does = ["学习", "研究", "讨论", "喜欢", "介绍"]
    what = ["自然语言处理", "天气预报", "公园里的花", "中国历史", "新的模型", "数学问题"]
    where = ["上海", "北京", "深圳"]
    lines = [f"{r.choice(who)}今天在{r.choice(where)}{r.choice(does)}{r.choice(what)}，一共{i}次。" for i in range(48)]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(out: Path, corpus: Path, *args: str, kill_at: int = 0, ranks: int = 1) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KEXUE_TEST_KILL_AT": str(kill_at)}
    runner = [sys.executable] if ranks == 1 else [
        sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--master_addr=127.0.0.1",
        f"--master_port={free_port()}"]
    return subprocess.Popen([*runner, str(SCRIPT), "--out", str(out), "--corpus", str(corpus), *TINY, *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, *allowed: int) -> int:
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode in (0, *allowed), out
    return proc.returncode


def strip(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


BATCHES = pytest.mark.parametrize("batches", [[], ["--set", "sort_by_length=true"]], ids=["random", "by-length"])


@pytest.mark.slow
@BATCHES
def test_killed_and_resumed_pretraining_equals_an_unbroken_run(tmp_path, batches):
    # dropout on, dynamic whole-word masks drawn anew each step, and the residual α ramping over the kill:
    # all of them must continue exactly (RNG, data position, α restored from the checkpoint of step 4)
    corpus = write_corpus(tmp_path / "corpus.txt")
    args = ["--set", "train.steps=8", "--set", "train.grad_accum=2", "--set", "alpha_ramp=6", *batches]
    whole = launch(tmp_path / "whole", corpus, *args)
    killed = launch(tmp_path / "split", corpus, *args, kill_at=5)
    assert finish(whole) == 0
    assert finish(killed, -signal.SIGKILL) == -signal.SIGKILL
    assert [r["step"] for r in read_metrics(tmp_path / "split")] == [1, 2, 3, 4, 5]  # step 5 is redone
    assert finish(launch(tmp_path / "split", corpus, *args, "--resume")) == 0

    w_whole, _ = read_safetensors(tmp_path / "whole" / "model.safetensors")
    w_split, meta = read_safetensors(tmp_path / "split" / "model.safetensors")
    assert meta["step"] == "8" and set(w_split) == set(w_whole)
    for name, w in w_whole.items():
        assert torch.equal(w_split[name], w), f"{name} differs after the resume"
    log = strip(read_metrics(tmp_path / "whole"))
    assert strip(read_metrics(tmp_path / "split")) == log  # losses, MLM accuracies, evals, bit for bit
    assert [r["step"] for r in log] == list(range(1, 9)) and "eval/mlm_loss" in log[3]
    assert log[-1]["loss"] != log[0]["loss"]  # it trained


@pytest.mark.slow
@BATCHES
def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path, batches):
    # 1 process × 2 accumulation micro-batches and 2 ranks × 1 see the same two halves of each batch of 4
    # (batches.py) and both average their two gradients. Dropout is off and the masks are deterministic
    # (every word selected and every selected token [MASK]), since every rank draws from its own generator.
    corpus = write_corpus(tmp_path / "corpus.txt")
    args = ["--set", "train.steps=6", "--set", "model.dropout=0", "--set", "model.attention_dropout=0",
            "--set", "masking.word_rate=1", "--set", "masking.mask_rate=1", "--set", "masking.keep_rate=0", *batches]
    alone = launch(tmp_path / "one", corpus, *args, "--set", "train.grad_accum=2")
    ddp = launch(tmp_path / "two", corpus, *args, "--set", "train.grad_accum=1", ranks=2)
    assert finish(alone) == 0 and finish(ddp) == 0

    one, _ = assert_same_run(tmp_path / "one", tmp_path / "two", [1, 2, 3, 4, 5, 6], rel=1e-5, abs=1e-6,
                             w_rtol=0, w_atol=1e-5)
    assert one[-1]["loss"] != one[0]["loss"]  # it trained
    state = torch.load(tmp_path / "two" / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["ranks"]) == 2  # really two ranks
