"""Every README command and every README Python block runs (issue 24 §1), in README order, in one folder.

The README's ```python blocks are executed as scripts, each in a fresh namespace; its ```bash lines that
start with `kexue` go through the real command (`kexue.cli.app`; `serve` as a real process on a free
loopback port). They share one working folder, so `runs/rf`, `runs/ee`, `runs/ddpm` ... that a command
makes are there for the commands and blocks after it, as for a reader who follows the page. What makes
them short (steps, sizes, samples) and the stand-ins for the reader's own files are in COMMANDS and
PYTHON below; every README line must be in one of COMMANDS or SKIPPED, so a new command cannot slip by.
"""
from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIXTURES = ROOT / "kexue" / "gplinker" / "fixtures"


@dataclass
class Plan:
    """How one README command runs here: `replace` pairs (each must occur), `add` appended arguments,
    `setup` (a function of the work folder: the reader's own files, or commands run first) and `xfail`."""
    replace: tuple[tuple[str, str], ...] = ()
    add: tuple[str, ...] = ()
    setup: object = None
    xfail: str | None = None


def _write(path: str, text: str):
    def setup(work: Path) -> None:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text, encoding="utf-8")
    return setup


def _duee_files(work: Path) -> None:
    for name in ("duee_train.json", "duee_dev.json"):
        shutil.copy(FIXTURES / "duee_sample.json", work / name)
    shutil.copy(FIXTURES / "duee_event_schema.json", work / "duee_event_schema.json")


def _hf_folder(work: Path) -> None:
    # the reader's HF RoFormerV2 folder: the one `roformer export` writes from the run trained above
    _kexue(work, ["roformer", "export", "hf-roformer-v2", "--model", "runs/rf"])


def _two_pages(work: Path) -> None:
    # two pages of different topics (a topic in both is refused)
    for topic, out in (("attention", "runs/rep-a"), ("lru", "runs/rep-b")):
        _kexue(work, ["reproduce", topic, "--preset", "smoke", "--out", out])


def _full_inputs(work: Path) -> None:
    (work / "data/DuEE1.0").mkdir(parents=True, exist_ok=True)
    for name in ("duee_train.json", "duee_dev.json"):
        shutil.copy(FIXTURES / "duee_sample.json", work / "data/DuEE1.0" / name)
    shutil.copy(FIXTURES / "duee_event_schema.json", work / "data/DuEE1.0/duee_event_schema.json")
    shutil.copytree(work / "runs/rf", work / "models/rfv2", dirs_exist_ok=True)


TRAIN2 = ("--set", "train.steps=2")
SMOKE = ("--preset", "smoke")

