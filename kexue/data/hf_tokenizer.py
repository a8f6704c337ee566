"""A checkpoint's own fast tokenizer, read from the `tokenizer.json` that today's transformers saves.

GPLinker (kexue.fm/archives/8926, 8888) puts its heads on a pretrained encoder, and the encoder must
read text exactly as it was pretrained: same normaliser, pre-tokeniser and model (WordPiece, BPE or
Unigram). A folder written by `save_pretrained` of transformers ≥ 4 holds `tokenizer.json` (the whole
pipeline of the `tokenizers` library) and `tokenizer_config.json` (the special tokens, `do_lower_case`,
`tokenizer_class`); older BERT folders hold only `vocab.txt`, which `WordPieceTokenizer` reads.

`HFTokenizer` runs that pipeline with no extra normalisation of ours (no NFKC: a pretrained model's ids
must equal its own tokenizer's), takes the special tokens from `tokenizer_config.json` (or
`special_tokens_map.json`), and honours `do_lower_case` where the pipeline has BERT's normaliser, as
transformers' `BertTokenizerFast` does. It frames a text as `[CLS] tokens [SEP]` (RoBERTa's `<s> … </s>`)
itself, so offsets stay character spans of the text as given and `(0, 0)` for the specials, as with
kexue's other tokenizers (`kexue/data/tokenizers.py`).

`save(folder)` writes `tokenizer.json` and a `tokenizer_config.json` holding the special tokens, so a
run folder carries its tokenizer and is itself loadable by transformers' `AutoTokenizer`.
"""
from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, normalizers

from kexue.data.tokenizers import Offset, _Face, _write_vocab

TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
# our name of each special token → the key of tokenizer_config.json that names it
SPECIAL_KEYS = {"[PAD]": "pad_token", "[UNK]": "unk_token", "[CLS]": "cls_token", "[SEP]": "sep_token",
                "[MASK]": "mask_token"}
FALLBACK = {"cls_token": "bos_token", "sep_token": "eos_token"}  # BPE models (RoBERTa) name <s> and </s> so


class HFTokenizer(_Face):
    """The `tokenizers` pipeline of a checkpoint folder's `tokenizer.json`, with its special tokens."""

    def __init__(self, tokenizer: Tokenizer, specials: dict[str, str], config: dict | None = None,
                 where: str = TOKENIZER_FILE):
        self._tokenizer = tokenizer
        self.config = dict(config or {})
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        self.vocab = [""] * (max(vocab.values()) + 1)
        for token, i in vocab.items():
            self.vocab[i] = token
        self._ids = vocab
        missing = [name for name, token in specials.items() if token not in vocab]
        if missing:
            raise ValueError(f"{where}: the special token(s) {', '.join(f'{n}={specials[n]!r}' for n in missing)} "
                             "are not in the vocabulary")
        self.specials = specials  # our name → the checkpoint's token, e.g. "[CLS]" → "<s>"
        self.special_ids = {name: vocab[token] for name, token in specials.items()}
        if "[MASK]" not in self.special_ids:  # a tokenizer without a mask token: [MASK] reads as [UNK]
            self.special_ids["[MASK]"] = self.special_ids["[UNK]"]

    @classmethod
    def from_folder(cls, folder: str | Path) -> "HFTokenizer":
        """Read `folder/tokenizer.json` with the special tokens and `do_lower_case` of
        `folder/tokenizer_config.json` (or `special_tokens_map.json`)."""
        folder = Path(folder)
        file = folder / TOKENIZER_FILE
        try:
            tokenizer = Tokenizer.from_file(str(file))
        except Exception as e:  # the library raises a bare Exception with serde's message
            raise ValueError(f"{file}: not a tokenizers JSON file ({str(e).splitlines()[0]})") from None
        config = read_json_object(folder / CONFIG_FILE)
        names = {**read_json_object(folder / "special_tokens_map.json"), **config}
        specials = {}
        for ours, key in SPECIAL_KEYS.items():
            token = _token(names.get(key)) or _token(names.get(FALLBACK.get(key, "")))
            if token is None and ours != "[MASK]":
                raise ValueError(f"{folder / CONFIG_FILE}: no {key} is named; GPLinker frames a text with the "
                                 "checkpoint's own cls/sep, pad and unk tokens")
            if token is not None:
                specials[ours] = token
        _honour_lowercase(tokenizer, config)
        return cls(tokenizer, specials, config, where=str(file))

    @classmethod
    def load(cls, path: str | Path) -> "HFTokenizer":
        """`path` is the folder, or any file in it (a run's `vocab.txt` path, say)."""
        path = Path(path)
        return cls.from_folder(path if path.is_dir() else path.parent)

    def save(self, path: str | Path) -> Path:
        """Write tokenizer.json, tokenizer_config.json and vocab.txt into the folder `path` (or the folder
        of the file `path`); return the tokenizer.json path."""
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        self._tokenizer.save(str(folder / TOKENIZER_FILE))
        config = {k: v for k, v in self.config.items() if isinstance(v, (str, int, float, bool))}
        config.update({SPECIAL_KEYS[ours]: token for ours, token in self.specials.items()})
        config.setdefault("tokenizer_class", "PreTrainedTokenizerFast")
        (folder / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
        _write_vocab([t or f"[unused{i}]" for i, t in enumerate(self.vocab)], folder / "vocab.txt")
        return folder / TOKENIZER_FILE

    def _tokenize(self, text: str) -> tuple[list[int], list[Offset]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return list(encoding.ids), [tuple(o) for o in encoding.offsets]

    def decode(self, ids, skip_special: bool = True) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special)


def has_tokenizer_json(folder: str | Path) -> bool:
    return (Path(folder) / TOKENIZER_FILE).is_file()


def _honour_lowercase(tokenizer: Tokenizer, config: dict) -> None:
    """`do_lower_case` of tokenizer_config.json wins over tokenizer.json's BERT normaliser, as in
    transformers' BertTokenizerFast."""
    if "do_lower_case" not in config:
        return
    state = json.loads(tokenizer.to_str()).get("normalizer") or {}
    if state.get("type") == "BertNormalizer" and state.get("lowercase") != bool(config["do_lower_case"]):
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=state.get("clean_text", True), handle_chinese_chars=state.get("handle_chinese_chars", True),
            strip_accents=state.get("strip_accents"), lowercase=bool(config["do_lower_case"]))


