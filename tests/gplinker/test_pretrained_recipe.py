"""`kexue gplinker ner train --recipe msra-pretrained --encoder RUN` (issue 22 §1): the named recipe is printed,
the encoder learns at a quarter of the heads' rate, dev and best weights as the from-scratch recipes; the
default with --encoder stays the post's fine-tuning."""
import json

import pytest
import torch
from typer.testing import CliRunner

from kexue.gplinker.cli import app
from kexue.gplinker.train import encoder_head_groups
from kexue.train import TrainConfig, Trainer

from ._tiny import tiny_linker
from .test_run_carries_encoder import ROWS, _pretrained

torch.set_num_threads(1)
runner = CliRunner()
TINY = ["--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "head.head_size=8", "--set", "max_len=16"]


def test_the_encoder_and_the_heads_learn_at_their_own_rates(tmp_path):
    g, rows = tiny_linker("ner")
    groups = encoder_head_groups(0.25)(g.model)
    encoder = {id(p) for p in g.model.encoder.parameters()}
    assert [len(x["params"]) for x in groups] == [len(encoder), len(list(g.model.parameters())) - len(encoder)]
    assert {id(p) for p in groups[0]["params"]} == encoder and groups[0]["lr_scale"] == 0.25
    # the Trainer's optimizer: lr · lr_scale per group
    t = Trainer(g.model, TrainConfig(steps=1, lr=2e-3), rows, lambda m, b: 0, tmp_path, progress=False,
                param_groups=encoder_head_groups(0.25))
    assert sorted(x["lr"] for x in t.optimizer.param_groups) == [5e-4, 2e-3]
    assert encoder_head_groups(1.0) is None  # one rate: the Trainer's one group, as the posts


def _data(tmp_path):
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps({"text": t, "entities": e}, ensure_ascii=False) + "\n" for t, e in ROWS),
                    encoding="utf-8")
    return data


@pytest.mark.parametrize("recipe", ["msra-pretrained", "msra-lexicon", "msra-bigrams"])
def test_the_named_recipe_on_a_kexue_encoder(tmp_path, recipe):
    encoder, data = _pretrained(tmp_path), _data(tmp_path)
    run = tmp_path / "run"
    r = runner.invoke(app, ["ner", "train", "--train", str(data), "--dev", str(data), "--recipe", recipe,
                            "--encoder", str(encoder), "--out", str(run), *TINY])
    assert r.exit_code == 0, r.output
    assert f"recipe ner/{recipe}: the pretrained encoder of --encoder" in r.output
    assert "0.002 on the heads and 0.0005 on the encoder" in r.output
    cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))["run"]["gplinker"]
    assert cfg["recipe"] == recipe and cfg["encoder_lr_scale"] == 0.25 and cfg["encoder"]["kind"] == "roformer"
    assert (run / "best.safetensors").is_file() and "entity/PER" in r.output
    # msra-lexicon: msra-pretrained with lexicon features, its lexicon kept in the run folder; msra-bigrams:
    # msra-lexicon with bigram embeddings, its bigram table kept there
    lexicon = "jieba+peoples-daily" if recipe != "msra-pretrained" else ""
    bigrams = 32 if recipe == "msra-bigrams" else 0
    assert cfg["encoder"]["lexicon"] == lexicon and (run / "lexicon.txt").is_file() == bool(lexicon)
    assert cfg["encoder"]["bigrams"] == bigrams and (run / "bigrams.txt").is_file() == bool(bigrams)
    assert ("with lexicon features (jieba+peoples-daily)" in r.output) == bool(lexicon)
    assert ("and bigram embeddings (32-dim)" in r.output) == bool(bigrams)
    r = runner.invoke(app, ["ner", "evaluate", "--model", str(run)])  # the run folder alone rebuilds it
    assert r.exit_code == 0 and "entity/PER" in r.output, r.output
    r = runner.invoke(app, ["ner", "evaluate", "--model", str(run), "--split", "test"])
    assert r.exit_code == 2 and "no built-in test set; give --data" in r.output, r.output
    if lexicon:
        return
    # without --recipe, --encoder keeps the post's fine-tuning (one rate, Adam 2e-5)
    r = runner.invoke(app, ["ner", "train", "--train", str(data), "--encoder", str(encoder), "--out",
                            str(tmp_path / "post"), *TINY])
    assert r.exit_code == 0 and "the post's fine-tuning" in r.output, r.output


def test_a_recipe_and_an_encoder_that_do_not_go_together_are_one_line(tmp_path):
    data = _data(tmp_path)
    r = runner.invoke(app, ["ner", "train", "--train", str(data), "--recipe", "msra-pretrained",
                            "--out", str(tmp_path / "a"), *TINY])
    assert r.exit_code == 2 and "give --encoder RUN" in r.output and len(r.output.strip().splitlines()) == 1
    r = runner.invoke(app, ["ner", "train", "--train", str(data), "--recipe", "msra", "--encoder", str(tmp_path),
                            "--out", str(tmp_path / "b"), *TINY])
    assert r.exit_code == 2 and "from-scratch recipe" in r.output

