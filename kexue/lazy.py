"""Packages whose public names are imported on first use, so that `kexue --help` imports no torch.

A topic package re-exports its models and functions (`from kexue.roformer import RoFormerV2`), but the
command line imports the package only to reach its `cli` module. `exports(__name__, {name: submodule})`
gives the package a PEP 562 `__getattr__` that imports `submodule` the first time `name` is asked for
(and keeps it), and a `__dir__` that lists the names; `from package import name` works as before.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(`__getattr__`, `__dir__`) for `package`, whose public `name` lives in `package.names[name]`."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # the next lookup finds it without this hook
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
