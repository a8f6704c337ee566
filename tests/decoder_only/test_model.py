"""The three architectures of kexue.fm/archives/9529 in one harness: masks (no leak), KV cache, counts."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kexue.decoder_only.model import (ModelConfig, Seq2SeqModel, match_width, output_loss,
                                      parameter_count, training_flops)
from kexue.decoder_only.tasks import EOS, IGNORE, PAD, SEP, collate
from kexue.nn.params import count_parameters

ROWS = [([10, 11, 12, 13, 14], [4, 5, 6]), ([15, 16], [7, 8, 9, 4])]  # (input, output) ids


def _model(arch: str, seed: int = 0, **kw) -> Seq2SeqModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(arch=arch, hidden=16, heads=2, layers=2, **kw)
    return Seq2SeqModel(cfg, vocab_size=20, n_output=10).double()


def _grad_of_inputs(model: Seq2SeqModel, batch: dict, b: int, t: int) -> list[torch.Tensor]:
    """d hidden[b, t] / d (embedded inputs), for every embedding call (encoder first for encdec)."""
    captured = []
    hook = model.embed.register_forward_hook(lambda mod, inp, out: captured.append(out))
    h = model.hidden_states(batch["ids"], batch.get("prefix_len"), batch.get("src"), batch.get("src_len"))
    hook.remove()
    return [g.abs().sum(-1) for g in torch.autograd.grad(h[b, t].sum(), captured, allow_unused=False)]


def test_collate_puts_the_loss_on_the_output_part_only():
    batch = collate("decoder")(ROWS)
    # input [SEP] output [EOS], shifted: ids = input [SEP] output, labels = output [EOS] from the [SEP] on
    assert batch["ids"][0].tolist() == [10, 11, 12, 13, 14, SEP, 4, 5, 6]
    assert batch["labels"][0].tolist() == [IGNORE] * 5 + [4, 5, 6, EOS]
    assert batch["ids"][1].tolist() == [15, 16, SEP, 7, 8, 9, 4, PAD, PAD]
    assert batch["labels"][1].tolist() == [IGNORE, IGNORE, 7, 8, 9, 4, EOS, IGNORE, IGNORE]
    assert batch["prefix_len"].tolist() == [6, 3]
    enc = collate("encdec")(ROWS)
    assert enc["src"][1].tolist() == [15, 16, PAD, PAD, PAD] and enc["src_len"].tolist() == [5, 2]
    assert enc["ids"][0].tolist() == [SEP, 4, 5, 6, PAD] and enc["labels"][0].tolist() == [4, 5, 6, EOS, IGNORE]


@pytest.mark.parametrize("arch", ["decoder", "prefix"])
def test_single_stack_masks_do_not_leak(arch):
    model = _model(arch)
    batch = collate(arch)(ROWS)
    n = batch["ids"].shape[1]
    for b in range(2):
        p = int(batch["prefix_len"][b])
        for t in range(n):
            (g,) = _grad_of_inputs(model, batch, b, t)
            visible = set(range(t + 1)) | (set(range(p)) if arch == "prefix" else set())
            for j in range(n):
                if j in visible:
                    assert g[b, j] > 0, (arch, b, t, j)
                else:  # the future (and, for the prefix-LM, nothing past the prefix from inside it)
                    assert g[b, j] == 0, (arch, b, t, j)
            assert (g[1 - b] == 0).all()  # nothing crosses examples


def test_prefix_rows_see_the_whole_prefix_and_decoder_rows_do_not():
    batch = collate("prefix")(ROWS)
    (g_prefix,) = _grad_of_inputs(_model("prefix"), batch, 0, 0)
    (g_decoder,) = _grad_of_inputs(_model("decoder"), batch, 0, 0)
    assert (g_prefix[0, :6] > 0).all() and (g_prefix[0, 6:] == 0).all()
    assert g_decoder[0, 0] > 0 and (g_decoder[0, 1:] == 0).all()


def test_encoder_decoder_does_not_leak():
    model = _model("encdec")
    batch = collate("encdec")(ROWS)
    n = batch["ids"].shape[1]
    for b in range(2):
        m = int(batch["src_len"][b])
        for t in range(n):
            g_src, g_dec = _grad_of_inputs(model, batch, b, t)
            assert (g_src[b, :m] > 0).all() and (g_src[b, m:] == 0).all()  # all the input, no padding
            assert (g_dec[b, :t + 1] > 0).all() and (g_dec[b, t + 1:] == 0).all()  # causal decoder
            assert (g_src[1 - b] == 0).all() and (g_dec[1 - b] == 0).all()


@pytest.mark.parametrize("arch", ["decoder", "prefix", "encdec"])
def test_kv_cache_generation_equals_the_uncached_forward(arch):
    model = _model(arch, seed=3).eval()
    src = torch.randint(10, 20, (3, 6))
    with_cache = model.generate(src, 12, SEP, EOS, cache=True)
    without = model.generate(src, 12, SEP, EOS, cache=False)
    assert torch.equal(with_cache, without)


def _greedy_by_full_forward(model: Seq2SeqModel, src: torch.Tensor, max_new: int) -> torch.Tensor:
    """Greedy decoding by its definition: the whole sequence through the public forward for every token,
    argmax of the last position's logits; after [EOS], [EOS]."""
    b, m = src.shape
    sep = torch.full((b, 1), SEP)
    encdec = model.cfg.arch == "encdec"
    seq, out = (sep if encdec else torch.cat((src, sep), 1)), []
    with torch.no_grad():
        for _ in range(max_new):
            h = (model.hidden_states(seq, src=src, src_len=torch.full((b,), m)) if encdec
                 else model.hidden_states(seq, torch.full((b,), m + 1)))
            out.append(model.logits(h[:, -1]).argmax(-1))
            seq = torch.cat((seq, out[-1][:, None]), 1)
    out = torch.stack(out, 1)
    after_eos = (out == EOS).long().cumsum(1) - (out == EOS).long() > 0
    return out.masked_fill(after_eos, EOS)


