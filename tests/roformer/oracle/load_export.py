"""Runs in .venv-oracle: load an exported folder with JunnYu's roformer and write its outputs.

usage: python load_export.py EXPORT_DIR INPUTS.safetensors OUT.safetensors
Fails (exit 1) when from_pretrained reports a missing, unexpected or mis-shaped weight.
"""
import sys

import torch
from roformer import RoFormerForMaskedLM
from safetensors.torch import load_file, save_file

folder, inputs, out = sys.argv[1:]
model, info = RoFormerForMaskedLM.from_pretrained(folder, output_loading_info=True)
problems = {k: v for k, v in info.items() if v}
if problems:
    sys.exit(f"loading info not clean: {problems}")
model.eval()
x = load_file(inputs)
with torch.no_grad():
    o = model(input_ids=x["ids"], attention_mask=x["attention_mask"], token_type_ids=x["token_type_ids"],
              output_hidden_states=True)
save_file({"last_hidden_state": o.hidden_states[-1].contiguous(), "logits": o.logits.contiguous()}, out)
