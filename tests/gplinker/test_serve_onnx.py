"""`kexue gplinker serve --onnx DIR`: the service of an exported folder, same routes, limits and JSON, no torch.

A real uvicorn process over loopback, as tests/gplinker/test_serve.py runs `serve --model`, on the folder that
`kexue gplinker export --format onnx` wrote from a tiny untrained run, started by the same helper
(test_serve.py `serving`). The server's process cannot import torch (a folder first on its path holds a torch.py
that fails as a missing torch does), so every test here also checks that the command line, its error guard and
the service need none.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kexue.gplinker.cli import app
from tests.gplinker._tiny import fresh_run
from tests.gplinker.test_onnx import same_json
from tests.gplinker.test_serve import BAD, exchange, get, good, post, serving

ROOT = Path(__file__).resolve().parents[2]
# a folder whose torch.py fails as a missing torch does: first on the server's PYTHONPATH, no torch for it
NO_TORCH = 'raise ModuleNotFoundError("No module named \'torch\' (tests/gplinker/test_serve_onnx.py)", name="torch")\n'


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-onnx")
    run = fresh_run("relations", root / "run", seed=1, shift=-0.5)
    r = CliRunner().invoke(app, ["export", "--format", "onnx", str(run), str(root / "onnx")])
    assert r.exit_code == 0, r.output
    return run, root / "onnx"


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("no-torch")
    (folder / "torch.py").write_text(NO_TORCH, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def server(onnx_folder, no_torch):
    _, folder = onnx_folder
    with serving(["--onnx", str(folder)], path=(no_torch,)) as (proc, port):
        yield proc, port


def test_the_service_runs_where_torch_cannot_be_imported(server, onnx_folder, no_torch):
    _, port = server  # up and answering: nothing the server's process ran imported torch (it cannot)
    good(port)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(no_torch), str(ROOT)])}
    r = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "No module named 'torch'" in r.stderr, r.stderr  # the folder does hide torch
    # there, a user's mistake is still one line and exit 2: the command line's error guard needs no torch
    _, folder = onnx_folder
    r = subprocess.run([sys.executable, "-m", "kexue.cli", "gplinker", "serve", "--onnx", str(folder), "--last"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: --last and --device"), r.stderr


def test_routes_answer_from_the_onnx_folder(server, onnx_folder):
    _, port = server
    good(port)
    info = json.loads(get(port, "/info")[2])
    assert info["task"] == "relations" and info["labels"] == ["出生地", "创始人", "总部地点", "妻子"]
    assert "model.onnx" in info["weights"] and info["device"] == "onnxruntime cpu"
    assert info["onnx_threads"] == 2 and info["limits"]["max_chars"] == 40  # --set threads=2 reached the session


def test_the_onnx_service_gives_the_extractors_json(server, onnx_folder):
    from kexue.gplinker.extractor import Extractor
    run, _ = onnx_folder
    _, port = server
    texts = ["马云创办了阿里巴巴。", "周恩来出生于淮安，他的妻子邓颖超出生于南宁。", "一句话"]
    code, _, body = exchange(port, post("/extract", json.dumps({"texts": texts}).encode()))
    assert code == 200
    served, want = json.loads(body)["results"], Extractor.from_pretrained(run, device="cpu")(texts)
    assert any(r["spo_list"] for r in want)
    same_json(want, served)


@pytest.mark.parametrize("name", ["not JSON", "too many texts", "text too long", "too many characters in all",
                                  "Content-Length over the limit",
                                  "no such route", "lone surrogate in text"])
def test_the_limits_hold_for_the_onnx_service(server, name):
    _, port = server
    parts, want, word = BAD[name]
    code, headers, body = exchange(port, *parts, pause=0.05)
    assert code == want and word in json.loads(body)["error"], body
    good(port)


def test_serve_takes_one_of_model_and_onnx(onnx_folder):
    run, folder = onnx_folder
    for args in ([], ["--model", str(run), "--onnx", str(folder)]):
        r = CliRunner().invoke(app, ["serve", *args])
        assert r.exit_code == 2 and "one of --model RUN" in r.output
    r = CliRunner().invoke(app, ["serve", "--onnx", str(folder), "--last"])
    assert r.exit_code == 2 and "--last and --device" in r.output
    r = CliRunner().invoke(app, ["serve", "--onnx", str(run)])
    assert r.exit_code == 2 and "gplinker-onnx.json" in r.output
