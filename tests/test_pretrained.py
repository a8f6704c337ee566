"""save_pretrained / from_pretrained: one loader shape for RoFormerV2, the DDPM U-Nets and the deep LRU."""
import pytest
import torch
from typer.testing import CliRunner

from kexue.cli import app
from kexue.diffusion import UNetHo, UNetHoConfig, UNetSu, UNetSuConfig
from kexue.lru.model import DeepModel, ModelConfig
from kexue.pretrained import from_pretrained, save_pretrained
from kexue.roformer import RoFormerV2, RoFormerV2Config
from kexue.roformer.checkpoint import load_pretrained

runner = CliRunner()


def models():
    torch.manual_seed(0)
    yield RoFormerV2(RoFormerV2Config(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2,
                                      intermediate_size=32)), lambda m: m(torch.randint(1, 50, (2, 7)))
    su = UNetSuConfig.preset("digits8", embedding_size=8, channels=(1,), blocks=1, groups=8, num_classes=3)
    yield UNetSu(su), lambda m: m(torch.randn(2, 1, 8, 8), torch.tensor([3, 40]), torch.tensor([0, 2]))
    ho = UNetHoConfig.preset("digits8", ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=())
    yield UNetHo(ho), lambda m: m(torch.randn(2, 1, 8, 8), torch.tensor([3, 40]))
    lru = ModelConfig(d_model=8, d_state=8, depth=1)
    yield DeepModel(lru, 5, vocab_size=11, pooling="none"), lambda m: m(torch.randint(0, 11, (2, 9)))
    yield DeepModel(lru, 3, d_input=2), lambda m: m(torch.randn(2, 9, 2))


@pytest.mark.parametrize("index", range(5))
def test_save_then_load_gives_the_same_model(tmp_path, index):
    model, run = list(models())[index]
    model.eval()
    save_pretrained(model, tmp_path / "m")
    again = from_pretrained(tmp_path / "m")
    assert type(again) is type(model) and not again.training
    torch.manual_seed(1)
    want = run(model)
    torch.manual_seed(1)
    assert torch.equal(run(again), want)
    # a negative control: other weights give other outputs
    other = type(model)(model.cfg, **({} if index < 3 else {"d_output": model.decoder.out_features,
                                                            "vocab_size": model.vocab_size,
                                                            "d_input": getattr(model.encoder, "in_features", 0),
                                                            "pooling": model.pooling})).eval()
    torch.manual_seed(1)
    assert not torch.equal(run(other), want)


def test_a_roformer_folder_is_also_a_kexue_roformer_folder(tmp_path):
    model, run = next(models())
    save_pretrained(model.eval(), tmp_path / "m")
    torch.manual_seed(1)
    want = run(model)
    loaded = load_pretrained(tmp_path / "m")
    torch.manual_seed(1)
    assert torch.equal(run(loaded), want)


def test_from_a_training_run_folder_with_the_ema_weights_by_default(tmp_path):
    out = tmp_path / "d"
    r = runner.invoke(app, ["diffusion", "train", "--preset", "smoke", "--no-progress", "--out", str(out),
                            "--set", "train.steps=2", "--set", "sample_every=0"])
    assert r.exit_code == 0, r.output
    from kexue.diffusion.train import load_run

    for ema in (True, False):
        ref, _, _ = load_run(out, ema=ema)
        got = from_pretrained(out, ema=ema)
        assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), got.state_dict().values()))
    ema_model, _, _ = load_run(out, ema=True)
    assert all(torch.equal(a, b) for a, b in zip(ema_model.state_dict().values(),
                                                   from_pretrained(out).state_dict().values()))
    r = runner.invoke(app, ["lru", "train", "--preset", "smoke", "--no-progress", "--out", str(tmp_path / "l"),
                            "--set", "train.steps=1"])
    assert r.exit_code == 0, r.output
    assert isinstance(from_pretrained(tmp_path / "l"), DeepModel)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        from_pretrained(tmp_path)


def test_save_pretrained_with_its_tokenizer_is_an_encoder_folder(tmp_path):
    """With the tokenizer beside the weights, the folder works as `gplinker --encoder` and transformers'
    AutoTokenizer reads the same ids."""
    import torch
    import transformers

    from kexue.data import CharTokenizer
    from kexue.gplinker.encoders import load_encoder
    from kexue.roformer import RoFormerV2, RoFormerV2Config

    texts = ["北京，上海队3月5日击败ABC。", "天气很好"]
    tok = CharTokenizer.build(texts)
    torch.manual_seed(0)
    model = RoFormerV2(RoFormerV2Config(vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=4,
                                        intermediate_size=48)).eval()
    save_pretrained(model, tmp_path / "m", tokenizer=tok)
    cfg, encoder, read = load_encoder(tmp_path / "m")
    assert cfg.kind == "roformer" and read.encode(texts[0]) == tok.encode(texts[0])
    ids = torch.tensor([tok.encode(texts[0])])
    with torch.no_grad():
        assert torch.equal(encoder.eval()(ids, ids != 0), model(ids))
    assert transformers.AutoTokenizer.from_pretrained(tmp_path / "m")(texts[0])["input_ids"] == tok.encode(texts[0])