@pytest.mark.parametrize("arch", ["decoder", "prefix", "encdec"])
def test_generation_with_and_without_the_cache_is_greedy_decoding_of_the_full_forward(arch):
    # the cache (the prefix once under its mask, then one lean step per token at its position) must give
    # what the full forward gives: 32 rows × 10 tokens, each an argmax. The weights are tripled: at
    # init a token's logits hardly depend on the others, and a cache that lost the prefix's mask or a
    # position went unseen (it is seen at ×3; checked by breaking each once)
    model = _model(arch, seed=5).eval()
    with torch.no_grad():
        for w in model.parameters():
            w.mul_(3 if w.dim() > 1 else 1)
    src = torch.randint(10, 20, (32, 5), generator=torch.Generator().manual_seed(0))
    ref = _greedy_by_full_forward(model, src, 10)
    assert (ref[:, 3:] != EOS).any()  # the rows run past the first tokens, or the test checks little
    assert torch.equal(model.generate(src, 10, SEP, EOS, cache=True), ref)
    assert torch.equal(model.generate(src, 10, SEP, EOS, cache=False), ref)


def test_output_loss_is_cross_entropy_on_the_output_positions():
    model = _model("prefix")
    batch = collate("prefix")(ROWS)
    loss, losses, _ = output_loss(model, batch)
    logits = model.logits(model.hidden_states(batch["ids"], batch["prefix_len"]))
    ref = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)
    assert torch.allclose(loss, ref) and losses.numel() == 4 + 5


@pytest.mark.parametrize("arch", ["decoder", "prefix", "encdec"])
def test_parameter_count_and_training_flops_match_torch(arch):
    cfg = ModelConfig(arch=arch, hidden=32, heads=4, layers=2)
    model = Seq2SeqModel(cfg, 100, 30)
    assert count_parameters(model) == parameter_count(cfg, 100)
    batch = collate(arch)([([5] * 7, [4] * 5)])
    with FlopCounterMode(display=False) as counter:
        output_loss(model, batch)[0].backward()
    # torch counts the projections (mm); the attention products are ours: 3 · 2·2·n_q·n_k·inner per layer
    n, dec = 7 + 5 + 1, 5 + 1
    pairs = n * n if arch != "encdec" else 7 * 7 + dec * dec + dec * 7
    assert counter.get_total_flops() + 3 * 2 * 4 * pairs * 32 == training_flops(cfg, 30, 7, 5)


