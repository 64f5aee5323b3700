"""Structural re-parameterisation (RSFNet §III-D; after RepVGG / Diverse Branch Block).

The RSF module's KxK convolution is trained as four parallel branches and deployed as one KxK convolution.
This module keeps the *pure* kernel transforms apart from the block that uses them, so each transform can be
tested on its own, and it provides the helpers that fold every BatchNorm of a network into its convolution.

All transforms work in the dtype of the incoming weights; convert a model to float64 first when exactness
matters more than speed (the tests do).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "fuse_conv_bn",
    "merge_1x1_then_kxk",
    "pad_kernel_to",
    "RepConvKxK",
    "fold_batchnorms",
    "ConvBNReLU",
    "to_pair",
]


def to_pair(values: tuple[int, ...]) -> tuple[int, int]:
    """A Conv2d stores its geometry as tuples of any length; rebuilding one needs them as (height, width)."""
    if len(values) != 2:
        raise ValueError(f"expected the (height, width) geometry of a 2-D convolution, got {values}")
    return values[0], values[1]


def fuse_conv_bn(
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    bn: nn.BatchNorm2d,
    *,
    out_channels: int | None = None,
    kernel_shape: tuple[int, int] = (1, 1),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm into the convolution in front of it.

    ``weight=None`` means an identity "convolution" (a BN with no conv before it); the identity kernel has
    the given ``kernel_shape`` and requires in_channels == out_channels.

    Returns:
        ``(weight', bias')`` with ``conv(x, weight') + bias' == bn(conv(x, weight) + bias)``.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fuse_conv_bn: the BatchNorm keeps no running statistics (track_running_stats=False)")
    std = (bn.running_var + bn.eps).sqrt()
    gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
    scale = gamma / std
    if weight is None:
        channels = out_channels if out_channels is not None else bn.num_features
        kh, kw = kernel_shape
        weight = torch.zeros(channels, channels, kh, kw, dtype=std.dtype, device=std.device)
        idx = torch.arange(channels, device=std.device)
        weight[idx, idx, kh // 2, kw // 2] = 1.0
    if bias is None:
        bias = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
    fused_w = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    fused_b = beta + (bias - bn.running_mean) * scale
    return fused_w, fused_b


def merge_1x1_then_kxk(
    w1: torch.Tensor, b1: torch.Tensor | None, w2: torch.Tensor, b2: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Collapse ``conv_w2(conv_w1(x))`` (1x1 first, no stride, groups 1) into one kernel.

    Exact only when the second convolution sees the first one's output with the same zero padding as it would
    see the raw input: a 1x1 conv with a bias produces ``b1`` (not 0) in the padded border, so a bias on the
    first conv is pushed through the second conv's *interior* taps only. We therefore require ``b1 is None``
    (the RSF sequential branches have no bias and no BN between their convs).

    Shapes: ``w1``: (M, C, 1, 1), ``w2``: (O, M, kh, kw) -> (O, C, kh, kw).
    """
    if b1 is not None and bool(torch.any(b1 != 0)):
        raise ValueError(
            "merge_1x1_then_kxk: the 1x1 conv has a non-zero bias; zero padding between the two convs makes "
            "the merge inexact at the borders"
        )
    if w1.shape[2:] != (1, 1):
        raise ValueError(f"merge_1x1_then_kxk: first kernel must be 1x1, got {tuple(w1.shape)}")
    if w2.shape[1] != w1.shape[0]:
        raise ValueError(
            f"merge_1x1_then_kxk: channel mismatch, first conv outputs {w1.shape[0]}, second expects {w2.shape[1]}"
        )
    merged = torch.einsum("omhw,mc->ochw", w2, w1[:, :, 0, 0])
    bias = b2 if b2 is not None else torch.zeros(w2.shape[0], dtype=w2.dtype, device=w2.device)
    return merged, bias


