"""Mix Transformer (MiT, SegFormer's encoder) as a four-stage encoder, for CIMNet's MFNet model (CIMNet §V-C).

Built from a ``transformers`` ``SegformerConfig`` in code, so nothing is downloaded: the B0..B5 sizes are the
SegFormer paper's (hidden sizes, depths, heads, reduction ratios). It follows the contract of
:class:`~rgbt_seg_core.models.encoders.cnn.Encoder`: ``stages`` (each takes and returns B x C x H x W),
``stage_channels``, ``stage_strides`` and ``fold_batchnorms`` (MiT has LayerNorms only, so there is nothing to
fold). ``in_channels=1`` sums the first patch embedding's kernel over RGB, as for the CNN encoders.

ImageNet weights are the ones NVIDIA published as ``nvidia/mit-b4`` (and -b0..-b5): ``pretrained`` takes a
folder holding that release (``config.json`` and the weights, as ``save_pretrained`` writes them), or
``"imagenet"`` to read it from the Hugging Face cache, which an offline machine has only if it was copied there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from rgbt_seg_core.models.encoders.cnn import STAGE_STRIDES, adapt_first_conv, stage_features

__all__ = ["MIT_SIZES", "MiTEncoder", "build_mit_encoder"]

# SegFormer paper, Table 6 / the released configs: hidden sizes, depths; heads and sr ratios are shared by all sizes
MIT_SIZES: dict[str, tuple[tuple[int, int, int, int], tuple[int, int, int, int]]] = {
    "mit_b0": ((32, 64, 160, 256), (2, 2, 2, 2)),
    "mit_b1": ((64, 128, 320, 512), (2, 2, 2, 2)),
    "mit_b2": ((64, 128, 320, 512), (3, 4, 6, 3)),
    "mit_b3": ((64, 128, 320, 512), (3, 4, 18, 3)),
    "mit_b4": ((64, 128, 320, 512), (3, 8, 27, 3)),
    "mit_b5": ((64, 128, 320, 512), (3, 6, 40, 3)),
}


def _transformers() -> Any:
    try:
        from transformers import SegformerConfig, SegformerModel
    except ImportError as exc:
        raise ImportError(f"MiT encoders need transformers >= 5 ({exc}); pip install '.[mit]'") from None
    return SegformerConfig, SegformerModel


def _local_folder(source: str) -> str:
    """A folder as it is; a Hugging Face id as its folder in the local cache. ``from_pretrained`` given an id looks
    the hub up (a DNS query for huggingface.co) even with ``local_files_only``; the hub's own cache lookup with
    ``local_files_only`` does not, and raises OSError (LocalEntryNotFoundError) where the files are not there."""
    if Path(source).exists():
        return source
    from huggingface_hub import snapshot_download

    return snapshot_download(source, local_files_only=True)


def _segformer(name: str, in_channels: int, pretrained: bool | str | Path) -> nn.Module:
    SegformerConfig, SegformerModel = _transformers()
    hidden, depths = MIT_SIZES[name]
    if pretrained:
        source = f"nvidia/{name.replace('_', '-')}" if str(pretrained) in ("imagenet", "True") else str(pretrained)
        try:
            model = SegformerModel.from_pretrained(_local_folder(source), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise RuntimeError(
                f"could not load MiT weights for {name} from {source!r}: {exc}. Pass pretrained=<folder> holding "
                f"the nvidia/{name.replace('_', '-')} release (config.json and model.safetensors)") from None
        got = tuple(model.config.hidden_sizes), tuple(model.config.depths)
        if got != (hidden, depths):
            raise ValueError(f"{source}: a MiT with hidden sizes {got[0]} and depths {got[1]}, not {name}")
    else:
        config = SegformerConfig(num_channels=3, hidden_sizes=list(hidden), depths=list(depths),
                                 num_attention_heads=[1, 2, 5, 8], sr_ratios=[8, 4, 2, 1], drop_path_rate=0.1)
        model = SegformerModel(config)
    first = _stages(model)[0].get_submodule("patch_embeddings")
    proj = first.get_submodule("proj")
    if not isinstance(proj, nn.Conv2d):
        raise TypeError(f"{name}: the patch embedding's projection is a {type(proj).__name__}, not a Conv2d")
    first.proj = adapt_first_conv(proj, in_channels)
    return model


def _stages(model: nn.Module) -> nn.ModuleList:
    stages = getattr(model, "stages", None)
    if not isinstance(stages, nn.ModuleList):
        raise ImportError("MiT encoders need transformers >= 5 (its Segformer has per-stage modules); "
                          "pip install -U transformers")
    return stages


class MiTEncoder(nn.Module):
    """A SegFormer encoder cut into its four stages (strides 4, 8, 16, 32)."""

    def __init__(self, name: str, *, in_channels: int = 3, pretrained: bool | str | Path = False) -> None:
        super().__init__()
        if name not in MIT_SIZES:
            raise ValueError(f"unknown MiT encoder {name!r}; available: {', '.join(MIT_SIZES)}")
        self.name = name
        self.stages = _stages(_segformer(name, in_channels, pretrained))
        self.stage_channels = MIT_SIZES[name][0]
        self.stage_strides = STAGE_STRIDES
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return stage_features(self.stages, x)

    def fold_batchnorms(self) -> int:
        return 0  # LayerNorms act on tokens, not on a preceding conv's channels: nothing can be folded


def build_mit_encoder(name: str, *, in_channels: int = 3, pretrained: bool | str | Path = False) -> MiTEncoder:
    return MiTEncoder(name, in_channels=in_channels, pretrained=pretrained)
