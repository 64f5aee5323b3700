"""ECA's kernel-size rule, shared by RSFNet's recalibration and CIMNet's CIPA, against sizes worked out by hand."""

from __future__ import annotations

import pytest
import torch

from rgbt_seg_core.models.cimnet.cipa import CIPA
from rgbt_seg_core.models.layers.eca import ECA, eca_kernel_size
from rgbt_seg_core.models.rsfnet.fusion import Recalibration

# C -> int((log2 C + 1) / 2), made odd: 1 -> int(0.5)=0 -> 1; 16 -> int(2.5)=2 -> 3; 64 -> int(3.5)=3;
# 128 -> int(4)=4 -> 5; 256 -> int(4.5)=4 -> 5; 512 -> int(5)=5; 1024 -> int(5.5)=5; 2048 -> int(6)=6 -> 7;
# 96 -> log2 96 = 6.58, int(3.79)=3; 2208 (DenseNet-161) -> log2 = 11.11, int(6.05)=6 -> 7
HAND = {1: 1, 16: 3, 64: 3, 96: 3, 128: 5, 256: 5, 512: 5, 1024: 5, 2048: 7, 2208: 7}


@pytest.mark.parametrize("channels, k", sorted(HAND.items()))
def test_kernel_size_by_hand(channels: int, k: int) -> None:
    assert eca_kernel_size(channels) == k


def test_gamma_and_b() -> None:
    assert eca_kernel_size(256, gamma=1, b=0) == 9  # int(8) = 8 -> 9
    assert eca_kernel_size(256, gamma=4, b=4) == 3  # int(3) = 3


@pytest.mark.parametrize("bad", [0, -4, 2.0, True, "64"])
def test_bad_channel_count_is_named(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer channel count"):
        eca_kernel_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("channels", [64, 256, 2048])
def test_both_families_size_their_kernel_by_the_rule(channels: int) -> None:
    assert Recalibration(channels, 16).channel_conv.kernel_size == (HAND[channels],)
    cipa = CIPA(channels, mir=False, msm=False)
    assert cipa.eca_r.conv.kernel_size == cipa.eca_t.conv.kernel_size == (HAND[channels],)


def test_eca_block_is_x_times_sigmoid_of_the_channel_conv() -> None:
    torch.manual_seed(0)
    eca = ECA(16)
    x = torch.randn(2, 16, 5, 7)
    w = eca.conv.weight.detach().reshape(-1)  # k = 3, padding 1: each channel sees itself and its neighbours
    gap = x.mean((2, 3))
    padded = torch.nn.functional.pad(gap, (1, 1))
    by_hand = torch.stack([(padded[:, c:c + 3] * w).sum(1) for c in range(16)], 1)
    want = x * torch.sigmoid(by_hand)[:, :, None, None]
    torch.testing.assert_close(eca(x), want)
    assert eca.conv.bias is None and sum(p.numel() for p in eca.parameters()) == 3
