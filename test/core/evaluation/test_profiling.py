"""MAC counting (one per weight tap per output element, thop's convention behind the papers' FLOPs columns) and
the model summary."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import DeformConv2d

from rgbt_seg_core.evaluation.profiling import count_macs, model_summary


class TwoInputs(nn.Module):
    """RGB and thermal in, as every model here takes them."""

    def __init__(self) -> None:
        super().__init__()
        self.rgb = nn.Conv2d(3, 4, 3, padding=1)
        self.thermal = nn.Conv2d(1, 4, 1, bias=False)
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.head = nn.Linear(8, 5)
        self.bn = nn.BatchNorm2d(8)  # not counted

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.grouped(torch.cat([self.rgb(rgb), self.thermal(thermal)], 1)))
        return self.head(x.mean((2, 3)))


def _expected(h: int, w: int) -> int:
    hw = h * w
    return 4 * hw * 3 * 9 + 4 * hw * 1 * 1 + 8 * hw * 2 * 9 + 5 * 8


def test_counts_convolutions_grouped_ones_and_linears() -> None:
    model = TwoInputs()
    assert count_macs(model, (torch.zeros(1, 3, 6, 10), torch.zeros(1, 1, 6, 10))) == _expected(6, 10)
    assert count_macs(model, (torch.zeros(2, 3, 6, 10), torch.zeros(2, 1, 6, 10))) == 2 * _expected(6, 10)
    assert not any(m._forward_hooks for m in model.modules())  # the hooks are removed


def test_counts_deformable_convolutions() -> None:
    class Deform(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = DeformConv2d(2, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            offset = torch.zeros(x.shape[0], 2 * 9, *x.shape[2:])
            return self.conv(x, offset)

    assert count_macs(Deform(), (torch.zeros(1, 2, 4, 5),)) == 3 * 20 * 2 * 9


def test_summary_keeps_the_mode_and_uses_parameter_groups() -> None:
    model = TwoInputs().train()
    summary = model_summary(model, 8, 12)
    assert model.training and summary["macs"] == _expected(8, 12) and summary["input"] == [8, 12]
    assert summary["params"] == {"total": sum(p.numel() for p in model.parameters())}
    model.parameter_groups = lambda: {"encoder": 1, "decoder": 2}
    assert model_summary(model.eval(), 4, 4)["params"] == {"encoder": 1, "decoder": 2} and not model.training
