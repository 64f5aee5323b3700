"""Backbone encoders returning four stage features at strides 4, 8, 16, 32 (RSFNet §III-B, asymmetric encoders).

Contract (in the manner of segmentation_models.pytorch): ``encoder(x)`` returns a list ``[F1, F2, F3, F4]``;
``encoder.stage_channels`` and ``encoder.stage_strides`` describe them and a test checks both against a real
forward pass. ``in_channels=1`` adapts the first convolution for a thermal image by summing the ImageNet
kernel over its three input channels, which is exactly "feed the thermal image three times" at a third of the
cost.

Stage taps (the paper names only the ResNet ones; the others are our choice, documented in docs/model.md):
  * ResNet: after layer1..layer4.
  * DenseNet: after denseblock1..3 (before the transition's BN/ReLU/conv/pool) and after norm5.
  * VGG: after the 2nd..5th max-pool (every conv layer is used; no BN in the paper's VGG).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torchvision
from torch import nn

from rgbt_seg_core.models.layers.reparam import fold_batchnorms, to_pair

__all__ = ["EncoderSpec", "ENCODERS", "build_cnn_encoder", "Encoder", "adapt_first_conv"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderSpec:
    """What the fusion network needs to know about a backbone before building it."""

    name: str
    family: str  # "resnet" | "densenet" | "vgg"
    stage_channels: tuple[int, int, int, int]
    builder: Callable[..., nn.Module]
    weights_enum: str  # torchvision weights enum name, e.g. "ResNet50_Weights"


ENCODERS: dict[str, EncoderSpec] = {
    "resnet18": EncoderSpec("resnet18", "resnet", (64, 128, 256, 512), torchvision.models.resnet18, "ResNet18_Weights"),
    "resnet34": EncoderSpec("resnet34", "resnet", (64, 128, 256, 512), torchvision.models.resnet34, "ResNet34_Weights"),
    "resnet50": EncoderSpec(
        "resnet50", "resnet", (256, 512, 1024, 2048), torchvision.models.resnet50, "ResNet50_Weights"
    ),
    "resnet101": EncoderSpec(
        "resnet101", "resnet", (256, 512, 1024, 2048), torchvision.models.resnet101, "ResNet101_Weights"
    ),
    "densenet121": EncoderSpec(
        "densenet121", "densenet", (256, 512, 1024, 1024), torchvision.models.densenet121, "DenseNet121_Weights"
    ),
    "densenet161": EncoderSpec(
        "densenet161", "densenet", (384, 768, 2112, 2208), torchvision.models.densenet161, "DenseNet161_Weights"
    ),
    "vgg16": EncoderSpec("vgg16", "vgg", (128, 256, 512, 512), torchvision.models.vgg16, "VGG16_Weights"),
    "vgg19": EncoderSpec("vgg19", "vgg", (128, 256, 512, 512), torchvision.models.vgg19, "VGG19_Weights"),
}

STAGE_STRIDES = (4, 8, 16, 32)


def stage_features(stages: nn.ModuleList, x: torch.Tensor) -> list[torch.Tensor]:
    """Each stage's output, the next stage's input: the four features every encoder returns."""
    feats = []
    for stage in stages:
        x = stage(x)
        feats.append(x)
    return feats


def adapt_first_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """Return a copy of ``conv`` taking ``in_channels`` inputs; for 1 channel the kernel is summed over RGB.

    Summation is exact: ``conv(x.repeat(1, 3, 1, 1), W) == conv(x, W.sum(1, keepdim=True))``.
    """
    if in_channels == conv.in_channels:
        return conv
    if in_channels != 1:
        raise ValueError(f"adapt_first_conv: only 1 or {conv.in_channels} input channels supported, got {in_channels}")
    new = nn.Conv2d(
        1,
        conv.out_channels,
        to_pair(conv.kernel_size),
        stride=to_pair(conv.stride),
        padding=conv.padding if isinstance(conv.padding, str) else to_pair(conv.padding),
        dilation=to_pair(conv.dilation),
        bias=conv.bias is not None,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
        if conv.bias is not None:
            assert new.bias is not None
            new.bias.copy_(conv.bias)
    return new


def _imagenet_state_dict(spec: EncoderSpec, pretrained: str | Path) -> dict[str, torch.Tensor]:
    """ImageNet weights from torchvision's cache/download ("imagenet") or from a local file or folder.

    A folder is searched for ``<name>.pth``, ``<name>.safetensors`` or torchvision's cached
    ``<name>-<hash>.pth`` (the layout of ``$TORCH_HOME/hub/checkpoints``), so users can copy that folder from an
    online machine.
    """
    if str(pretrained) == "imagenet":
        enum = getattr(torchvision.models, spec.weights_enum).IMAGENET1K_V1
        try:
            return enum.get_state_dict(progress=False)
        except Exception as exc:  # network or cache failure: say what to do instead
            raise RuntimeError(
                f"could not load ImageNet weights for {spec.name} ({enum.url}): {exc}. Offline machines can pass "
                f"pretrained=<folder> holding {spec.name}.pth or torchvision's cached file"
            ) from exc
    path = Path(pretrained)
    if path.is_dir():
        candidates = sorted(
            [*path.glob(f"{spec.name}.pth"), *path.glob(f"{spec.name}.safetensors"), *path.glob(f"{spec.name}-*.pth")]
        )
        if not candidates:
            raise FileNotFoundError(
                f"no ImageNet weights for {spec.name} in {path} (expected {spec.name}.pth, {spec.name}.safetensors "
                f"or {spec.name}-<hash>.pth)"
            )
        path = candidates[0]
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {path}")
    if path.suffix == ".safetensors":
        from rgbt_seg_core.utils.safetensors_io import SafetensorsError, read_header, read_tensor

        with open(path, "rb") as f:
            try:
                header = read_header(f, path.stat().st_size)
                return {name: read_tensor(f, info) for name, info in header.tensors.items()}
            except SafetensorsError as exc:
                raise ValueError(f"{path}: {exc}") from exc
    # weights_only: never unpickle arbitrary objects from a downloaded file
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


class Encoder(nn.Module):
    """A torchvision backbone cut into four stages (see module docstring)."""

    def __init__(self, spec: EncoderSpec, *, in_channels: int = 3, pretrained: bool | str | Path = False) -> None:
        super().__init__()
        self.spec = spec
        self.stage_channels = spec.stage_channels
        self.stage_strides = STAGE_STRIDES
        net = spec.builder(weights=None)
        if pretrained:
            state = _imagenet_state_dict(spec, "imagenet" if pretrained is True else pretrained)
            missing, unexpected = net.load_state_dict(state, strict=False)
            real_missing = [k for k in missing if not k.startswith(("fc.", "classifier."))]
            if real_missing or unexpected:
                raise ValueError(
                    f"ImageNet weights do not fit {spec.name}: missing {real_missing[:5]}, unexpected {unexpected[:5]}"
                )
            log.info("loaded ImageNet weights into %s", spec.name)
        self.stages = nn.ModuleList(self._cut(net, spec.family))
        self._adapt_input(in_channels)
        self.in_channels = in_channels

    @staticmethod
    def _cut(net: nn.Module, family: str) -> list[nn.Module]:
        def seq(*names: str) -> nn.Sequential:  # get_submodule names the missing child if torchvision renames one
            return nn.Sequential(*(net.get_submodule(name) for name in names))

        if family == "resnet":
            stem = seq("conv1", "bn1", "relu", "maxpool", "layer1")
            return [stem, *(net.get_submodule(name) for name in ("layer2", "layer3", "layer4"))]
        if family == "densenet":
            return [
                seq("features.conv0", "features.norm0", "features.relu0", "features.pool0", "features.denseblock1"),
                seq("features.transition1", "features.denseblock2"),
                seq("features.transition2", "features.denseblock3"),
                seq("features.transition3", "features.denseblock4", "features.norm5"),
            ]
        if family == "vgg":
            layers = list(net.get_submodule("features").children())
            pools = [i for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d)]
            cuts = [0, pools[1] + 1, pools[2] + 1, pools[3] + 1, pools[4] + 1]
            return [nn.Sequential(*layers[a:b]) for a, b in zip(cuts, cuts[1:])]
        raise ValueError(f"unknown encoder family {family!r}")

    def _adapt_input(self, in_channels: int) -> None:
        first = self.stages[0]
        assert isinstance(first, nn.Sequential)
        if not isinstance(first[0], nn.Conv2d):
            raise TypeError(f"{self.spec.name}: first stage does not start with a Conv2d")
        first[0] = adapt_first_conv(first[0], in_channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return stage_features(self.stages, x)

    @torch.no_grad()
    def fold_batchnorms(self) -> int:
        """Fold every BN that directly follows a conv; DenseNet's pre-activation BNs stay (see docs/model.md)."""
        folded = fold_batchnorms(self)  # Sequential pairs: stems, downsample branches, transitions
        if self.spec.family == "resnet":
            pairs = []
            for name, mod in self.named_modules():
                if isinstance(mod, (torchvision.models.resnet.BasicBlock, torchvision.models.resnet.Bottleneck)):
                    n_convs = 3 if isinstance(mod, torchvision.models.resnet.Bottleneck) else 2
                    pairs += [(f"{name}.conv{i}", f"{name}.bn{i}") for i in range(1, n_convs + 1)]
            folded += fold_batchnorms(self, pairs)
        elif self.spec.family == "densenet":
            # inside a dense layer conv1 feeds norm2 directly; norm1 and the transitions' BNs follow a
            # concatenation or start a pre-activation unit, so no single conv can absorb them
            pairs = [
                (f"{name}.conv1", f"{name}.norm2")
                for name, mod in self.named_modules()
                if isinstance(mod, torchvision.models.densenet._DenseLayer)
            ]
            folded += fold_batchnorms(self, pairs)
        return folded


def build_cnn_encoder(name: str, *, in_channels: int = 3, pretrained: bool | str | Path = False) -> Encoder:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; available: {', '.join(sorted(ENCODERS))}")
    return Encoder(ENCODERS[name], in_channels=in_channels, pretrained=pretrained)