def pad_kernel_to(weight: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Zero-pad a (O, C, kh, kw) kernel centrally to ``kernel_size`` x ``kernel_size`` (both odd)."""
    kh, kw = weight.shape[2:]
    if kernel_size % 2 == 0 or kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"pad_kernel_to: kernel sizes must be odd, got {kh}x{kw} -> {kernel_size}")
    if kh > kernel_size or kw > kernel_size:
        raise ValueError(f"pad_kernel_to: cannot shrink a {kh}x{kw} kernel to {kernel_size}")
    ph, pw = (kernel_size - kh) // 2, (kernel_size - kw) // 2
    return F.pad(weight, [pw, pw, ph, ph])


class RepConvKxK(nn.Module):
    """The RSF module's re-parameterisable KxK block, same channels in and out, stride 1.

    Training form (``multi_branch=True``): ``BN(KxK(x)) + BN(1x1(x)) + 1xK(1x1(x)) + Kx1(1x1(x))``. The
    sequential branches have no BN or bias between their two convs so that merging them is exact at the
    borders (see :func:`merge_1x1_then_kxk`); their second conv carries a bias. With ``multi_branch=False``
    only the KxK + BN branch exists (the "no re-parameterisation" ablation of Table VI).

    Deploy form: one KxK conv with bias. :meth:`switch_to_deploy` is idempotent.
    """

    def __init__(self, channels: int, kernel_size: int = 5, *, multi_branch: bool = True) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"RepConvKxK: kernel_size must be a positive odd integer, got {kernel_size}")
        if channels < 1:
            raise ValueError(f"RepConvKxK: channels must be positive, got {channels}")
        self.channels = channels
        self.kernel_size = kernel_size
        self.multi_branch = multi_branch
        pad = kernel_size // 2
        self.kxk = nn.Conv2d(channels, channels, kernel_size, padding=pad, bias=False)
        self.kxk_bn = nn.BatchNorm2d(channels)
        if multi_branch:
            self.one = nn.Conv2d(channels, channels, 1, bias=False)
            self.one_bn = nn.BatchNorm2d(channels)
            self.row_reduce = nn.Conv2d(channels, channels, 1, bias=False)
            self.row = nn.Conv2d(channels, channels, (1, kernel_size), padding=(0, pad), bias=True)
            self.col_reduce = nn.Conv2d(channels, channels, 1, bias=False)
            self.col = nn.Conv2d(channels, channels, (kernel_size, 1), padding=(pad, 0), bias=True)
        self.deploy_conv: nn.Conv2d | None = None

    @property
    def deployed(self) -> bool:
        return self.deploy_conv is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy_conv is not None:
            return self.deploy_conv(x)
        y = self.kxk_bn(self.kxk(x))
        if self.multi_branch:
            y = y + self.one_bn(self.one(x))
            y = y + self.row(self.row_reduce(x))
            y = y + self.col(self.col_reduce(x))
        return y

    @torch.no_grad()
    def equivalent_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single KxK kernel and bias that reproduce the eval-mode training form."""
        if self.deploy_conv is not None:
            bias = self.deploy_conv.bias
            assert bias is not None
            return self.deploy_conv.weight.detach().clone(), bias.detach().clone()
        k = self.kernel_size
        weight, bias = fuse_conv_bn(self.kxk.weight, None, self.kxk_bn)
        if self.multi_branch:
            w1, b1 = fuse_conv_bn(self.one.weight, None, self.one_bn)
            weight = weight + pad_kernel_to(w1, k)
            bias = bias + b1
            for reduce, conv in ((self.row_reduce, self.row), (self.col_reduce, self.col)):
                wm, bm = merge_1x1_then_kxk(reduce.weight, None, conv.weight, conv.bias)
                weight = weight + pad_kernel_to(wm, k)
                bias = bias + bm
        return weight, bias

    @torch.no_grad()
    def switch_to_deploy(self) -> "RepConvKxK":
        if self.deploy_conv is not None:
            return self
        weight, bias = self.equivalent_kernel_bias()
        conv = nn.Conv2d(self.channels, self.channels, self.kernel_size, padding=self.kernel_size // 2, bias=True)
        conv = conv.to(device=weight.device, dtype=weight.dtype)
        conv.weight.copy_(weight)
        assert conv.bias is not None
        conv.bias.copy_(bias)
        self.deploy_conv = conv
        for name in ("kxk", "kxk_bn", "one", "one_bn", "row_reduce", "row", "col_reduce", "col"):
            if hasattr(self, name):
                delattr(self, name)
        return self


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) + BN + ReLU; :func:`fold_batchnorms` turns it into Conv (bias) + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, *, relu: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def _fused_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    weight, bias = fuse_conv_bn(conv.weight, conv.bias, bn)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        to_pair(conv.kernel_size),
        stride=to_pair(conv.stride),
        padding=conv.padding if isinstance(conv.padding, str) else to_pair(conv.padding),
        dilation=to_pair(conv.dilation),
        groups=conv.groups,
        bias=True,
        padding_mode=conv.padding_mode,
    ).to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        fused.weight.copy_(weight)
        assert fused.bias is not None
        fused.bias.copy_(bias)
    return fused


@torch.no_grad()
def fold_batchnorms(module: nn.Module, pairs: list[tuple[str, str]] | None = None) -> int:
    """Fold BatchNorms into the convolutions that directly feed them, in place.

    Without ``pairs`` the module tree is scanned for ``nn.Sequential`` containers in which a ``Conv2d`` is
    immediately followed by a ``BatchNorm2d`` (ConvBNReLU, ResNet downsample, the decoder blocks). With ``pairs``
    (attribute names relative to ``module``), exactly those (conv, bn) pairs are folded: torchvision's ResNet
    blocks keep conv and BN as sibling attributes rather than in a Sequential.

    The BN is replaced by ``nn.Identity`` so the module's ``forward`` stays valid.

    Returns:
        How many BatchNorms were folded.
    """
    folded = 0
    if pairs is not None:
        for conv_name, bn_name in pairs:
            conv = module.get_submodule(conv_name)
            bn = module.get_submodule(bn_name)
            if isinstance(bn, nn.Identity):
                continue  # already folded
            if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
                raise TypeError(f"fold_batchnorms: {conv_name}/{bn_name} is not a Conv2d/BatchNorm2d pair")
            _set_submodule(module, conv_name, _fused_conv(conv, bn))
            _set_submodule(module, bn_name, nn.Identity())
            folded += 1
        return folded
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules.keys())
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq._modules[a] = _fused_conv(conv, bn)
                seq._modules[b] = nn.Identity()
                folded += 1
    return folded


def _set_submodule(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, leaf = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, new)
