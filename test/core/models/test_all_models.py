"""One contract for every registered model, whatever its family: forward and backward with a gradient on every
parameter, odd input sizes, a checkpoint round trip in training and deploy form, and ONNX export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rgbt_seg_core.models import build_model, list_models
from rgbt_seg_core.models.checkpoint import load_checkpoint
from rgbt_seg_core.models.checkpoint_file import save_checkpoint

# small options where a family has them, so the whole registry runs on a CPU in CI
SMALL = {"rsfnet": {"fusion_channels": [16, 16, 32, 32], "reduced_dim": 16}, "cimnet": {"embed_dim": 64}}


def _build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    family = "cimnet" if name.startswith("cimnet") else "rsfnet"
    return build_model(name, num_classes=5, **SMALL[family])


def _inputs(h: int, w: int, b: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(b, 3, h, w, generator=g), torch.rand(b, 1, h, w, generator=g)


def _loss(out) -> torch.Tensor:
    """Every tensor the training output holds, so every parameter that shapes any of them gets a gradient."""
    parts = [t for t in out if isinstance(t, torch.Tensor)]
    return sum(torch.nan_to_num(t.float()).mean() for t in parts)


# one model per family in test-fast; the others build encoders of 40-100 M parameters
FAST = {"rsfnet50_18", "cimnet_r18"}
# One model per encoder family in `make test` (ResNet basic and bottleneck blocks, DenseNet, VGG, MiT; each
# architecture's code). The others differ from one of these only in depth or width, and each export takes 20-80 s
# on a 2-core CPU, so their tests here are `exhaustive`: run by `make test-all` and by a plain `pytest`.
DEPTH_VARIANTS = {"rsfnet50_34", "rsfnet50_50", "rsfnet101_34", "rsfnet101_101", "rsfnet161_161", "rsfnet_vgg19_19",
                  "cimnet_r101"}


def _marks(name: str) -> tuple:
    if name in FAST:
        return ()
    return (pytest.mark.slow, pytest.mark.exhaustive) if name in DEPTH_VARIANTS else (pytest.mark.slow,)


@pytest.mark.parametrize("name", [pytest.param(n, marks=_marks(n)) for n in list_models()])
def test_forward_backward_odd_sizes_and_checkpoint(name: str, tmp_path: Path) -> None:
    model = _build(name).train()
    out = model(*_inputs(45, 70))
    assert out.logits.shape == (2, 5, 45, 70) and torch.isfinite(out.logits).all()
    _loss(out).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not no_grad, f"{name}: parameters without a (finite) gradient: {no_grad[:6]}"
    model.eval()
    for h, w in ((33, 47), (64, 80), (97, 31)):
        with torch.inference_mode():
            assert model(*_inputs(h, w, b=1)).shape == (1, 5, h, w)
    rgb, thermal = _inputs(40, 56, b=1)
    with torch.inference_mode():
        ref = model(rgb, thermal)
    save_checkpoint(tmp_path / "m.safetensors", model)
    loaded = load_checkpoint(tmp_path / "m.safetensors").model.eval()
    with torch.inference_mode():
        assert torch.equal(loaded(rgb, thermal), ref)
        deploy = loaded.reparameterize()
        assert float((deploy(rgb, thermal) - ref).abs().max()) <= 1e-4 * max(1.0, float(ref.abs().max()))
    save_checkpoint(tmp_path / "d.safetensors", deploy)
    again = load_checkpoint(tmp_path / "d.safetensors")
    assert again.meta.deploy and again.meta.model == name
    with torch.inference_mode():
        assert torch.equal(again.model.eval()(rgb, thermal), deploy(rgb, thermal))


# Exported by another test: one that needs the export anyway (one export each per session, compared with torch
# more strictly), or one that exports the same code with a smaller member of the encoder's family. cimnet_mitb4's
# export takes 80 s at a fixed size and about 5 min with dynamic H and W on a 2-core CPU (54 transformer blocks
# through torch.export): its code path is exported on the same modules with MiT-B0's two blocks per stage, in the
# test that exports CIMNet's deformable convolutions too. rsfnet161_121's takes 70 s: DenseNet-121 on both sides
# runs the same dense blocks, narrower and shallower, in two thirds of that.
EXPORTED_ELSEWHERE = {
    "cimnet_mitb4": "test/core/models/layers/test_deform.py (CIMNet on MiT-B0, offsets moved, labels varied, 1e-4)",
    "rsfnet161_121": "test_rsfnet_with_densenet121_encoders_exports",
    "rsfnet50_18": "test/core/deploy/onnx/test_export.py (the session's varied checkpoint, at three sizes)",
}
# Exported in `make test-all` only: what their export runs is exported in `make test` by the models named
# (CIMNet's fusion, decoder and deformable convolutions on MiT-B0; the ResNet-18 encoder in rsfnet50_18)
EXPORTED_BY_PARTS = {"cimnet_r18": ("cimnet_mitb4", "rsfnet50_18")}


def _export_marks(name: str) -> tuple:
    return (pytest.mark.exhaustive,) if name in DEPTH_VARIANTS or name in EXPORTED_BY_PARTS else ()


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=_export_marks(n))
                                  for n in list_models() if n not in EXPORTED_ELSEWHERE])
def test_onnx_export(name: str, tmp_path: Path) -> None:
    _check_export(_build(name), tmp_path)


def test_every_model_is_exported_by_some_test() -> None:
    """A model added to the registry is exported somewhere, and the names above stay registry names."""
    names = set(list_models())
    assert set(EXPORTED_ELSEWHERE) <= names and DEPTH_VARIANTS <= names and set(EXPORTED_BY_PARTS) <= names
    assert not DEPTH_VARIANTS & set(EXPORTED_ELSEWHERE)
    for name, parts in EXPORTED_BY_PARTS.items():  # the parts are exported in `make test`
        assert all(p in EXPORTED_ELSEWHERE or p not in DEPTH_VARIANTS | set(EXPORTED_BY_PARTS) for p in parts), name


@pytest.mark.slow
def test_rsfnet_with_densenet121_encoders_exports(tmp_path: Path) -> None:
    from rgbt_seg_core.models.rsfnet.model import RSFNet, RSFNetConfig

    torch.manual_seed(0)
    _check_export(RSFNet(RSFNetConfig(rgb_encoder="densenet121", thermal_encoder="densenet121", num_classes=5,
                                      **SMALL["rsfnet"])), tmp_path)


def _check_export(model: torch.nn.Module, tmp_path: Path) -> None:
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from rgbt_seg_core.deploy.onnx.export import export_onnx

    model = model.eval().reparameterize()
    path = export_onnx(model, tmp_path / "m.onnx", height=64, width=96)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rgb, thermal = _inputs(67, 83, b=1)
    with torch.inference_mode():
        ref = model(rgb, thermal).numpy()
    got = session.run(["logits"], {"rgb": rgb.numpy(), "thermal": thermal.numpy()})[0]
    assert abs(got - ref).max() <= 1e-3 * max(1.0, abs(ref).max())
