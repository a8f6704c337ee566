"""NER data a user has (issue 21 §3): BIO token classification and HF `datasets` folders, parquet and
Arrow files, read by `read_ner` and trained on by `kexue gplinker ner train`."""
import json
import re

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from kexue.data.bio import bio_spans, read_tag_names
from kexue.gplinker.cli import app
from kexue.gplinker.data import NERSample, read_ner
from tests.gplinker.conftest import TINY_RUN

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
ROWS = [{"tokens": list("马云在杭州"), "ner_tags": [1, 2, 0, 3, 4]},
        {"tokens": list("李白到长安了"), "ner_tags": [1, 2, 0, 3, 4, 0]}]
SAMPLES = [NERSample("马云在杭州", [(0, 2, "PER"), (3, 5, "LOC")]), NERSample("李白到长安了", [(0, 2, "PER"), (3, 5, "LOC")])]


def _dataset(rows=ROWS) -> datasets.Dataset:
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NAMES))})
    return datasets.Dataset.from_list(rows, features=features)


def test_bio_tags_become_character_spans():
    assert bio_spans(list("马云在杭州"), ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], "x") == \
        ("马云在杭州", [(0, 2, "PER"), (3, 5, "LOC")])
    # English words are joined by spaces; I- after O opens an entity; a type change closes one
    text, spans = bio_spans(["EU", "rejects", "German", "call"], ["B-ORG", "O", "I-MISC", "B-MISC"], "x")
    assert text == "EU rejects German call"
    assert [text[s:e] for s, e, _ in spans] == ["EU", "German", "call"]
    assert bio_spans(["a", "b"], ["B-X", "I-Y"], "x")[1] == [(0, 1, "X"), (2, 3, "Y")]
    assert bio_spans(list("北京"), [3, 4], "x", NAMES)[1] == [(0, 2, "LOC")]


@pytest.mark.parametrize("tokens, tags, names, message", [
    (list("马云"), ["B-PER"], None, "field 'ner_tags' has 1 tags for 2 tokens"),
    (list("马云"), ["B-PER", "X-PER"], None, "ner_tags[1] = 'X-PER' is not a BIO tag"),
    (list("马云"), ["B-PER", "B"], None, "ner_tags[1] = 'B' is not a BIO tag"),
    (list("马云"), [1, 2], None, "field 'ner_tags' holds tag ids and the data names no tags; give the names, one a line, with --schema"),
    (list("马云"), [1, 9], NAMES, "ner_tags[1] = 9 is not a tag id (there are 5 tags)"),
    (["马", 3], [1, 2], NAMES, "field 'tokens' must be a list of strings"),
])
def test_a_malformed_row_is_one_line_naming_the_row_and_field(tokens, tags, names, message):
    with pytest.raises(ValueError, match=re.escape(f"data.parquet: row 7: {message}")):
        bio_spans(tokens, tags, "data.parquet: row 7", names)


def test_every_format_reads_the_same_samples(tmp_path):
    ds = _dataset()
    ds.save_to_disk(str(tmp_path / "folder"))
    ds.to_parquet(str(tmp_path / "hf.parquet"))  # the features ride along in the schema's metadata
    with pa.OSFile(str(tmp_path / "file.arrow"), "wb") as sink, pa.ipc.new_file(sink, ds.data.table.schema) as w:
        w.write_table(ds.data.table)
    with pa.OSFile(str(tmp_path / "stream.arrow"), "wb") as sink, pa.ipc.new_stream(sink, ds.data.table.schema) as w:
        w.write_table(ds.data.table)  # the IPC stream format, as datasets' cache files are
    names_as_text = pa.table({"tokens": [r["tokens"] for r in ROWS],
                              "ner_tags": [[NAMES[t] for t in r["ner_tags"]] for r in ROWS]})
    pq.write_table(names_as_text, tmp_path / "plain.parquet")
    (tmp_path / "bio.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    (tmp_path / "tags.txt").write_text("\n".join(NAMES), encoding="utf-8")
    (tmp_path / "spans.jsonl").write_text("\n".join(json.dumps({"text": s.text, "entities": s.entities},
                                                              ensure_ascii=False) for s in SAMPLES), encoding="utf-8")
    for name in ("folder", "hf.parquet", "file.arrow", "stream.arrow", "plain.parquet", "spans.jsonl"):
        assert read_ner(tmp_path / name) == SAMPLES, name
    assert read_ner(tmp_path / "bio.jsonl", tag_names=read_tag_names(tmp_path / "tags.txt")) == SAMPLES
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'bio.jsonl'}:1: field 'ner_tags' holds tag ids")):
        read_ner(tmp_path / "bio.jsonl")


def test_a_bad_row_or_folder_names_the_file(tmp_path):
    _dataset([ROWS[0], {"tokens": list("马云"), "ner_tags": [1]}]).to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'bad.parquet'}: row 1: field 'ner_tags' has 1 tags")):
        read_ner(tmp_path / "bad.parquet")
    datasets.DatasetDict({"train": _dataset(), "validation": _dataset()}).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(ValueError, match="a DatasetDict with the splits train, validation; give one split's folder"):
        read_ner(tmp_path / "dict")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'junk.parquet'}: not a readable parquet file")):
        read_ner(tmp_path / "junk.parquet")


def test_ner_trains_on_a_datasets_folder_with_a_parquet_dev_file(tmp_path):
    _dataset(ROWS * 4).save_to_disk(str(tmp_path / "train"))
    _dataset().to_parquet(str(tmp_path / "dev.parquet"))
    r = CliRunner().invoke(app, ["ner", "train", "--train", str(tmp_path / "train"), "--dev",
                                 str(tmp_path / "dev.parquet"), "--out", str(tmp_path / "run"), *TINY_RUN])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "run" / "gplinker.json").read_text(encoding="utf-8"))
    assert sorted(meta["labels"]) == ["LOC", "PER"]
