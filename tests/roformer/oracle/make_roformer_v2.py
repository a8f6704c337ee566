"""Runs in .venv-oracle (roformer==0.4.3, transformers<4.52): a random-init RoFormerV2 and its outputs.

usage: python make_roformer_v2.py OUT_DIR
Writes OUT_DIR/model_bin (save_pretrained), OUT_DIR/model_safetensors (the same weights as the Hub's
safetensors conversion stores them) and OUT_DIR/expected.safetensors (ids, attention_mask,
token_type_ids, last_hidden_state, logits of RoFormerForMaskedLM in eval mode, fp32).
"""
import shutil
import sys
from pathlib import Path

import torch
from roformer import RoFormerConfig, RoFormerForMaskedLM
from safetensors.torch import save_file

out = Path(sys.argv[1])
torch.manual_seed(0)
config = RoFormerConfig(vocab_size=120, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=96, hidden_act="relu", max_position_embeddings=64,
                        norm_type="rms_norm", use_bias=False)
model = RoFormerForMaskedLM(config).eval()
# transformers refuses safetensors for this model (its tied head is undeclared), so model_safetensors is
# what the Hub's safetensors conversion writes: the shared head tensor stored once, under the embedding
model.save_pretrained(out / "model_bin", safe_serialization=False)
(out / "model_safetensors").mkdir(parents=True, exist_ok=True)
shutil.copyfile(out / "model_bin" / "config.json", out / "model_safetensors" / "config.json")
state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "cls.predictions.decoder.weight"}
save_file(state, str(out / "model_safetensors" / "model.safetensors"), metadata={"format": "pt"})
for fmt in ("safetensors", "bin"):
    (out / f"model_{fmt}" / "vocab.txt").write_text("".join(f"[unused{i}]\n" for i in range(120)), encoding="utf-8")
ids = torch.randint(1, 120, (3, 17))
ids[1, 12:] = 0
mask = (ids != 0).long()
token_type = torch.zeros_like(ids)
token_type[2, 9:] = 1
with torch.no_grad():
    o = model(input_ids=ids, attention_mask=mask, token_type_ids=token_type, output_hidden_states=True)
save_file({"ids": ids, "attention_mask": mask, "token_type_ids": token_type,
           "last_hidden_state": o.hidden_states[-1].contiguous(), "logits": o.logits.contiguous()},
          str(out / "expected.safetensors"))
