"""`pip install kexue` is the layers, the training loop and the command line; the rest are extras.

Importing a layer or the Trainer must not pull in what only reproducing the posts needs (matplotlib,
scipy, scikit-learn, …), and a command that needs a missing extra says which, in one plain line.
"""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kexue.cli_common import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("matplotlib", "scipy", "sklearn", "transformers", "jieba", "pypinyin", "networkx", "threadpoolctl",
         "fastapi", "tensorboard", "onnx", "onnxruntime", "onnxscript", "torch.onnx")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("statement", ["from kexue.nn import RoPE, RMSNorm, GlobalPointer",
                                       "from kexue.train import Trainer, TrainConfig",
                                       "import kexue.cli"])
def test_the_lean_imports_pull_in_no_extra(statement):
    r = _run(f"import sys\n{statement}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"{statement} imported {r.stdout.strip()}"


def _without(module: str, argv: list[str]) -> str:
    """`kexue ARGV...` in a process where `module` is not installed: its exit status must be 2, and its
    last line on stderr is returned."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"  # as if not installed
            "from kexue.cli import main\n"
            f"sys.argv = ['kexue', *{argv!r}]\n"
            "main()")
    r = _run(code)
    assert r.returncode == 2, r.stderr
    return r.stderr.strip().splitlines()[-1]


def test_a_missing_extra_is_named_in_one_line(tmp_path):
    assert _without("matplotlib", ["reproduce", "attention", "--preset", "smoke", "--out", str(tmp_path)]) == \
        "error: this command needs the matplotlib package: pip install 'kexue[reproduce]'"


def test_a_missing_onnx_extra_is_named_in_one_line(tmp_path):
    assert _without("onnxruntime", ["gplinker", "export", "--format", "onnx", str(tmp_path), str(tmp_path / "o")]) == \
        "error: this command needs the onnxruntime package: pip install 'kexue[onnx]'"
    assert not (tmp_path / "o").exists()  # refused before any work


def test_every_extra_named_is_an_extra_that_brings_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    core = " ".join(project["dependencies"])
    for module, extra in EXTRAS.items():
        package = {"sklearn": "scikit-learn", "fastapi_offline": "fastapi-offline"}.get(module, module)
        assert any(spec.startswith(package) for spec in extras[extra]), f"{package} is not in the {extra} extra"
        assert package not in core, f"{package} is both a dependency and in an extra"


HELP_NEEDS_NOT = ("torch", "pydantic", "numpy", "multiprocessing", "concurrent.futures", "kexue.report.html",
                  "kexue.report.browser")


@pytest.mark.parametrize("group", ["", "attention", "roformer", "gplinker", "diffusion", "lru", "decoder-only",
                                   "mad", "report"])
def test_help_imports_no_torch(group):
    """`kexue --help` and `kexue GROUP --help` import no torch (3 s of a 4.5 s --help before), nor what else
    a command needs only when it runs: pydantic (typer's coercion of unset flags, 0.1 s), numpy, a process
    pool (kexue.parallel), the report's page and browser (benchmarks/cli_startup.py has the times)."""
    argv = ["kexue", *([group] if group else []), "--help"]
    code = ("import sys\nfrom kexue.cli import main\n"
            f"sys.argv = {argv!r}\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            f"print(sorted(m for m in {HELP_NEEDS_NOT!r} if m in sys.modules))")
    r = _run(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout.strip().splitlines()[-1]
    assert "Usage" in r.stdout


def test_the_lazy_names_are_the_packages_names():
    """`from kexue.roformer import RoFormerV2` and the rest still resolve, each to its submodule's object."""
    import importlib

    for name in ("roformer", "diffusion", "decoder_only", "mad", "report"):
        package = importlib.import_module(f"kexue.{name}")
        for attr in package.__all__:
            assert getattr(package, attr) is not None
        assert set(package.__all__) <= set(dir(package))
        with pytest.raises(AttributeError):
            getattr(package, "no_such_name")