# each README command (its comment cut off) → how it runs here
COMMANDS: dict[str, Plan] = {
    "kexue attention cost --hidden 768 --heads 12 --lengths 128,512,1536,4608": Plan(),
    "kexue attention measure --lengths 128,256,512,1024,2048,4096": Plan(
        replace=(("128,256,512,1024,2048,4096", "32,64"),)),
    "kexue attention quality --set train.steps=800": Plan(
        replace=(("train.steps=800", "train.steps=2"),), add=SMOKE),
    "kexue roformer pretrain --out runs/rf": Plan(add=(*SMOKE, *TRAIN2)),
    "kexue roformer pretrain --preset post --size base": Plan(
        add=(*TRAIN2, "--set", "train.batch_size=8", "--set", "max_texts=20", "--set", "eval_texts=2",
             "--set", "max_len=16")),
    "kexue roformer finetune --task classify --pretrained runs/rf --out runs/rf-sent": Plan(
        add=(*TRAIN2, "--set", "max_examples=32", "--set", "max_dev=8")),
    "kexue roformer import /path/to/hf-roformer-v2 --out runs/imported": Plan(
        replace=(("/path/to/hf-roformer-v2", "hf-roformer-v2"),), setup=_hf_folder),
    "kexue roformer export runs/hf --model runs/rf": Plan(),
    "kexue gplinker ner train --out runs/ner": Plan(add=(*TRAIN2, "--set", "eval_every=0")),
    "kexue gplinker ner train --preset quick --out runs/ner-demo": Plan(add=(*TRAIN2, "--set", "eval_every=0")),
    "kexue roformer pretrain --preset msra-encoder --out runs/msra-encoder": Plan(
        add=(*TRAIN2, "--set", "train.batch_size=8", "--set", "max_texts=200", "--set", "eval_texts=20")),
    "kexue roformer pretrain --out runs/msra-encoder --resume --set max_minutes=60": Plan(add=("--set", "train.steps=3")),
    "kexue gplinker ner train --recipe msra-bigrams --encoder runs/msra-encoder --out runs/ner-pretrained": Plan(
        add=(*TRAIN2, "--set", "eval_every=0")),
    "kexue gplinker ner evaluate --model runs/ner-pretrained": Plan(),
    "kexue gplinker events train --train duee_train.json --dev duee_dev.json --schema duee_event_schema.json "
    "--out runs/ee": Plan(add=(*TRAIN2, "--set", "train.batch_size=4"), setup=_duee_files),  # 8 fixture lines
    "kexue gplinker events predict --model runs/ee --input texts.txt --output pred.json": Plan(
        setup=_write("texts.txt", "3月5日，北京队在联赛中击败上海队。\n王五出生于上海。\n")),
    "kexue gplinker events predict --model runs/ee --input corpus.jsonl --output out.jsonl --resume": Plan(
        setup=_write("corpus.jsonl", '{"text": "3月5日，北京队击败上海队。"}\n{"text": "他在北京工作。"}\n')),
    "kexue gplinker serve --model runs/ee --port 8000 --set max_batch=32 --set max_wait_ms=5": Plan(),
    "kexue gplinker export --format onnx --model runs/ee runs/ee-onnx": Plan(),
    "kexue gplinker serve --onnx runs/ee-onnx --port 8000": Plan(),
    "kexue diffusion train --data digits --preset su --out runs/ddpm": Plan(
        add=(*TRAIN2, "--set", "train.batch_size=4", "--set", "sample_every=0", "--set", "sample_n=2",
             "--set", "T=20")),
    "kexue diffusion sample --model runs/ddpm --n 64 --sigma posterior": Plan(replace=(("--n 64", "--n 2"),)),
    "kexue diffusion export --format onnx --model runs/ddpm runs/ddpm-onnx": Plan(),
    "kexue lru train --task listops --model lru": Plan(add=SMOKE),
    ("kexue decoder-only rank --n 64,256,1024 --d 16,64 --temperature 0.5,1,4 "
     "--kinds bidirectional,causal,prefix"): Plan(replace=(("64,256,1024", "16"), ("16,64", "4"))),
    "kexue decoder-only train --task pinyin --arch prefix --out runs/do/prefix": Plan(
        add=(*TRAIN2, "--set", "task.n_train=64", "--set", "task.n_test=8", "--set", "n_generate=2")),
    # --out runs/do/cmp added: the README's next line continues this compare in runs/do/cmp
    "kexue decoder-only compare --task pinyin --arch decoder,prefix,encdec --preset quick --seeds 3 --match params":
        Plan(replace=(("--seeds 3", "--seeds 1"),),
             add=("--out", "runs/do/cmp", *TRAIN2, "--set", "task.n_train=64", "--set", "task.n_test=8",
                  "--set", "n_generate=2")),
    "kexue decoder-only compare --out runs/do/cmp --resume": Plan(),
    "kexue decoder-only mlm --direction bidirectional,mixed,alternate --seeds 3": Plan(
        replace=(("--seeds 3", "--seeds 1"),), add=TRAIN2),
    "kexue mad run --family gaussian --loop synthetic --lam 1,0.8 --generations 50 --seeds 20 --out runs/mad": Plan(
        replace=(("--generations 50", "--generations 3"), ("--seeds 20", "--seeds 2"))),
    "kexue mad run --family gmm --loop synthetic --lam 1,0.8 --generations 200 --out runs/mad-gmm": Plan(
        replace=(("--generations 200", "--generations 2"),), add=("--seeds", "1")),
    "kexue mad run --family diffusion --loop synthetic --lam 1,0.5 --generations 3 --out runs/mad-ddpm": Plan(
        replace=(("--generations 3", "--generations 1"),),
        add=("--n-ini", "64", "--n-s", "64", "--set", "diffusion.preset=smoke", "--set", "diffusion.steps=2",
             "--set", "diffusion.sample_steps=2", "--set", "diffusion.n_eval=16")),
    "kexue mad ess --n-r 100,250 --n-s 0,100,900,2700 --lam 1,0.85,0.7 --out runs/mad-ess": Plan(
        add=("--seeds", "2", "--generations", "5", "--d", "10")),  # 5.8 CPU s with its import
    "kexue lru train --preset quick --print-config > lru.toml": Plan(),
    # no GPU here: cuda stands in as cpu
    "kexue lru train --config lru.toml --set train.lr=3e-4 --device cuda --precision bf16": Plan(
        replace=(("--device cuda", "--device cpu"),),
        add=(*TRAIN2, "--set", "task.n_train=32", "--set", "task.n_test=16", "--set", "model.depth=1")),
    "kexue lru train --out runs/lru/version_0 --resume --set train.steps=4000": Plan(
        replace=(("train.steps=4000", "train.steps=4"),)),
    "kexue lru train --config runs/lru/version_0/config.json --out runs/lru/again": Plan(),
    "kexue diffusion train --log tensorboard": Plan(add=(*SMOKE, *TRAIN2)),
    "kexue report merge runs/rep-a runs/rep-b --out runs/rep": Plan(setup=_two_pages),
    "kexue reproduce --preset quick --out runs/reproduce": Plan(replace=(("--preset quick", "--preset smoke"),)),
    "kexue report check runs/reproduce/index.html": Plan(),
    "kexue reproduce gplinker --preset full --set gplinker.duee_dir=data/DuEE1.0 "
    "--set gplinker.encoder_path=models/rfv2": Plan(replace=(("--preset full", "--preset smoke"),),
                                                     setup=_full_inputs),
}

