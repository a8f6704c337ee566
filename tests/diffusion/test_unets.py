"""The two U-Nets: Su's (Keras-DDPM, kexue.fm/archives/9152) and Ho's (arXiv 2006.11239)."""
import math

import pytest
import torch
import torch.nn.functional as F

from kexue.diffusion import UNetHo, UNetHoConfig, UNetSu, UNetSuConfig
from kexue.diffusion.unet_su import GroupNormSu, ResidualBlockSu


def su_block(c_in: int, c_out: int, e: int = 128) -> int:
    """Parameters of one Keras-DDPM residual block: Dense(t → C_in), 1×1 shortcut if the width
    changes, two 3×3 convs, GroupNorm scale + offset; no bias anywhere."""
    return e * c_in + (c_in * c_out if c_in != c_out else 0) + 9 * c_in * c_out + 9 * c_out * c_out + 2 * c_out


def test_su_128px_parameter_count_is_pinned():
    # Counted by hand from Keras-DDPM's loop for channels [1,1,2,2,4,4]×128, blocks 2, 128 px → 4 px:
    # encoder widths 128,128 | 128,128 | 256,256 | 256,256 | 512,512 | 512,512, middle 512 → 512;
    # the decoder's blocks take the widths of the skips they are added to, popped in Keras' order.
    encoder = [(128, 128)] * 4 + [(128, 256), (256, 256)] + [(256, 256)] * 2 + [(256, 512), (512, 512)] \
        + [(512, 512)] * 2
    middle = [(512, 512)]
    decoder = [(512, 512)] * 2 + [(512, 512), (512, 256)] + [(256, 256)] * 2 + [(256, 256), (256, 128)] \
        + [(128, 128)] * 4
    hand = 1000 * 128 + 9 * 3 * 128 + sum(su_block(a, b) for a, b in encoder + middle + decoder) \
        + 2 * 128 + 9 * 128 * 3
    assert hand == 50_514_176
    with torch.device("meta"):
        model = UNetSu()
        assert sum(p.numel() for p in model.parameters()) == hand
        assert model(torch.empty(2, 3, 128, 128), torch.ones(2, dtype=torch.long)).shape == (2, 3, 128, 128)
    assert model.pooled == [True] * 5 + [False]


def test_ho_cifar10_parameter_count_matches_the_paper():
    with torch.device("meta"):
        model = UNetHo()
    # Ho et al. report 35.7M parameters for the CIFAR-10 model
    assert sum(p.numel() for p in model.parameters()) == 35_746_307


def test_su_has_no_bias_anywhere():
    for name in ("digits8", "mnist28"):
        model = UNetSu(UNetSuConfig.preset(name, num_classes=4))
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                assert m.bias is None, m
        assert not any(n.endswith("bias") for n, _ in model.named_parameters())
        assert not any(isinstance(m, torch.nn.MultiheadAttention) for m in model.modules())


@pytest.mark.parametrize("net,cfg", [
    (UNetSu, UNetSuConfig.preset("digits8")), (UNetSu, UNetSuConfig.preset("mnist28", blocks=1)),
    (UNetHo, UNetHoConfig.preset("digits8")), (UNetHo, UNetHoConfig.preset("mnist28", num_res_blocks=1)),
])
def test_output_shape_equals_input_and_t_matters(net, cfg):
    model = net(cfg).eval()
    x = torch.randn(2, cfg.in_channels, cfg.image_size, cfg.image_size, generator=torch.Generator().manual_seed(0))
    _randomise(model)
    with torch.no_grad():
        out1 = model(x, torch.tensor([1, 1]))
        out2 = model(x, torch.tensor([1000, 1000]))
    assert out1.shape == x.shape
    assert not torch.allclose(out1, out2)


@pytest.mark.parametrize("net,cfg", [(UNetSu, UNetSuConfig.preset("digits8", num_classes=3)),
                                     (UNetHo, UNetHoConfig.preset("digits8", num_classes=3))])
def test_class_conditioning_changes_the_output_and_null_is_num_classes(net, cfg):
    model = net(cfg).eval()
    _randomise(model)
    x, t = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1)), torch.tensor([10, 500])
    with torch.no_grad():
        a, b = model(x, t, torch.tensor([0, 0])), model(x, t, torch.tensor([1, 1]))
        null, none = model(x, t, torch.tensor([3, 3])), model(x, t)
    assert not torch.allclose(a, b)
    assert torch.equal(null, none)
    assert model.num_classes == 3


