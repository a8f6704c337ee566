"""The deep model and its mixers (kexue.fm/archives/9554): causality, pooling, the ablation's formulas,
the paper's parameter groups."""
import pytest
import torch

from kexue.lru.mixers import MIXERS, DenseLinearRNN, DiagonalRNN, build_mixer
from kexue.lru.model import DeepModel, ModelConfig, param_groups
from kexue.nn.scan import scan_sequential

SMALL = dict(d_model=8, d_state=6, depth=2, norm="layer")


@pytest.mark.parametrize("kind", MIXERS)
def test_per_token_outputs_never_read_the_future(kind):
    """Per-token tasks (copy) must be causal: changing u_{t+1..} leaves y_{..t} unchanged."""
    torch.manual_seed(0)
    model = DeepModel(ModelConfig(model=kind, **SMALL), 5, vocab_size=7, pooling="none").double().eval()
    x = torch.randint(0, 7, (2, 12))
    y = model(x)
    x2 = x.clone()
    x2[:, 7:] = (x2[:, 7:] + 1) % 7
    torch.testing.assert_close(model(x2)[:, :7], y[:, :7], rtol=1e-10, atol=1e-10)
    assert (model(x2)[:, 7:] - y[:, 7:]).abs().max() > 1e-6


@pytest.mark.parametrize("kind,norm", [("lru", "batch"), ("slru", "layer")])
def test_the_deep_model_streams_token_by_token(kind, norm):
    """An RNN infers one token at a time: DeepModel.step equals the parallel forward (eval mode)."""
    torch.manual_seed(0)
    model = DeepModel(ModelConfig(model=kind, d_model=8, d_state=6, depth=2, norm=norm), 5, vocab_size=7,
                      pooling="none").double()
    model(torch.randint(0, 7, (4, 10)))  # one training pass, so BatchNorm has running statistics
    model.eval()
    x = torch.randint(0, 7, (3, 12))
    states, outs = None, []
    with torch.no_grad():
        for t in range(12):
            y, states = model.step(x[:, t], states)
            outs.append(y)
        torch.testing.assert_close(torch.stack(outs, 1), model(x), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="stream"):
        DeepModel(ModelConfig(model="transformer", **SMALL), 5, vocab_size=7, pooling="none").eval().step(x[:, 0])


def test_mean_pooling_ignores_the_padding():
    torch.manual_seed(0)
    model = DeepModel(ModelConfig(**SMALL), 10, vocab_size=16).double().eval()
    x = torch.randint(1, 16, (1, 9))
    padded = torch.cat([x, torch.zeros(1, 5, dtype=torch.long)], 1)
    # a causal LRU stack: the first 9 positions are the same, and only they are pooled
    torch.testing.assert_close(model(padded, torch.tensor([9])), model(x, torch.tensor([9])), rtol=1e-10, atol=1e-10)


def test_dense_linear_rnn_is_its_formula():
    torch.manual_seed(0)
    rnn = DenseLinearRNN(3, 4).double()
    u = torch.randn(2, 6, 3, dtype=torch.float64)
    x, ys = torch.zeros(2, 4, dtype=torch.float64), []
    for k in range(6):
        # x_k = A x_{k−1} + B u_k;  y_k = C x_k + D u_k
        x = x @ rnn.A.T + u[:, k] @ rnn.B.T
        ys.append(x @ rnn.C.T + rnn.D * u[:, k])
    torch.testing.assert_close(rnn(u), torch.stack(ys, 1))


@pytest.mark.parametrize("param", ["diag_reim", "diag_exp", "stable_exp"])
def test_diagonal_parameterisations_share_one_spectrum_and_one_formula(param):
    torch.manual_seed(0)
    rnn = DiagonalRNN(3, 5, param).double()
    torch.manual_seed(0)
    reference = DiagonalRNN(3, 5, "stable_exp").double()
    # the same draw gives the same Λ whatever the parameterisation
    torch.testing.assert_close(rnn.Lambda, reference.Lambda, rtol=1e-6, atol=1e-6)
    u = torch.randn(2, 7, 3, dtype=torch.float64)
    b = torch.complex(u @ rnn.B_re.T, u @ rnn.B_im.T)
    x = scan_sequential(rnn.Lambda, b)
    torch.testing.assert_close(rnn(u), x.real @ rnn.C_re.T - x.imag @ rnn.C_im.T + rnn.D * u)


def test_param_groups_are_the_papers():
    """ν, θ, γ and B at lr × factor without weight decay; matrices with decay; norms and biases without."""
    model = DeepModel(ModelConfig(**SMALL), 3, d_input=2)
    groups = param_groups(0.05, 0.5)(model)
    names = {id(p): n for n, p in model.named_parameters()}
    ssm = {names[id(p)].rsplit(".", 1)[-1] for p in groups[0]["params"]}
    assert ssm == {"nu_log", "theta_log", "gamma_log", "B_re", "B_im"}
    assert groups[0]["lr_scale"] == 0.5 and groups[0]["weight_decay"] == 0.0
    decayed = {names[id(p)] for p in groups[1]["params"]}
    assert "blocks.0.mixer.C_re" in decayed and "blocks.0.glu_1.weight" in decayed
    assert not any("norm" in n or n.endswith("bias") for n in decayed)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_unknown_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="model"):
        ModelConfig(model="mamba")
    with pytest.raises(ValueError, match="exactly one"):
        DeepModel(ModelConfig(**SMALL), 3)
    with pytest.raises(ValueError, match="model="):
        build_mixer("gru", 4, 4, r_min=0, r_max=1, max_phase=1, bidirectional=False, causal=True, heads=1,
                    scan="chunked")