# README lines that are not run, and why (asserted equal to what the README has)
SKIPPED: dict[str, str] = {
    "make demo": "builds a venv and runs the quick preset (minutes); `kexue reproduce` is run below",
    "make test": "runs this test suite",
    "curl -d '{\"texts\": [\"3月5日，北京队击败上海队。\"]}' localhost:8000/extract":
        "sent from Python to the `serve` started by the line before it",
}

# the Python blocks' shortenings: a line of the block → (old, new) pairs, each must occur
PYTHON: dict[str, tuple[tuple[str, str], ...]] = {
    "from kexue.diffusion import Schedule, UNetSu, UNetSuConfig, ddpm_loss, sample": (
        ('sigma="beta")', 'sigma="beta", steps=5)'),),
    "from kexue.decoder_only import ModelConfig, RankConfig, RunConfig, TaskConfig, compare, rank_table": (
        ("n_train=6000", "n_train=64, n_test=8"), ("steps=150", "steps=2"), ("warmup=15", "warmup=1"),
        ("seeds=3, out_dir", "seeds=1, out_dir")),
    "from kexue.mad import LoopConfig, GaussianConfig, GaussianFamily, run_loop, exact": (
        ("seeds=100", "seeds=4"),),
    "from kexue.train import TrainConfig, Trainer, load_model": (
        ("steps=1000", "steps=2"), ("warmup=100", "warmup=1")),
}

# blocks (by one of their lines) allowed to print nothing, and why
QUIET = {
    "from kexue.gplinker.extractor import Extractor":
        "prints the events found: a 2-step model may find none",
}