@pytest.mark.parametrize("net,cfg", [(UNetSu, UNetSuConfig.preset("digits8", num_classes=3)),
                                     (UNetHo, UNetHoConfig.preset("digits8", num_classes=3, dropout=0.0))])
def test_gradients_reach_every_parameter(net, cfg):
    model = net(cfg)
    _randomise(model)  # Ho zero-initialises his last convs; move off that point so every path counts
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    model(x, torch.tensor([1, 400, 1000]), torch.tensor([0, 2, 3])).pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_group_norm_su_groups_channels_mod_32():
    norm = GroupNormSu(64, groups=32)
    with torch.no_grad():
        norm.scale.uniform_(0.5, 1.5)
        norm.offset.uniform_(-1, 1)
    x = torch.randn(2, 64, 3, 3, generator=torch.Generator().manual_seed(3))
    # channel c is in group c mod 32: reorder to c' = (c mod 32)·2 + c div 32 and use contiguous groups
    order = torch.arange(64).view(2, 32).T.flatten()
    ref = F.group_norm(x[:, order], 32, norm.scale[order], norm.offset[order], eps=1e-6)
    assert torch.allclose(norm(x)[:, order], ref, atol=1e-5)


@pytest.mark.parametrize("name", ["digits8", "mnist28"])
def test_init_follows_keras_ddpm_variance_scaling(name):
    """Keras-DDPM: every block conv is conv2d(x, out_dim, 'swish', 1 / num_layers**0.5), i.e.
    VarianceScaling(scale, 'fan_avg', 'uniform'): U(±a) with a² = 3·scale/fan_avg, so Var w = scale/fan_avg,
    fan_avg = (c_in + c_out)·k²/2 and num_layers = 2·len(channels) + 1; the other convs and denses scale 1."""
    torch.manual_seed(0)
    cfg = UNetSuConfig.preset(name)
    model = UNetSu(cfg)
    num_layers = 2 * len(cfg.channels) + 1
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlockSu)]
    assert len(blocks) == 2 * len(cfg.channels) * cfg.blocks + 1
    for scale, weights in ((1 / math.sqrt(num_layers), [c.weight for b in blocks for c in (b.conv1, b.conv2)]),
                           (1.0, [model.stem.weight, model.head.weight] + [b.dense_t.weight for b in blocks]
                            + [b.shortcut.weight for b in blocks if b.shortcut is not None])):
        ratios = []
        for w in weights:
            w = w.detach().double()
            k2 = w[0, 0].numel() if w.dim() > 2 else 1
            fan_avg = (w.shape[0] + w.shape[1]) * k2 / 2
            limit = math.sqrt(3 * scale / fan_avg)
            assert float(w.abs().max()) <= limit * (1 + 1e-6)
            # Var w / (scale / fan_avg) should be 1 up to sampling error
            ratios.append((float(w.pow(2).mean()) / (scale / fan_avg), w.numel()))
        n = sum(k for _, k in ratios)
        pooled = sum(r * k for r, k in ratios) / n
        # the mean of w² over n uniform draws has relative std √(4/5 / n) (E w⁴ / (E w²)² = 9/5)
        assert abs(pooled - 1) < 5 * math.sqrt(0.8 / n), (scale, pooled)
    assert float(model.t_embedding.weight.detach().abs().max()) <= 0.05


def test_errors_name_the_field():
    with pytest.raises(ValueError, match="odd 7 before min_pixel=4; set pad_to"):
        UNetSu(UNetSuConfig(image_size=28, in_channels=1, embedding_size=32, channels=(1, 1, 1, 1), groups=8))
    model = UNetSu(UNetSuConfig.preset("digits8"))
    with pytest.raises(ValueError, match=r"x_t has shape \(2, 1, 9, 9\)"):
        model(torch.zeros(2, 1, 9, 9), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="unconditional"):
        model(torch.zeros(2, 1, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"t must lie in 1..1000 \(UNetSuConfig.T\), got 0..2"):
        model(torch.zeros(2, 1, 8, 8), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="unknown name 'cifar'"):
        UNetSuConfig.preset("cifar")


def _randomise(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("data,side", [("digits", 8), ("mnist5k", 28), ("fashion-mnist", 28)])
def test_every_named_preset_builds_a_working_net_for_every_named_dataset(data, side):
    from kexue.diffusion.train import DiffusionConfig, build_model

    for name in ("su", "ho2020", "quick", "smoke"):
        cfg = DiffusionConfig.preset(name, data=data)
        net = build_model(cfg)
        x = torch.randn(2, 1, side, side)
        with torch.no_grad():
            assert net(x, torch.tensor([1, cfg.T])).shape == x.shape, (name, data)
