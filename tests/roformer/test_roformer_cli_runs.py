"""`kexue roformer pretrain|finetune` as runs: presets, interrupt and resume bit-identical, protection."""

from typer.testing import CliRunner

from kexue.cli import app
from tests.interrupt import assert_identical, random_step, signal_after

runner = CliRunner()
LINE = "今天天气很好，我们去公园玩了{}次。北京大学的学生在学习自然语言处理。"


def pretrain_args(tmp_path, out):
    corpus = tmp_path / "corpus.txt"
    if not corpus.exists():
        corpus.write_text("\n".join(LINE.format(i) for i in range(30)), encoding="utf-8")
    return ["roformer", "pretrain", "--preset", "smoke", "--corpus", str(corpus), "--no-progress",
            "--set", "train.steps=5", "--set", "train.log_every=1", "--set", "max_len=32", "--set", "eval_texts=5",
            "--set", "train.eval_every=2", "--out", str(out)]


def test_pretrain_sigint_at_a_random_step_then_resume_is_bit_identical(tmp_path):
    r = runner.invoke(app, pretrain_args(tmp_path, tmp_path / "whole"))
    assert r.exit_code == 0, r.output
    k = random_step(5)
    with signal_after(k):
        r = runner.invoke(app, pretrain_args(tmp_path, tmp_path / "cut"))
    assert r.exit_code == 130 and f"interrupted at step {k}" in r.stderr, r.output
    r = runner.invoke(app, ["roformer", "pretrain", "--no-progress", "--out", str(tmp_path / "cut"), "--resume"])
    assert r.exit_code == 0, r.output
    assert_identical(tmp_path / "whole", tmp_path / "cut", [1, 2, 3, 4, 5])


def test_pretrain_presets_name_the_posts_recipe(tmp_path):
    r = runner.invoke(app, ["roformer", "pretrain", "--print-config"])
    assert r.exit_code == 0
    quick = dict(line.split("#")[0].strip().split(" = ", 1) for line in r.stdout.splitlines()
                 if not line.startswith("#"))
    r = runner.invoke(app, ["roformer", "pretrain", "--preset", "post", "--print-config"])
    post = dict(line.split("#")[0].strip().split(" = ", 1) for line in r.stdout.splitlines()
                if not line.startswith("#"))
    assert post["train.steps"] == "1000000" and post["train.batch_size"] == "512" and post["model.hidden_size"] == "768"
    assert int(quick["train.steps"]) <= 1000 and int(quick["model.hidden_size"]) <= 256  # a laptop's
    r = runner.invoke(app, ["roformer", "pretrain", "--preset", "huge", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and r.stderr.startswith("error: --preset 'huge'") and not (tmp_path / "x").exists()


def test_finetune_refuses_a_missing_pretrained_folder_before_anything(tmp_path):
    r = runner.invoke(app, ["roformer", "finetune", "--pretrained", str(tmp_path / "nope"),
                            "--out", str(tmp_path / "ft")])
    assert r.exit_code == 2 and "--pretrained" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "ft").exists()
    r = runner.invoke(app, ["roformer", "fill-mask", "no mask here", "--model", str(tmp_path)])
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and "[MASK]" in r.stderr  # brackets survive


def test_pretrain_post_on_a_cpu_says_its_time_and_warns_past_a_day(tmp_path, monkeypatch):
    """Issue 24 §4: `roformer pretrain --preset post` (a million LAMB steps of batch 4096) started on a CPU
    said nothing of its time. The post's recipe at toy sizes, on a fake clock where a step takes a day;
    said under --no-progress too (a warning, not a bar)."""
    from types import SimpleNamespace

    days = iter(range(0, 10**9, 86_400))
    monkeypatch.setattr("kexue.train.estimate.time", SimpleNamespace(perf_counter=lambda: next(days)))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINE.format(i) for i in range(30)), encoding="utf-8")
    toy = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
           "model.vocab_size=800", "max_len=32", "eval_texts=5", "train.steps=5", "train.batch_size=4",
           "train.grad_accum=1"]
    r = runner.invoke(app, ["roformer", "pretrain", "--preset", "post", "--corpus", str(corpus), "--device", "cpu",
                            *[w for kv in toy for w in ("--set", kv)], "--no-progress", "--out", str(tmp_path / "post")])
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert "estimated time: 3d00h for 3 more steps (8.64e+04 s/step over steps 2–2, cpu)" in lines, r.output
    assert ("warning: this run would take more than a day on cpu; it is sized for a GPU (--device cuda), or "
            "shorten it with --set train.steps=N") in lines


def test_a_clock_capped_pretraining_says_its_cap_not_a_day(tmp_path, monkeypatch):
    """`roformer pretrain --preset msra-encoder` asks for 200,000 steps and is stopped by its 30-minute clock
    cap: its estimate is the cap, and it gives no warning past a day (it said "more than a day … sized for
    a GPU" on the README's path). A fake clock where a step takes a day; the cap's clock is the real one."""
    from types import SimpleNamespace

    days = iter(range(0, 10**9, 86_400))
    monkeypatch.setattr("kexue.train.estimate.time", SimpleNamespace(perf_counter=lambda: next(days)))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINE.format(i) for i in range(30)), encoding="utf-8")
    toy = ["model.hidden_size=32", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=64",
           "max_len=32", "eval_texts=5", "train.steps=5", "train.batch_size=4"]
    r = runner.invoke(app, ["roformer", "pretrain", "--preset", "msra-encoder", "--corpus", str(corpus),
                            *[w for kv in toy for w in ("--set", kv)], "--no-progress", "--out", str(tmp_path / "enc")])
    assert r.exit_code == 0, r.output
    said = [line for line in r.stderr.splitlines() if line.startswith(("estimated time", "warning: this run"))]
    cap = ", its clock cap (3 more steps would take 3d00h at 8.64e+04 s/step, cpu)"
    assert len(said) == 1 and said[0].endswith(cap), said
    assert said[0].startswith(("estimated time: 30m00s", "estimated time: 29m5")), said