def readme_steps() -> list[tuple[str, int, str]]:
    """(kind, line number, text) in README order: ("python", n, block) and ("bash", n, one command line)."""
    steps, lines, i = [], README.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        m = re.match(r"^```(\w+)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, j = i + 1, i + 1
        while not lines[j].startswith("```"):
            j += 1
        if m.group(1) == "python":
            steps.append(("python", start + 1, "\n".join(lines[start:j]) + "\n"))
        elif m.group(1) == "bash":
            for k in range(start, j):
                command = _strip_comment(lines[k])
                if command:
                    steps.append(("bash", k + 1, command))
        i = j + 1
    return steps


def _strip_comment(line: str) -> str:
    # a `#` outside quotes starts a comment; whitespace is normalised
    quote, out = None, []
    for ch in line:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return " ".join("".join(out).split())


STEPS = readme_steps()


def test_every_readme_line_is_planned():
    commands = {text for kind, _, text in STEPS if kind == "bash"}
    run = {c for c in commands if c.startswith("kexue ")}
    assert run == set(COMMANDS), "README kexue lines without a plan, or plans without a line"
    assert commands - run == set(SKIPPED), "README lines that are neither run nor listed as skipped"
    for key in (*PYTHON, *QUIET):
        assert len([text for kind, _, text in STEPS if kind == "python" and key in text.splitlines()]) == 1, key


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("readme")


def _kexue(work: Path, argv: list[str]) -> str:
    from typer.testing import CliRunner
    from kexue.cli import app
    cwd = os.getcwd()
    os.chdir(work)
    try:
        result = CliRunner().invoke(app, argv)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, (f"kexue {shlex.join(argv)} exited {result.exit_code}\n{result.stdout[-3000:]}"
                                   f"\n{result.stderr[-3000:]}\n{result.exception!r}")
    return result.stdout


def _shortened(command: str, plan: Plan) -> list[str]:
    for old, new in plan.replace:
        assert old in command, f"{command!r}: the shortening {old!r} no longer matches"
        command = command.replace(old, new)
    return shlex.split(command)[1:] + list(plan.add)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(work: Path, argv: list[str]) -> None:
    """`kexue gplinker serve` on a free loopback port, the README's curl sent from Python, then SIGTERM."""
    port = _free_port()
    argv = [a if a != "8000" else str(port) for a in argv]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "kexue", *argv], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"serve exited {proc.returncode}: {proc.stdout.read()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "serve was not ready in 180 s"
            time.sleep(0.5)
        curl = next(c for c in SKIPPED if c.startswith("curl "))
        body = shlex.split(curl)[2].encode("utf-8")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/extract", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as r:
            answer = json.loads(r.read())
        assert isinstance(answer, (list, dict)) and answer, answer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _params():
    out = []
    for kind, line, text in STEPS:
        if kind == "bash" and not text.startswith("kexue "):
            continue
        marks = ()
        if kind == "bash" and COMMANDS.get(text, Plan()).xfail:
            marks = (pytest.mark.xfail(reason=COMMANDS[text].xfail, strict=True),)
        label = f"L{line}-" + (text.split("\n")[0][:40] if kind == "python" else text[:60])
        out.append(pytest.param(kind, text, id=label, marks=marks))
    return out


@pytest.mark.readme  # about 2 CPU minutes in all: in `make test` (its -m) and `make test-readme`; a plain pytest leaves them out
@pytest.mark.parametrize("kind,text", _params())
def test_readme_step(kind, text, work, monkeypatch):
    monkeypatch.chdir(work)
    if kind == "python":
        code = text
        for old, new in next((v for k, v in PYTHON.items() if k in text.splitlines()), ()):
            assert old in code, f"the shortening {old!r} no longer matches its block"
            code = code.replace(old, new)
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            exec(compile(code, f"README block {text.splitlines()[0]!r}", "exec"), {"__name__": "__main__"})
        if not any(k in text.splitlines() for k in QUIET):
            assert buffer.getvalue().strip(), "a README block should print what it shows"
        return
    plan = COMMANDS[text]
    if plan.setup:
        plan.setup(work)
    argv = _shortened(text, plan)
    if argv[:2] == ["gplinker", "serve"]:
        _serve(work, argv)
        return
    target = None
    if ">" in argv:
        argv, target = argv[:argv.index(">")], argv[argv.index(">") + 1]
    stdout = _kexue(work, argv)
    if target:
        (work / target).write_text(stdout, encoding="utf-8")
