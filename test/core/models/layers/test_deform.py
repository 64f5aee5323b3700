"""The export form of the deformable convolution: torchvision's ``deform_conv2d`` to float32 rounding on random
shapes, strides, dilations, offset groups and offsets (fractional, on the image border, far outside it), with and
without the mask; not a plain convolution once offsets move the taps; and a CIMNet on MiT-B0 whose exported ONNX
graph holds no DeformConv and gives ONNX Runtime torch's logits and labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import DeformConv2d, deform_conv2d

from _support.varied_model import assert_varied
from rgbt_seg_core.models.cimnet.scsfr import SCSFR
from rgbt_seg_core.models.layers.deform import SampledDeformConv2d, sampled_deform_conv2d, with_sampled_deform_convs


def _close(got: torch.Tensor, ref: torch.Tensor, rel: float = 1e-5) -> None:
    assert got.shape == ref.shape
    err = float((got - ref).abs().max()) if ref.numel() else 0.0
    assert err <= rel * max(1.0, float(ref.abs().max())), err


@st.composite
def deform_cases(draw: st.DrawFn) -> dict:
    kh, kw = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5]))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, kh // 2 + 1)), draw(st.integers(0, kw // 2 + 1)))
    span = [d * (k - 1) + 1 - 2 * p for d, k, p in zip(dilation, (kh, kw), padding)]  # smallest side that fits
    h, w = draw(st.integers(max(1, span[0]), 14)), draw(st.integers(max(1, span[1]), 14))
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    offset_groups = draw(st.integers(1, 2))
    c_in = offset_groups * draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, c_in]))  # dense, or depthwise as SCSFR's alignment
    c_out = groups * draw(st.integers(1, 2))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    scale = draw(st.sampled_from([0.3, 2.0, 40.0]))  # sub-pixel, a few pixels, far outside the image
    k2, b = kh * kw, draw(st.integers(1, 2))
    return {
        "input": torch.randn(b, c_in, h, w, generator=g),
        "offset": torch.randn(b, 2 * offset_groups * k2, ho, wo, generator=g).mul(scale),
        "weight": torch.randn(c_out, c_in // groups, kh, kw, generator=g),
        "bias": torch.randn(c_out, generator=g) if draw(st.booleans()) else None,
        "mask": torch.rand(b, offset_groups * k2, ho, wo, generator=g) if draw(st.booleans()) else None,
        "stride": stride, "padding": padding, "dilation": dilation,
    }


@settings(max_examples=300, deadline=None)
@given(deform_cases())
def test_sampled_form_equals_torchvision(case: dict) -> None:
    _close(sampled_deform_conv2d(**case), deform_conv2d(**case))


@pytest.mark.parametrize("h, w", [(5, 7), (6, 4), (1, 1)])
def test_taps_on_and_beyond_the_border_follow_torchvision(h: int, w: int) -> None:
    """Exact border positions: -1 and H (zero), just inside them (a sliver of the edge pixel), the edges, half a
    pixel beyond them, and far away; output row p of a 1x1 kernel reads row ys[p % 10], column q reads xs[q % 10]."""
    ys = torch.tensor([-1.0, -0.999, -0.5, 0.0, h - 1.0, h - 0.5, h - 0.001, float(h), 2.0 * h + 0.25, -50.5])
    xs = torch.tensor([-1.0, -0.25, 0.0, w - 1.0, w - 0.75, float(w), -0.999, w - 0.001, 0.5, 37.0])
    pad = (max(0, (11 - h) // 2), max(0, (11 - w) // 2))  # enough output pixels for every position
    ho, wo = h + 2 * pad[0], w + 2 * pad[1]
    rows, cols = ys[torch.arange(ho) % 10], xs[torch.arange(wo) % 10]
    offset = torch.zeros(1, 2, ho, wo)
    offset[0, 0] = (rows - (torch.arange(ho) - pad[0]))[:, None]
    offset[0, 1] = (cols - (torch.arange(wo) - pad[1]))[None, :]
    x, weight = torch.rand(1, 1, h, w) + 0.5, torch.ones(1, 1, 1, 1)
    ref = deform_conv2d(x, offset, weight, padding=pad)
    _close(sampled_deform_conv2d(x, offset, weight, padding=pad), ref)
    outside = (rows[:, None] <= -1) | (rows[:, None] >= h) | (cols[None, :] <= -1) | (cols[None, :] >= w)
    assert torch.all(ref[0, 0][outside] == 0) and torch.all(ref[0, 0][~outside] > 0)


def test_differs_from_a_plain_convolution_once_offsets_move_the_taps() -> None:
    g = torch.Generator().manual_seed(3)
    x, weight = torch.randn(1, 4, 9, 11, generator=g), torch.randn(4, 1, 3, 3, generator=g)
    plain = F.conv2d(x, weight, padding=1, groups=4)
    still = torch.zeros(1, 18, 9, 11)
    _close(sampled_deform_conv2d(x, still, weight, padding=1), plain)
    moved = torch.full((1, 18, 9, 11), 0.37)
    out = sampled_deform_conv2d(x, moved, weight, padding=1)
    assert float((out - plain).abs().max()) > 0.1
    _close(out, deform_conv2d(x, moved, weight, padding=1))


def _scsfr_with_moving_offsets(seed: int = 0) -> SCSFR:
    torch.manual_seed(seed)
    block = SCSFR(16, mid=8).eval()
    with torch.no_grad():  # the offset conv starts at zero (no shift); give it offsets of a few pixels
        block.offset_conv.weight.normal_(0, 0.2)
        block.offset_conv.bias.uniform_(-3, 3)
    return block


def test_replacing_the_deform_convs_keeps_the_output_and_the_original() -> None:
    block = _scsfr_with_moving_offsets()
    sampled = with_sampled_deform_convs(block)
    assert isinstance(block.align, DeformConv2d) and isinstance(block.offset_conv, DeformConv2d)
    assert isinstance(sampled.align, SampledDeformConv2d) and isinstance(sampled.offset_conv, SampledDeformConv2d)
    assert not any(isinstance(m, DeformConv2d) for m in sampled.modules())
    g = torch.Generator().manual_seed(1)
    rgb, thermal = torch.randn(2, 16, 13, 10, generator=g), torch.randn(2, 16, 13, 10, generator=g)
    prior = torch.randn(2, 18, 7, 5, generator=g)
    with torch.inference_mode():
        ref, got = block(rgb, thermal, prior), sampled(rgb, thermal, prior)
    assert float(ref.offset.abs().mean()) > 1.0  # the taps really move
    for a, b in zip(got, ref):
        _close(a, b)


def _move_cimnet_offsets(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Offsets of a few pixels in every SCSFR and in CIPA's prior: zero-initialised, a new CIMNet would export
    its deformable convs as plain ones, and the test could not tell a wrong sampling from a right one."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, SCSFR):
                block.offset_conv.weight.copy_(torch.randn(block.offset_conv.weight.shape, generator=g) * 0.05)
                block.offset_conv.bias.copy_(torch.rand(block.offset_conv.bias.shape, generator=g) * 6 - 3)
        last = model.cipa.offset[-1]
        last.bias.copy_(torch.rand(last.bias.shape, generator=g) * 4 - 2)
    return model


def _varied_mit_cimnet() -> torch.nn.Module:
    """A small CIMNet on MiT-B0 (transformer stages, SCSFRs and CIPA), deploy form, whose labels vary across the
    frame: the classifier's biases zeroed, as ``save_varied_checkpoint`` does, and its offsets moved. One export
    checks both the MiT encoder's code path (cimnet_mitb4's, with B0's two blocks per stage: B4's 54 blocks take
    80 s at a fixed size on a 2-core CPU) and the deformable convolutions' export form."""
    pytest.importorskip("transformers")
    from rgbt_seg_core.models.cimnet.model import CIMNet, CIMNetConfig

    torch.manual_seed(4)
    model = CIMNet(CIMNetConfig(encoder="mit_b0", num_classes=9, embed_dim=32)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.out_channels == 9 and module.bias is not None:
                module.bias.zero_()
    return _move_cimnet_offsets(model.reparameterize())


@pytest.mark.slow
def test_exported_mit_cimnet_has_no_deform_conv_and_matches_torch(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from rgbt_seg_core.deploy.onnx.export import export_onnx

    model = _varied_mit_cimnet()
    path = export_onnx(model, tmp_path / "c.onnx", height=64, width=96)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "DeformConv" not in ops and "GridSample" in ops
    assert any(isinstance(m, DeformConv2d) for m in model.modules())  # eager torch keeps torchvision's kernel
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(2)
    for h, w in ((75, 101), (64, 96)):  # dynamic H, W (odd sides padded inside the graph), and the export's own
        rgb, thermal = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 1, h, w, generator=g)
        with torch.inference_mode():
            ref = model(rgb, thermal).numpy()
        got = session.run(["logits"], {"rgb": rgb.numpy(), "thermal": thermal.numpy()})[0]
        assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max()), (h, w)
        labels = ref.argmax(1)
        assert_varied(labels)
        assert np.array_equal(got.argmax(1), labels), (h, w)