def _token(value) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken dict."""
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def folder_tokenizer(folder: str | Path, kind: str | None = None, *, lowercase: bool | None = None,
                     nfkc: bool = False) -> tuple[_Face, str, bool]:
    """The tokenizer of a checkpoint or run folder, with its kind and whether it lowercases: what
    GPLinker's encoders and RoFormerV2's folders both read a folder's tokenizer with.

    kind "char": `CharTokenizer` over vocab.txt; "hf", or None with a tokenizer.json present:
    `HFTokenizer`; "wordpiece", or None without one: BERT's WordPiece over vocab.txt, lowercase as
    given, else as tokenizer_config.json's do_lower_case (BERT's default: True). NFKC only when asked
    (a vocabulary kexue trained with it): never for a pretrained checkpoint, whose ids must be its own."""
    from kexue.data.tokenizers import CharTokenizer, WordPieceTokenizer

    folder = Path(folder)
    if kind == "hf" or (kind is None and has_tokenizer_json(folder)):
        tok = HFTokenizer.from_folder(folder)
        return tok, "hf", bool(tok.config.get("do_lower_case", True))
    vocab = folder / "vocab.txt"
    if not vocab.is_file():
        raise FileNotFoundError(f"{folder}: no tokenizer.json and no vocab.txt; save the checkpoint's tokenizer "
                                "beside it (tokenizer.save_pretrained(folder) writes tokenizer.json)")
    if kind == "char":
        return CharTokenizer.load(vocab), "char", False
    if lowercase is None:
        lowercase = bool(read_json_object(folder / CONFIG_FILE).get("do_lower_case", True))
    return WordPieceTokenizer(vocab, lowercase=lowercase, nfkc=nfkc), "wordpiece", lowercase


def read_json_object(file: Path, missing_ok: bool = True) -> dict:
    """The JSON object in `file` ({} for a missing file when missing_ok); a file that is not one is a
    ValueError naming it and the line."""
    if not file.is_file():
        if not missing_ok:
            raise FileNotFoundError(f"{file}: no such file")
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{file}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a JSON object")
    return data


def export_tokenizer(tok: _Face, folder: str | Path) -> Path:
    """Write a kexue tokenizer as tokenizer.json + tokenizer_config.json, so that transformers'
    `AutoTokenizer.from_pretrained(folder)(text)["input_ids"]` equals `tok.encode(text)`.

    WordPiece: its own `tokenizers` pipeline. One token per character: NFKC (when the tokenizer
    normalises) on the text, every character a word of its own, each whitespace character the token
    [SPACE]; a character whose NFKC form is several characters ("㎏") is the one exception, split here
    where kexue keeps it whole. Both get the post-processor [CLS] $A [SEP]."""
    from tokenizers import Regex, models, pre_tokenizers, processors

    from kexue.data.tokenizers import SPACE_TOKEN, CharTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(tok, CharTokenizer):
        # [SPACE] is spelled " " here, and every whitespace character is replaced by " " first
        vocab = {(" " if t == SPACE_TOKEN else t): i for i, t in enumerate(tok.vocab)}
        pipeline = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        spaces = normalizers.Replace(Regex(r"\s"), " ")
        pipeline.normalizer = normalizers.Sequence([normalizers.NFKC(), spaces]) if tok.normalize else spaces
        pipeline.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        config = {"do_lower_case": False}
    else:
        pipeline = Tokenizer.from_str(tok._tokenizer.to_str())
        config = {"do_lower_case": bool(getattr(tok, "lowercase", True))}
    cls, sep = tok.vocab[tok.cls_id], tok.vocab[tok.sep_id]
    pipeline.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tok.cls_id), (sep, tok.sep_id)])
    pipeline.save(str(folder / TOKENIZER_FILE))
    config.update({SPECIAL_KEYS[name]: tok.vocab[i] for name, i in tok.special_ids.items() if name in SPECIAL_KEYS})
    config.update({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512})
    (folder / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return folder / TOKENIZER_FILE
