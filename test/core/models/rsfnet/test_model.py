"""Whole-network checks: every registered model (timm-style), faithfulness to the paper, deploy equivalence."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from _support.helpers import randomize_batchnorms
from rgbt_seg_core import build_model, list_models
from rgbt_seg_core.evaluation.profiling import count_macs
from rgbt_seg_core.models import GatedOutput, RSFNet, TrainOutput, model_family
from rgbt_seg_core.models.encoders import build_encoder
from rgbt_seg_core.models.layers.reparam import RepConvKxK
from rgbt_seg_core.models.registry import register_model

ALL_MODELS = [m for m in list_models() if m.startswith("rsfnet")]  # CIMNet: test_cimnet.py
# the smallest pair runs in test-fast; each larger one builds and trains a full network of 50-140 M parameters
FAST_MODELS = {"rsfnet50_18"}
EVERY_MODEL = [pytest.param(m, marks=() if m in FAST_MODELS else pytest.mark.slow) for m in ALL_MODELS]


def _inputs(b: int, h: int, w: int, dtype: torch.dtype = torch.float32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g, dtype=dtype), torch.rand(b, 1, h, w, generator=g, dtype=dtype)


def test_registry_lists_the_table_xii_pairs() -> None:
    assert ALL_MODELS == sorted(
        ["rsfnet50_18", "rsfnet50_34", "rsfnet50_50", "rsfnet101_34", "rsfnet101_101", "rsfnet161_121",
         "rsfnet161_161", "rsfnet_vgg19_16", "rsfnet_vgg19_19"]
    )


def test_registry_rejects_duplicates_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("rsfnet50_18", family="rsfnet")(lambda **kw: nn.Identity())
    with pytest.raises(ValueError, match="unknown model family 'unet'"):
        register_model("new_model", family="unet")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope")
    assert model_family("rsfnet50_18") == "rsfnet" and model_family("cimnet_r18") == "cimnet"
    assert list_models("cimnet") == ["cimnet_mitb4", "cimnet_r101", "cimnet_r18"]
    assert set(list_models("rsfnet")) | set(list_models("cimnet")) == set(list_models())


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_every_model_trains_and_infers(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=5)
    rgb, thermal = _inputs(2, 45, 70)
    out = model.train()(rgb, thermal)
    assert isinstance(out, TrainOutput)
    for t in (out.logits, out.aux8, out.aux16):
        assert t.shape == (2, 5, 45, 70)
        assert torch.isfinite(t).all()
    assert out.confidence is not None and out.confidence.shape == (2, 2)
    assert ((out.confidence > 0) & (out.confidence < 1)).all()
    (out.logits.mean() + out.aux8.mean() + out.aux16.mean() + out.confidence.sum()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    logits = model.eval()(rgb, thermal)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 5, 45, 70)


@pytest.mark.parametrize("name", ["rsfnet50_18", "rsfnet161_121", "rsfnet_vgg19_16"])
def test_encoders_declare_their_stages(name: str) -> None:
    model = build_model(name)
    for enc, x in zip(model.encoders(), _inputs(1, 64, 96)):
        feats = enc(x)
        assert [f.shape[1] for f in feats] == list(enc.stage_channels)
        assert [(64 // f.shape[2], 96 // f.shape[3]) for f in feats] == [(s, s) for s in enc.stage_strides]


# The paper's Table XII: inference-model parameters (M) and MACs (G) at 480x640
PARAMS = {"rsfnet50_18": 44.53, "rsfnet50_34": 54.64, "rsfnet50_50": 57.71, "rsfnet101_34": 73.63,
          "rsfnet101_101": 95.70}
MACS = {"rsfnet50_18": 64.69, "rsfnet101_34": 98.82}


def _shapes_only(name: str, **options) -> nn.Module:
    """The model on the meta device: parameter counts and MACs depend on shapes alone, so they come without the
    seconds that random initialisation and a 480x640 forward pass of a full model take on a CPU."""
    with torch.device("meta"):
        return build_model(name, **options)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_count_matches_paper(name: str) -> None:
    model = _shapes_only(name).reparameterize()
    total = sum(p.numel() for p in model.parameters()) / 1e6
    assert total == pytest.approx(PARAMS[name], rel=0.01)


def test_parameter_count_without_confidence_heads() -> None:
    model = _shapes_only("rsfnet50_18", confidence_heads=False).reparameterize()
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(44.20, rel=0.01)


@pytest.mark.parametrize("name", sorted(MACS))
def test_macs_match_paper(name: str) -> None:
    model = _shapes_only(name).reparameterize()
    macs = count_macs(model, (torch.zeros(1, 3, 480, 640, device="meta"), torch.zeros(1, 1, 480, 640, device="meta")))
    macs /= 1e9
    assert macs == pytest.approx(MACS[name], rel=0.03)


@pytest.mark.parametrize(
    "options,params",
    [({"kernel_size": 3}, 44.01), ({"kernel_size": 9}, 46.37), ({"reduced_dim": 32}, 43.78),
     ({"reduced_dim": 128}, 47.26), ({"fusion": "sum", "confidence_heads": False}, 43.11),
     ({"fusion": "concat", "confidence_heads": False}, 43.42)],
)
def test_ablation_parameter_counts_match_tables_vii_to_ix(options: dict, params: float) -> None:
    model = _shapes_only("rsfnet50_18", **options).reparameterize()
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(params, rel=0.01)


def _assert_close(ref: torch.Tensor, out: torch.Tensor, rel: float) -> None:
    err = float((ref - out).abs().max())
    scale = max(1.0, float(ref.abs().max()))
    assert err <= rel * scale, f"max |diff| {err:.3e} > {rel:.0e} x {scale:.3g}"


@pytest.mark.parametrize("reduced_dim", [32, 64])
@pytest.mark.parametrize("k", [3, 5, 7, 9])
def test_whole_network_deploy_equivalence_float64(k: int, reduced_dim: int) -> None:
    torch.manual_seed(k)
    model = randomize_batchnorms(build_model("rsfnet50_18", kernel_size=k, reduced_dim=reduced_dim), seed=k)
    model = model.double().eval()
    rgb, thermal = _inputs(2, 37, 53, torch.float64, seed=k)  # odd, non-square, needs padding to /32
    with torch.no_grad():
        ref = model.forward_with_gates(rgb, thermal)
        deployed = copy.deepcopy(model).reparameterize()
        out = deployed.forward_with_gates(rgb, thermal)
    _assert_close(ref.logits, out.logits, 1e-5)
    _assert_close(ref.confidence, out.confidence, 1e-5)
    for a, b in zip(ref.gates, out.gates):
        _assert_close(a, b, 1e-5)


@pytest.mark.parametrize("name", ["rsfnet50_18", "rsfnet161_121", "rsfnet_vgg19_16"])
def test_whole_network_deploy_equivalence_float32(name: str) -> None:
    torch.manual_seed(1)
    model = randomize_batchnorms(build_model(name), seed=3).eval()
    rgb, thermal = _inputs(3, 64, 83)
    with torch.no_grad():
        ref = model(rgb, thermal)
        out = copy.deepcopy(model).reparameterize()(rgb, thermal)
    _assert_close(ref, out, 1e-4)


def test_deploy_form_has_no_training_only_modules() -> None:
    model = build_model("rsfnet50_18").reparameterize()
    kinds = {type(m) for m in model.modules()}
    assert nn.BatchNorm2d not in kinds
    assert nn.Dropout2d not in kinds and nn.Dropout not in kinds
    assert model.aux_head8 is None and model.aux_head16 is None
    blocks = [m for m in model.modules() if isinstance(m, RepConvKxK)]
    assert blocks and all(list(dict(b.named_children())) == ["deploy_conv"] for b in blocks)
    assert model.reparameterize() is model  # idempotent
    with pytest.raises(RuntimeError, match="inference-only|train mode"):
        model.train()


def test_thermal_conv1_adaptation_equals_three_channel_input() -> None:
    torch.manual_seed(0)
    three = build_encoder("resnet18", in_channels=3).eval()
    one = copy.deepcopy(three)
    one._adapt_input(1)
    x = torch.rand(2, 1, 64, 80)
    with torch.no_grad():
        for a, b in zip(three(x.repeat(1, 3, 1, 1)), one(x)):
            _assert_close(a, b, 1e-5)


def test_forward_with_gates_shapes_and_gate_normalisation() -> None:
    model = build_model("rsfnet50_18").eval()
    rgb, thermal = _inputs(2, 50, 70)
    with torch.no_grad():
        out = model.forward_with_gates(rgb, thermal)
    assert isinstance(out, GatedOutput)
    assert out.logits.shape == (2, 9, 50, 70)
    assert out.confidence is not None and out.confidence.shape == (2, 2)
    assert len(out.gates) == 4
    for g, stride in zip(out.gates, (4, 8, 16, 32)):
        assert g.shape[:2] == (2, 2)
        assert g.shape[2] == -(-50 // stride) and g.shape[3] == -(-70 // stride)
        assert (g >= 0).all() and (g <= 1).all()
    # normalised gates: rgb + thermal gate = 1, so the per-pixel maps are bounded by their gate
    p = out.confidence
    g_rgb = p[:, 0] / (p[:, 0] + p[:, 1] + 1e-6)
    assert (out.gates[0][:, 0].amax(dim=(1, 2)) <= g_rgb + 1e-6).all()


@pytest.mark.parametrize("modalities", ["rgb", "thermal"])
def test_single_encoder_variants(modalities: str) -> None:
    model = build_model("rsfnet50_18", modalities=modalities)
    assert len(model.encoders()) == 1 and model.fusion is None
    rgb, thermal = _inputs(1, 40, 40)
    out = model.train()(rgb if modalities == "rgb" else None, thermal if modalities == "thermal" else None)
    present = 0 if modalities == "rgb" else 1
    assert torch.isfinite(out.confidence[:, present]).all() and torch.isnan(out.confidence[:, 1 - present]).all()
    assert model.eval()(rgb, thermal).shape == (1, 9, 40, 40)


@pytest.mark.parametrize("fusion", ["sum", "concat"])
def test_fusion_ablations_run_and_deploy(fusion: str) -> None:
    model = randomize_batchnorms(build_model("rsfnet50_18", fusion=fusion)).eval()
    rgb, thermal = _inputs(1, 33, 65)
    with torch.no_grad():
        ref = model(rgb, thermal)
        _assert_close(ref, copy.deepcopy(model).reparameterize()(rgb, thermal), 1e-4)


def test_gate_scales_the_spatial_maps_and_off_means_unit_gates() -> None:
    gated = build_model("rsfnet50_18").eval()
    ungated = build_model("rsfnet50_18", gate=False).eval()
    ungated.load_state_dict(gated.state_dict())
    assert gated.config.uses_gate and not ungated.config.uses_gate
    x = _inputs(2, 64, 64)
    with torch.no_grad():
        on, off = gated.forward_with_gates(*x), ungated.forward_with_gates(*x)
    p = on.confidence
    g_rgb = p[:, 0] / (p[:, 0] + p[:, 1] + 1e-6)
    g = torch.stack([g_rgb, 1 - g_rgb], dim=1).view(2, 2, 1, 1)
    for a, b in zip(on.gates, off.gates):
        _assert_close(a, b * g, 1e-6)
    assert not torch.allclose(on.logits, off.logits)


@pytest.mark.parametrize(
    "options,match",
    [({"kernel_size": 4}, "kernel_size"), ({"fusion": "avg"}, "fusion"), ({"modalities": "depth"}, "modalities"),
     ({"reduced_dim": 0}, "reduced_dim"), ({"gate_mode": "soft"}, "gate_mode"), ({"num_classes": 1}, "num_classes")],
)
def test_invalid_options_are_rejected_with_their_name(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_model("rsfnet50_18", **options)


def test_bad_input_shapes_are_rejected() -> None:
    model = build_model("rsfnet50_18").eval()
    with pytest.raises(ValueError, match="thermal must be B x 1"):
        model(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="differ"):
        model(torch.rand(1, 3, 32, 32), torch.rand(1, 1, 32, 40))


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(TypeError):
        build_model("rsfnet50_18", kernal_size=5)


def test_build_model_is_an_rsfnet_with_its_name() -> None:
    model = build_model("rsfnet101_34")
    assert isinstance(model, RSFNet) and model.model_name == "rsfnet101_34"
    assert model.config.rgb_encoder == "resnet101" and model.config.thermal_encoder == "resnet34"


def test_pretrained_folder_loads_imagenet_weights_offline(tmp_path) -> None:
    import torchvision

    torch.manual_seed(3)
    r50, r18 = torchvision.models.resnet50(), torchvision.models.resnet18()
    torch.save(r50.state_dict(), tmp_path / "resnet50-0676ba61.pth")  # torchvision's cache file naming
    torch.save(r18.state_dict(), tmp_path / "resnet18.pth")
    model = build_model("rsfnet50_18", pretrained=str(tmp_path))
    assert torch.equal(model.rgb_encoder.stages[1][0].conv1.weight, r50.layer2[0].conv1.weight)
    # the thermal conv1 is ImageNet's kernel summed over the three colour channels
    assert torch.allclose(model.thermal_encoder.stages[0][0].weight, r18.conv1.weight.sum(1, keepdim=True))
    with pytest.raises(FileNotFoundError, match="no ImageNet weights for resnet101 in .*resnet101-<hash>.pth"):
        build_model("rsfnet101_34", pretrained=str(tmp_path))
