"""Rows of the data files a Hugging Face user has: a `datasets` folder, parquet, Arrow.

GPLinker (kexue.fm/archives/8373, 8888, 8926) reads its own JSONL; a user of the HF ecosystem has a
dataset saved with `Dataset.save_to_disk(folder)`, a parquet file (`to_parquet`, the Hub's format) or
an Arrow file (`datasets`' cache; either IPC format, file or stream). `read_table(path)` gives their
rows as dicts, and the column's class names that `datasets` records in the features (a `ClassLabel`,
or a sequence of them, as `ner_tags` of a token-classification set), so tag ids can be read as names.

Parquet and Arrow are read with pyarrow alone; a `save_to_disk` folder needs the `datasets` package.
Both come with `pip install 'kexue[hf]'`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TABLE_SUFFIXES = (".parquet", ".arrow")


def is_table(path: str | Path) -> bool:
    """A `save_to_disk` folder, or a parquet or Arrow file (anything else is read as JSONL)."""
    path = Path(path)
    return path.is_dir() or path.suffix.lower() in TABLE_SUFFIXES


def read_table(path: str | Path) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """(rows, class names per column) of a `save_to_disk` folder, a parquet file or an Arrow file."""
    path = Path(path)
    if path.is_dir():
        return _read_dataset_folder(path)
    pa = _need("pyarrow", path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            table = _read_arrow(pa, path)
    except (OSError, pa.ArrowException) as e:
        raise ValueError(f"{path}: not a readable {path.suffix[1:]} file ({str(e).splitlines()[0]})") from None
    return table.to_pylist(), _names_in_metadata(table.schema.metadata or {})


def _read_arrow(pa: Any, path: Path) -> Any:
    try:
        with pa.ipc.open_file(path) as reader:
            return reader.read_all()
    except pa.ArrowInvalid:  # not the file format: the stream format, as `datasets` writes its cache
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_stream(source).read_all()


def _read_dataset_folder(path: Path) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    if not (path / "dataset_info.json").is_file() and not (path / "dataset_dict.json").is_file():
        raise ValueError(f"{path}: a folder, but not one that Dataset.save_to_disk wrote (no dataset_info.json)")
    datasets = _need("datasets", path)
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        raise ValueError(f"{path}: a DatasetDict with the splits {', '.join(ds)}; give one split's folder, "
                         f"e.g. {path / next(iter(ds))}")
    names = {}
    for column, feature in ds.features.items():
        # a ClassLabel, or a sequence of them (its .feature)
        found = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
        if found:
            names[column] = list(found)
    return ds.to_list(), names


def _names_in_metadata(metadata: dict[bytes, bytes]) -> dict[str, list[str]]:
    """The ClassLabel names that `datasets` writes into an Arrow schema's "huggingface" metadata."""
    raw = metadata.get(b"huggingface")
    if not raw:
        return {}
    features = (json.loads(raw).get("info") or {}).get("features") or {}
    names = {}
    for column, f in features.items():
        inner = f.get("feature") if isinstance(f, dict) else None
        found = (f.get("names") if isinstance(f, dict) else None) or (inner.get("names") if isinstance(inner, dict) else None)
        if found:
            names[column] = list(found)
    return names


def _need(package: str, path: Path) -> Any:
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise ValueError(f"{path}: reading it needs the {package} package: pip install 'kexue[hf]'") from None
