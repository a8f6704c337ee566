"""Whether a forward pass is being recorded as a graph rather than run.

torch.export, torch.onnx.export, torch.jit.trace and torch.compile record the operations of one call. A
Python branch on a tensor's *values* (`bool(mask.all())`, `int(ids.max())`) is then either an error
(torch.export: a data-dependent guard) or, worse, frozen at the example's values (torch.jit.trace keeps
the branch the example took: an unpadded example drops the padding mask from every later call). The
modules that take such a branch in eager mode, for speed or to check their input (kexue/roformer/model.py,
kexue/diffusion/unet_su.py), skip it while `tracing()`: the graph keeps the general path.
"""
from __future__ import annotations

import sys

import torch


def tracing() -> bool:
    """True inside torch.export / torch.onnx.export / torch.jit.trace / torch.compile."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.compiler.is_exporting():
        return True
    # torch.onnx is imported on first use (a second's work): outside an export it need not be
    onnx = sys.modules.get("torch.onnx")
    return bool(onnx is not None and onnx.is_in_onnx_export())