def test_encdec_has_about_twice_the_parameters_and_match_width_closes_the_gap():
    base = ModelConfig(arch="decoder", hidden=64, heads=4, layers=4)
    v = 50
    dec, encdec = parameter_count(base, v), parameter_count(ModelConfig(arch="encdec", hidden=64, heads=4, layers=4), v)
    assert 2.0 < encdec / dec < 2.4  # two stacks and cross-attention (the embedding is shared)
    matched = match_width(base, "encdec", v, "params")
    assert matched.hidden < 64 and abs(parameter_count(matched, v) / dec - 1) < 0.15
    by_flops = match_width(base, "encdec", v, "flops", n_src=16, n_tgt=16)
    assert abs(training_flops(by_flops, v, 16, 16) / training_flops(base, v, 16, 16) - 1) < 0.15


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="ModelConfig.arch='gpt'"):
        ModelConfig(arch="gpt")
    with pytest.raises(ValueError, match="head size 3"):
        ModelConfig(hidden=12, heads=4)
    with pytest.raises(ValueError, match="prefix_len"):
        _model("prefix").hidden_states(torch.zeros(1, 3, dtype=torch.long))


def test_attention_qk_reproduces_the_layers_attention():
    from kexue.decoder_only.model import attention_qk
    from kexue.decoder_only.rank import attention_matrix

    model = _model("decoder", seed=5).eval()
    ids = torch.randint(10, 20, (7,))
    (q, k), _ = attention_qk(model, ids)
    # A = softmax(QKᵀ/√d + M_causal) times V, projected, is the first block's attention output
    mha = model.blocks[0].attn
    y = model.blocks[0].norm1(model.embed(ids[None]))
    v = mha.v(y).view(1, 7, mha.heads, mha.head_size).transpose(1, 2)[0]
    a = attention_matrix(q, k, "causal")
    ref = mha.o((a @ v).transpose(0, 1).reshape(1, 7, -1))
    assert torch.allclose(ref, mha(y, model.mask(7)), atol=1e-12)


def test_one_layer_prefix_lm_equals_decoder_only_on_the_output_loss():
    # an output row t ≥ |input| sees j ≤ t under both masks (the prefix j < |input| + 1 is inside it), so
    # with one layer the prefix rows, the only ones that differ, never reach the loss; two layers do
    batch = collate("prefix")(ROWS)
    for layers, same in ((1, True), (2, False)):
        losses = []
        for arch in ("decoder", "prefix"):
            torch.manual_seed(0)
            model = Seq2SeqModel(ModelConfig(arch=arch, hidden=16, heads=2, layers=layers), 20, 10).double()
            losses.append(output_loss(model, batch)[0])
        assert torch.equal(losses[0], losses[1]) == same


def test_match_width_on_the_transformer_weights_or_on_every_parameter():
    """The post's "equal parameters" counts the Transformer weights; with a big vocabulary the tied embedding
    is most of a small model, and matching it too gives the encoder-decoder a wider (different) width."""
    base, v = ModelConfig(arch="decoder", hidden=64, heads=4, layers=3), 3000
    assert parameter_count(base, v) - parameter_count(base, v, embedding=False) == v * 64
    weights = match_width(base, "encdec", v, "params")
    total = match_width(base, "encdec", v, "params_total")
    assert abs(parameter_count(weights, v, embedding=False) / parameter_count(base, v, embedding=False) - 1) < 0.15
    assert abs(parameter_count(total, v) / parameter_count(base, v) - 1) < 0.15
    assert weights.hidden < total.hidden
    with pytest.raises(ValueError, match="params_total"):
        match_width(base, "encdec", v, "weights")
