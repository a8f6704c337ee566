"""folder_tokenizer (kexue/data/hf_tokenizer.py): the one reader of a folder's tokenizer, for GPLinker's
encoders and RoFormerV2's folders. A pretrained checkpoint's ids are its own: no NFKC of ours."""
import json

from kexue.config import to_dict
from kexue.data.hf_tokenizer import folder_tokenizer
from kexue.roformer.checkpoint import load_tokenizer
from kexue.roformer.config import RoFormerV2Config

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "中", "国", "，", ",", "a", "A", "1", "１"]


def _folder(tmp_path, name, config=None, tokenizer_config=None):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    if config is not None:
        model = to_dict(RoFormerV2Config(vocab_size=len(VOCAB), hidden_size=8, num_layers=1, num_heads=1,
                                         intermediate_size=8))
        (folder / "config.json").write_text(json.dumps({"model": model, **config}), encoding="utf-8")
    if tokenizer_config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config), encoding="utf-8")
    return folder


def test_a_checkpoints_own_wordpiece_has_no_nfkc_and_its_own_lowercasing(tmp_path):
    folder = _folder(tmp_path, "hf", tokenizer_config={"do_lower_case": False})
    tok, kind, lowercase = folder_tokenizer(folder)
    assert (kind, lowercase) == ("wordpiece", False)
    # "，" and "１" stay themselves (NFKC would make them "," and "1"); "A" is not lowercased
    assert tok.encode("中，A １", add_special=False) == [5, 7, 10, 12]


def test_roformer_folders_read_their_tokenizer_through_the_same_function(tmp_path):
    imported = _folder(tmp_path, "imported", {"tokenizer": "wordpiece", "source": "/somewhere"})
    pretrained = _folder(tmp_path, "pretrained", {"tokenizer": "wordpiece"})
    # an imported checkpoint: its own ids (the #21 fix); a vocabulary kexue pretrained: NFKC + lowercase
    assert load_tokenizer(imported).encode("中，A １", add_special=False) == [5, 7, 9, 12]
    assert load_tokenizer(pretrained).encode("中，A １", add_special=False) == [5, 8, 9, 11]
    assert load_tokenizer(imported).encode("，", add_special=False) == folder_tokenizer(imported)[0].encode(
        "，", add_special=False)
    recorded = _folder(tmp_path, "recorded", {"tokenizer": "wordpiece", "lowercase": False, "nfkc": False})
    assert load_tokenizer(recorded).encode("A", add_special=False) == [10]
