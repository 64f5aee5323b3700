"""RSFNet: Residual Spatial Fusion Network for RGB-thermal segmentation (RSFNet paper §III).

Encoder (asymmetric pair) -> per-stage recalibration -> per-stage fusion (RSF, or the sum/concat ablations)
-> two-stream decoder -> head on the sum of the streams' stride-4 outputs -> logits at input size.

Calling conventions:
  * ``model(rgb, thermal)`` with rgb ``B x 3 x H x W`` and thermal ``B x 1 x H x W``, floats in [0, 1], any H, W.
  * train mode returns :class:`TrainOutput` (main and auxiliary logits, confidences);
    eval mode returns the logits tensor ``B x C x H x W``.
  * :meth:`RSFNet.forward_with_gates` (any mode, no aux heads) returns
    :class:`~rgbt_seg_core.models.contract.GatedOutput` with the two confidences and per-stage spatial gate maps:
    what the ROS node publishes.
  * :meth:`RSFNet.reparameterize` converts in place to the deploy form and returns the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_seg_core.models.contract import GatedOutput, SegmentationModel
from rgbt_seg_core.models.encoders import build_encoder, encoder_names
from rgbt_seg_core.models.layers.gates import GATE_MODES, gate_weights
from rgbt_seg_core.models.layers.reparam import RepConvKxK, fold_batchnorms
from rgbt_seg_core.models.rsfnet.decoder import DecoderStream
from rgbt_seg_core.models.rsfnet.fusion import ConcatFusion, ConfidenceHead, Recalibration, RSFBlock, SumFusion
from rgbt_seg_core.models.rsfnet.heads import SegHead

__all__ = ["RSFNetConfig", "RSFNet", "TrainOutput"]

FUSIONS = ("rsf", "sum", "concat")
MODALITIES = ("rgbt", "rgb", "thermal")
CNN_ENCODER_NAMES = tuple(encoder_names("resnet", "densenet", "vgg"))  # RSFNet §III-B: the CNN backbones


@dataclass(frozen=True)
class RSFNetConfig:
    """Every architectural choice; stored verbatim in checkpoints so a model can be rebuilt from its file."""

    rgb_encoder: str = "resnet50"
    thermal_encoder: str = "resnet18"
    num_classes: int = 9
    kernel_size: int = 5  # the RSF block's spatial KxK kernel
    reduced_dim: int = 64  # the RSF block's squeezed width
    gate: bool = True  # weight each modality by its confidence gate
    gate_mode: str = "normalized"  # normalized (the authors' code) or raw (the paper's equation)
    multi_branch: bool = True  # re-parameterisable KxK + 1x1 + identity branches while training
    fusion: str = "rsf"  # rsf, or the sum / concat ablations
    confidence_heads: bool = True  # predict per-modality confidences (trained on pseudo-labels)
    modalities: str = "rgbt"  # rgbt, or one encoder only (rgb / thermal)
    fusion_channels: tuple[int, int, int, int] = field(default=(64, 128, 256, 256))  # fusion width per stage

    def __post_init__(self) -> None:
        def bad(name: str, value: Any, allowed: str) -> ValueError:
            return ValueError(f"RSFNet option {name}={value!r} is invalid: expected {allowed}")

        for name in ("rgb_encoder", "thermal_encoder"):
            if getattr(self, name) not in CNN_ENCODER_NAMES:
                raise bad(name, getattr(self, name), "one of " + ", ".join(sorted(CNN_ENCODER_NAMES)))
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise bad("num_classes", self.num_classes, "an integer >= 2")
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise bad("kernel_size", self.kernel_size, "a positive odd integer (3, 5, 7, 9 in the paper)")
        if not isinstance(self.reduced_dim, int) or self.reduced_dim < 1:
            raise bad("reduced_dim", self.reduced_dim, "a positive integer (32..256 in the paper)")
        if self.fusion not in FUSIONS:
            raise bad("fusion", self.fusion, " | ".join(FUSIONS))
        if self.modalities not in MODALITIES:
            raise bad("modalities", self.modalities, " | ".join(MODALITIES))
        if self.gate_mode not in GATE_MODES:
            raise bad("gate_mode", self.gate_mode, " | ".join(GATE_MODES))
        if len(self.fusion_channels) != 4 or any(int(c) < 1 for c in self.fusion_channels):
            raise bad("fusion_channels", self.fusion_channels, "four positive integers")
        object.__setattr__(self, "fusion_channels", tuple(int(c) for c in self.fusion_channels))

    @property
    def uses_gate(self) -> bool:
        """The gate needs both confidences; without confidence heads (or with one modality) g == 1."""
        return self.gate and self.confidence_heads and self.modalities == "rgbt" and self.fusion == "rsf"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fusion_channels"] = list(self.fusion_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RSFNetConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown RSFNet options: {', '.join(sorted(unknown))}")
        d = dict(d)
        if "fusion_channels" in d:
            d["fusion_channels"] = tuple(d["fusion_channels"])
        return cls(**d)


class TrainOutput(NamedTuple):
    logits: torch.Tensor  # B x C x H x W
    aux8: torch.Tensor  # B x C x H x W (deep supervision on the stride-8 sum)
    aux16: torch.Tensor  # B x C x H x W (stride-16 sum)
    confidence: torch.Tensor | None  # B x 2 (rgb, thermal); NaN column for an absent modality; None w/o heads


class RSFNet(SegmentationModel):
    """See module docstring. Build through :func:`rgbt_seg_core.build_model` rather than directly."""

    family = "rsfnet"
    pad_multiple = 32

    def __init__(self, config: RSFNetConfig, *, pretrained: bool | str = False) -> None:
        super().__init__()
        self.config = config
        self.deployed = False
        cfg = config
        fc = cfg.fusion_channels
        self.has_rgb = cfg.modalities in ("rgbt", "rgb")
        self.has_thermal = cfg.modalities in ("rgbt", "thermal")

        self.rgb_encoder = (
            build_encoder(cfg.rgb_encoder, in_channels=3, pretrained=pretrained) if self.has_rgb else None
        )
        self.thermal_encoder = (
            build_encoder(cfg.thermal_encoder, in_channels=1, pretrained=pretrained) if self.has_thermal else None
        )
        if self.rgb_encoder is not None:
            self.rgb_recal = nn.ModuleList(Recalibration(c, o) for c, o in zip(self.rgb_encoder.stage_channels, fc))
            self.rgb_confidence = ConfidenceHead(self.rgb_encoder.stage_channels[3]) if cfg.confidence_heads else None
        if self.thermal_encoder is not None:
            self.thermal_recal = nn.ModuleList(
                Recalibration(c, o) for c, o in zip(self.thermal_encoder.stage_channels, fc)
            )
            self.thermal_confidence = (
                ConfidenceHead(self.thermal_encoder.stage_channels[3]) if cfg.confidence_heads else None
            )

        self.fusion: nn.ModuleList | None = None
        if cfg.modalities == "rgbt":
            if cfg.fusion == "rsf":
                self.fusion = nn.ModuleList(
                    RSFBlock(c, cfg.reduced_dim, cfg.kernel_size, multi_branch=cfg.multi_branch) for c in fc
                )
            elif cfg.fusion == "sum":
                self.fusion = nn.ModuleList(SumFusion() for _ in fc)
            else:
                self.fusion = nn.ModuleList(ConcatFusion(c) for c in fc)

        n_streams = 2 if cfg.modalities == "rgbt" else 1
        decoders = [DecoderStream(fc) for _ in range(n_streams)]
        self.decoders = nn.ModuleList(decoders)
        c16, c8, c4 = decoders[0].out_channels
        self.head = SegHead(c4, cfg.num_classes)
        self.aux_head8: SegHead | None = SegHead(c8, cfg.num_classes)
        self.aux_head16: SegHead | None = SegHead(c16, cfg.num_classes)

    # ------------------------------------------------------------------ forward
    def _check_inputs(self, rgb: torch.Tensor | None, thermal: torch.Tensor | None) -> tuple[int, int, int]:
        ref = rgb if rgb is not None else thermal
        if self.has_rgb and (rgb is None or rgb.dim() != 4 or rgb.shape[1] != 3):
            raise ValueError(f"RSFNet: rgb must be B x 3 x H x W, got {None if rgb is None else tuple(rgb.shape)}")
        if self.has_thermal and (thermal is None or thermal.dim() != 4 or thermal.shape[1] != 1):
            raise ValueError(
                f"RSFNet: thermal must be B x 1 x H x W, got {None if thermal is None else tuple(thermal.shape)}"
            )
        if self.has_rgb and self.has_thermal:
            assert rgb is not None and thermal is not None
            if rgb.shape[0] != thermal.shape[0] or rgb.shape[2:] != thermal.shape[2:]:
                raise ValueError(
                    f"RSFNet: rgb {tuple(rgb.shape)} and thermal {tuple(thermal.shape)} differ in batch or size"
                )
        assert ref is not None
        return ref.shape[0], ref.shape[2], ref.shape[3]

    def _pad(self, x: torch.Tensor | None, h: int, w: int) -> torch.Tensor | None:
        if x is None:
            return None
        ph, pw = (-h) % self.pad_multiple, (-w) % self.pad_multiple
        # zero padding on the bottom/right keeps every feature aligned with the top-left origin. Always a pad op, even
        # of 0: a graph exported at a multiple of the stride must still pad other sizes (a conditional pad is
        # traced away there, and ONNX Runtime then ran unpadded frames, 5 % off in the logits)
        return F.pad(x, [0, pw, 0, ph])

    def _features(
        self, rgb: torch.Tensor | None, thermal: torch.Tensor | None, want_gates: bool
    ) -> tuple[list[list[torch.Tensor]], torch.Tensor | None, tuple[torch.Tensor, ...]]:
        """Encoders + recalibration + fusion: per-stream fused features, confidences, gate maps."""
        cfg = self.config
        feats_r = self.rgb_encoder(rgb) if self.rgb_encoder is not None else None
        feats_t = self.thermal_encoder(thermal) if self.thermal_encoder is not None else None
        ref = feats_r if feats_r is not None else feats_t
        assert ref is not None
        batch = ref[0].shape[0]

        confidence = None
        p_r = p_t = None
        if cfg.confidence_heads:
            nan = ref[3].new_full((batch,), float("nan"))
            # confidence_heads built a head for every encoder that exists, so a missing head means a missing stream
            p_r = nan if feats_r is None or self.rgb_confidence is None else self.rgb_confidence(feats_r[3])
            p_t = nan if feats_t is None or self.thermal_confidence is None else self.thermal_confidence(feats_t[3])
            confidence = torch.stack([p_r, p_t], dim=1)

        if feats_r is not None:
            feats_r = [m(f) for m, f in zip(self.rgb_recal, feats_r)]
        if feats_t is not None:
            feats_t = [m(f) for m, f in zip(self.thermal_recal, feats_t)]
        if self.fusion is None:
            only = feats_r if feats_r is not None else feats_t
            assert only is not None
            return [only], confidence, ()

        assert feats_r is not None and feats_t is not None
        if cfg.uses_gate:
            assert p_r is not None and p_t is not None
            g_r, g_t = gate_weights(p_r, p_t, cfg.gate_mode)
        else:
            g_r = g_t = ref[3].new_ones(batch)
        out_r, out_t, gates = [], [], []
        for block, fr, ft in zip(self.fusion, feats_r, feats_t):
            if isinstance(block, RSFBlock):
                a, b, maps = block(fr, ft, g_r, g_t)
                if want_gates:
                    gates.append(maps * torch.stack([g_r, g_t], dim=1).view(-1, 2, 1, 1))
            else:
                a, b = block(fr, ft)
            out_r.append(a)
            out_t.append(b)
        return [out_r, out_t], confidence, tuple(gates)

    def _decode(self, streams: list[list[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        outs = [dec(feats) for dec, feats in zip(self.decoders, streams)]
        d16 = torch.stack([o[0] for o in outs]).sum(0) if len(outs) > 1 else outs[0][0]
        d8 = torch.stack([o[1] for o in outs]).sum(0) if len(outs) > 1 else outs[0][1]
        d4 = torch.stack([o[2] for o in outs]).sum(0) if len(outs) > 1 else outs[0][2]
        return d16, d8, d4

    @staticmethod
    def _to_input(logits: torch.Tensor, padded: tuple[int, int], h: int, w: int) -> torch.Tensor:
        logits = F.interpolate(logits, size=padded, mode="bilinear", align_corners=False)
        return logits[:, :, :h, :w]

    def _prepare(
        self, rgb: torch.Tensor | None, thermal: torch.Tensor | None
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, int, int, tuple[int, int]]:
        """Validated, padded inputs; the input size and the padded size."""
        _, h, w = self._check_inputs(rgb, thermal)
        rgb_p, thm_p = self._pad(rgb, h, w), self._pad(thermal, h, w)
        ref = rgb_p if rgb_p is not None else thm_p
        assert ref is not None
        return rgb_p, thm_p, h, w, (ref.shape[2], ref.shape[3])

    def forward(self, rgb: torch.Tensor | None, thermal: torch.Tensor | None) -> torch.Tensor | TrainOutput:
        rgb_p, thm_p, h, w, padded = self._prepare(rgb, thermal)
        streams, confidence, _ = self._features(rgb_p, thm_p, want_gates=False)
        d16, d8, d4 = self._decode(streams)
        logits = self._to_input(self.head(d4), padded, h, w)
        if not self.training:
            return logits
        if self.deployed or self.aux_head8 is None or self.aux_head16 is None:
            raise RuntimeError("RSFNet: a deployed (re-parameterised) model is inference-only; call .eval()")
        aux8 = self._to_input(self.aux_head8(d8), padded, h, w)
        aux16 = self._to_input(self.aux_head16(d16), padded, h, w)
        return TrainOutput(logits, aux8, aux16, confidence)

    def forward_with_gates(self, rgb: torch.Tensor | None, thermal: torch.Tensor | None) -> GatedOutput:
        """Logits plus what explains them: confidences and per-stage spatial gate maps (cropped to the input)."""
        rgb_p, thm_p, h, w, padded = self._prepare(rgb, thermal)
        streams, confidence, gates = self._features(rgb_p, thm_p, want_gates=True)
        _, _, d4 = self._decode(streams)
        logits = self._to_input(self.head(d4), padded, h, w)
        # each stage map covers the padded frame; crop it to the part that corresponds to the input
        cropped = tuple(
            g[:, :, : -(-h * g.shape[2] // padded[0]), : -(-w * g.shape[3] // padded[1])] for g in gates
        )
        return GatedOutput(logits, confidence, cropped)

    # ------------------------------------------------------------------ deploy
    @torch.no_grad()
    def reparameterize(self) -> "RSFNet":
        """Convert in place to the deploy form: one KxK conv per RSF block, BN folded, no aux heads or dropout.

        Idempotent. Leaves the model in eval mode (a deployed model is inference-only).
        """
        if self.deployed:
            return self.eval()
        for m in self.modules():
            if isinstance(m, RepConvKxK):
                m.switch_to_deploy()
        for enc in (self.rgb_encoder, self.thermal_encoder):
            if enc is not None:
                enc.fold_batchnorms()
        fold_batchnorms(self)
        self.aux_head8 = None
        self.aux_head16 = None
        self.head.strip_dropout()
        self.deployed = True
        return self.eval()

    def train(self, mode: bool = True) -> "RSFNet":
        if mode and self.deployed:
            raise RuntimeError("RSFNet: a deployed (re-parameterised) model cannot be put in train mode")
        return super().train(mode)

    # ------------------------------------------------------------------ introspection
    def parameter_groups(self) -> dict[str, int]:
        """Parameter counts: RGB encoder, thermal encoder, everything else (fusion, decoder, heads)."""
        def count(m: nn.Module | None) -> int:
            return sum(p.numel() for p in m.parameters()) if m is not None else 0

        total = count(self)
        rgb = count(self.rgb_encoder)
        thm = count(self.thermal_encoder)
        return {"total": total, "rgb_encoder": rgb, "thermal_encoder": thm, "rest": total - rgb - thm}

    def encoders(self) -> list[nn.Module]:
        return [e for e in (self.rgb_encoder, self.thermal_encoder) if e is not None]
