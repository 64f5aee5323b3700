"""The export form of the deformable convolution: bilinear sampling and a grouped 1x1 convolution, for runtimes
that have no DeformConv (SCSFR's alignment, CIMNet §III-C, Eq. 12-13).

ONNX gained DeformConv only at opset 19; ONNX Runtime 1.23 (the newest with Python 3.10 wheels, the Python of
ROS 2 Humble and Jetson) has no kernel for it, and TensorRT and OpenVINO support it unevenly. Every one of them
runs GridSample (opset 16) and Conv, so the exported graph computes the same function from those.
Training and eager inference keep torchvision's kernel, which is faster and has the backward pass.

The function is torchvision's ``deform_conv2d``: tap (i, j) of output pixel (h, w) reads the input at
``y = h * stride - pad + i * dilation + dy``, ``x = w * stride - pad + j * dilation + dx``, where (dy, dx) are
channels 2k and 2k + 1 of the tap's offset group (k = i * kernel_w + j), bilinearly with zero for every neighbour
outside the image (so a tap at y <= -1 or y >= H reads zero), scaled by the mask when there is one; the taps are
then weighted as in an ordinary (grouped) convolution.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import DeformConv2d

__all__ = ["SampledDeformConv2d", "sampled_deform_conv2d", "with_sampled_deform_convs"]

Pair = int | tuple[int, int]


def _pair(value: Pair) -> tuple[int, int]:
    """Convolution geometry given either way, as (height, width)."""
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _tap_grid(offset: torch.Tensor, in_size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
              padding: tuple[int, int], dilation: tuple[int, int]) -> torch.Tensor:
    """GridSample's grid for every tap: (B * G) x (K^2 * Ho) x Wo x 2, as (x, y) normalised for
    align_corners=False, whose pixel centres sit at (2p + 1) / size - 1 and which is defined for a side of 1."""
    b, _, ho, wo = offset.shape
    kh, kw = kernel
    off = offset.reshape(b, -1, kh * kw, 2, ho, wo)  # B x G x K^2 x (dy, dx) x Ho x Wo
    dt, dev = offset.dtype, offset.device
    tap_i = torch.arange(kh, dtype=dt, device=dev).repeat_interleave(kw)  # tap k = i * kw + j, torchvision's order
    tap_j = torch.arange(kw, dtype=dt, device=dev).repeat(kh)
    base_y = (torch.arange(ho, dtype=dt, device=dev) * stride[0] - padding[0])[None, :] + (tap_i * dilation[0])[:, None]
    base_x = (torch.arange(wo, dtype=dt, device=dev) * stride[1] - padding[1])[None, :] + (tap_j * dilation[1])[:, None]
    y = off[:, :, :, 0] + base_y[:, :, None]  # B x G x K^2 x Ho x Wo
    x = off[:, :, :, 1] + base_x[:, None, :]
    grid = torch.stack([(2 * x + 1) / in_size[1] - 1, (2 * y + 1) / in_size[0] - 1], dim=-1)
    return grid.reshape(-1, kh * kw * ho, wo, 2)


def _sample_taps(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None, kernel: tuple[int, int],
                 stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int]) -> torch.Tensor:
    """The deformable im2col: B x (C * K^2) x Ho x Wo, channel c * K^2 + k holding tap k of input channel c."""
    b, c, h, w = x.shape
    _, _, ho, wo = offset.shape
    k2 = kernel[0] * kernel[1]
    groups = offset.shape[1] // (2 * k2)  # offset groups: each has its own offsets for its C / G channels
    grid = _tap_grid(offset, (h, w), kernel, stride, padding, dilation)
    # zero padding gives every neighbour outside the image a zero, exactly torchvision's bilinear rule
    taps = F.grid_sample(x.reshape(b * groups, c // groups, h, w), grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)
    taps = taps.reshape(b, groups, c // groups, k2, ho, wo)
    if mask is not None:
        taps = taps * mask.reshape(b, groups, 1, k2, ho, wo)
    return taps.reshape(b, c * k2, ho, wo)


def sampled_deform_conv2d(input: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                          bias: torch.Tensor | None = None, stride: Pair = 1, padding: Pair = 0, dilation: Pair = 1,
                          mask: torch.Tensor | None = None) -> torch.Tensor:
    """``torchvision.ops.deform_conv2d`` from GridSample and Conv (same arguments, same result to rounding).

    Args:
        input: B x C_in x H x W.
        offset: B x (2 * G * kh * kw) x Ho x Wo, (dy, dx) per tap and offset group G.
        weight: C_out x (C_in / groups) x kh x kw; ``groups`` follows from C_in, as in torchvision.
        bias: C_out, or None.
        stride, padding, dilation: as for a convolution.
        mask: B x (G * kh * kw) x Ho x Wo (DCN v2's modulation), or None.

    Returns:
        B x C_out x Ho x Wo.
    """
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    c_out, c_per_group, kh, kw = weight.shape
    cols = _sample_taps(input, offset, mask, (kh, kw), stride, padding, dilation)
    # the taps of a group's channels are that group's 1x1 input channels, in the order of weight.reshape
    kernel = weight.reshape(c_out, c_per_group * kh * kw, 1, 1)
    return F.conv2d(cols, kernel, bias, groups=input.shape[1] // c_per_group)


class SampledDeformConv2d(nn.Module):
    """A torchvision ``DeformConv2d`` computed by :func:`sampled_deform_conv2d`: the same parameters (shared,
    not copied) and the same forward signature, so it can stand in for one in an exported graph."""

    def __init__(self, conv: DeformConv2d) -> None:
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias
        self.stride, self.padding, self.dilation = _pair(conv.stride), _pair(conv.padding), _pair(conv.dilation)

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return sampled_deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                     mask)


def with_sampled_deform_convs(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose torchvision deformable convs are :class:`SampledDeformConv2d`; ``model`` itself
    keeps torchvision's kernel. Always a copy, so the caller may change it (cast it, say) freely."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, DeformConv2d):
                setattr(parent, name, SampledDeformConv2d(child))
    return model
