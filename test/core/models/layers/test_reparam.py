"""Re-parameterisation transforms and the KxK block: exact equivalence (float tolerances)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _support.helpers import randomize_batchnorms
from rgbt_seg_core.models.layers.reparam import (
    ConvBNReLU,
    RepConvKxK,
    fold_batchnorms,
    fuse_conv_bn,
    merge_1x1_then_kxk,
    pad_kernel_to,
)


def _close(y_ref: torch.Tensor, y: torch.Tensor, dtype: torch.dtype) -> None:
    y_ref, y = y_ref.detach(), y.detach()
    err = float((y_ref - y).abs().max())
    scale = max(1.0, float(y_ref.abs().max()))
    tol = 1e-5 if dtype == torch.float64 else 1e-4
    assert err <= tol * scale, f"max |diff| {err:.3e} exceeds {tol:.0e} x {scale:.3g}"


def test_fuse_conv_bn_matches_bn_of_conv() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=True).double()
    bn = randomize_batchnorms(nn.BatchNorm2d(6)).double().eval()
    x = torch.randn(2, 4, 9, 7, dtype=torch.float64)
    w, b = fuse_conv_bn(conv.weight, conv.bias, bn)
    _close(bn(conv(x)), F.conv2d(x, w, b, padding=1), torch.float64)


def test_fuse_identity_bn() -> None:
    bn = randomize_batchnorms(nn.BatchNorm2d(5)).double().eval()
    x = torch.randn(1, 5, 6, 6, dtype=torch.float64)
    w, b = fuse_conv_bn(None, None, bn, kernel_shape=(3, 3))
    _close(bn(x), F.conv2d(x, w, b, padding=1), torch.float64)


def test_merge_1x1_then_kxk_exact_at_borders() -> None:
    torch.manual_seed(1)
    w1 = torch.randn(5, 4, 1, 1, dtype=torch.float64)
    w2 = torch.randn(3, 5, 1, 5, dtype=torch.float64)
    b2 = torch.randn(3, dtype=torch.float64)
    x = torch.randn(2, 4, 7, 6, dtype=torch.float64)
    ref = F.conv2d(F.conv2d(x, w1), w2, b2, padding=(0, 2))
    w, b = merge_1x1_then_kxk(w1, None, w2, b2)
    _close(ref, F.conv2d(x, w, b, padding=(0, 2)), torch.float64)


def test_merge_rejects_bias_on_first_conv() -> None:
    with pytest.raises(ValueError, match="non-zero bias"):
        merge_1x1_then_kxk(torch.randn(2, 2, 1, 1), torch.ones(2), torch.randn(2, 2, 3, 3), None)


def test_pad_kernel_rejects_even_and_shrinking() -> None:
    with pytest.raises(ValueError, match="odd"):
        pad_kernel_to(torch.zeros(1, 1, 3, 3), 4)
    with pytest.raises(ValueError, match="shrink"):
        pad_kernel_to(torch.zeros(1, 1, 5, 5), 3)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("channels", [32, 64])
@pytest.mark.parametrize("k", [3, 5, 7, 9])
def test_block_deploy_equivalence(k: int, channels: int, dtype: torch.dtype) -> None:
    torch.manual_seed(k * 100 + channels)
    block = RepConvKxK(channels, k).to(dtype)
    with torch.no_grad():  # the default init leaves biases tiny; make every branch matter
        for m in block.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0, 0.5)
    randomize_batchnorms(block, seed=k).eval()
    for shape in [(3, channels, 13, 9), (2, channels, 8, 17), (1, channels, 1, 1)]:
        x = torch.randn(*shape, dtype=dtype)
        ref = block(x)
        deployed = copy.deepcopy(block).switch_to_deploy()
        _close(ref, deployed(x), dtype)


def test_switch_to_deploy_is_idempotent_and_drops_branches() -> None:
    block = randomize_batchnorms(RepConvKxK(8, 5)).eval()
    x = torch.randn(1, 8, 10, 10)
    block.switch_to_deploy()
    y1 = block(x)
    block.switch_to_deploy()
    assert torch.equal(y1, block(x))
    assert [n for n, _ in block.named_children()] == ["deploy_conv"]


def test_single_branch_block_also_deploys() -> None:
    block = randomize_batchnorms(RepConvKxK(8, 3, multi_branch=False)).double().eval()
    x = torch.randn(2, 8, 7, 5, dtype=torch.float64)
    ref = block(x)
    _close(ref, block.switch_to_deploy()(x), torch.float64)


def test_block_rejects_even_kernel() -> None:
    with pytest.raises(ValueError, match="odd"):
        RepConvKxK(8, 4)


def test_fold_batchnorms_in_sequential() -> None:
    seq = nn.Sequential(ConvBNReLU(3, 6, 3), ConvBNReLU(6, 4, 1))
    randomize_batchnorms(seq).double().eval()
    x = torch.randn(2, 3, 11, 8, dtype=torch.float64)
    ref = seq(x)
    assert fold_batchnorms(seq) == 2
    assert not any(isinstance(m, nn.BatchNorm2d) for m in seq.modules())
    _close(ref, seq(x), torch.float64)
