"""CIMNet (the second seed system): two encoders, CIPA after stage 1, an SCSFR at every stage whose rectified
streams feed the next stage, an FFM per stage, and the all-MLP decoder (CIMNet §III, Fig. 5).

Training returns the logits and the MI estimate; the loss is CE + beta * L_mi with beta learnable, initialised at
0.1 (§III-F; beta lives in the model, so it is saved and resumed with it, and is kept >= 0). The ablation switches
``mir``, ``msm``, ``swr`` and ``cwr`` remove exactly their modules (Table III rows; ``mir=msm=False`` keeps
CIPA's channel attention, all four off is the baseline row). CIMNet has no confidence gates: the node publishes
labels, colour and overlay for it, and no gate or confidence topics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rgbt_seg_core.models.cimnet.cipa import CIPA
from rgbt_seg_core.models.cimnet.ffm import FFM
from rgbt_seg_core.models.cimnet.mlp_decoder import MLPDecoder
from rgbt_seg_core.models.cimnet.scsfr import SCSFR
from rgbt_seg_core.models.contract import GatedOutput, SegmentationModel
from rgbt_seg_core.models.encoders import Encoder, MiTEncoder, build_encoder, encoder_names

__all__ = ["CIMNet", "CIMNetConfig", "CIMTrainOutput"]


@dataclass(frozen=True)
class CIMNetConfig:
    encoder: str = "resnet101"
    num_classes: int = 9
    mir: bool = True  # CIPA's mutual-information regularisation
    msm: bool = True  # CIPA's modality-shift offsets (else SCSFR starts from zero offsets)
    swr: bool = True  # SCSFR spatial rectification
    cwr: bool = True  # SCSFR channel rectification
    embed_dim: int = 512  # decoder embedding
    kernel: int = 3  # deformable kernel
    scsfr_mid: tuple[int, ...] = (32, 64, 128, 128)  # SCSFR's fused channels per stage
    ffm_dim: tuple[int, ...] = (32, 64, 128, 128)  # FFM's attention width per stage
    channel_reduction: int = 8  # CWR's MLP: 4C -> 4C / this -> 2C
    mi_weight: float = 0.1  # initial beta

    def __post_init__(self) -> None:
        def bad(name: str, value: Any, allowed: str) -> ValueError:
            return ValueError(f"CIMNet option {name}={value!r} is invalid: expected {allowed}")

        if self.encoder not in encoder_names("resnet", "mit"):
            allowed = ", ".join(encoder_names("resnet", "mit"))
            raise bad("encoder", self.encoder, f"a ResNet or MiT encoder ({allowed})")
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise bad("num_classes", self.num_classes, "an integer >= 2")
        for name in ("mir", "msm", "swr", "cwr"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, getattr(self, name), "true or false")
        if not isinstance(self.embed_dim, int) or not 8 <= self.embed_dim <= 4096:
            raise bad("embed_dim", self.embed_dim, "an integer in 8..4096")
        if self.kernel not in (1, 3, 5, 7):
            raise bad("kernel", self.kernel, "1, 3, 5 or 7")
        for name in ("scsfr_mid", "ffm_dim"):
            v = tuple(getattr(self, name))
            if len(v) != 4 or any(not isinstance(c, int) or c < 8 or c % 8 for c in v):
                raise bad(name, getattr(self, name), "four multiples of 8")
            object.__setattr__(self, name, v)
        if not isinstance(self.channel_reduction, int) or not 1 <= self.channel_reduction <= 64:
            raise bad("channel_reduction", self.channel_reduction, "an integer in 1..64")
        if not 0 <= float(self.mi_weight) <= 10:
            raise bad("mi_weight", self.mi_weight, "a number in [0, 10]")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scsfr_mid"], d["ffm_dim"] = list(self.scsfr_mid), list(self.ffm_dim)
        return d


class CIMTrainOutput(NamedTuple):
    logits: torch.Tensor
    mi: torch.Tensor | None  # the MI estimate (Eq. 5), None without MIR
    mi_weight: torch.Tensor  # beta (learnable)


class CIMNet(SegmentationModel):
    family = "cimnet"
    pad_multiple = 32

    def __init__(self, config: CIMNetConfig, *, pretrained: bool | str = False) -> None:
        super().__init__()
        self.config = cfg = config
        self.rgb_encoder: Encoder | MiTEncoder = build_encoder(cfg.encoder, in_channels=3, pretrained=pretrained)
        self.thermal_encoder: Encoder | MiTEncoder = build_encoder(cfg.encoder, in_channels=1, pretrained=pretrained)
        chans = self.rgb_encoder.stage_channels
        self.cipa = CIPA(chans[0], mir=cfg.mir, msm=cfg.msm, kernel=cfg.kernel)
        self.scsfr = nn.ModuleList(SCSFR(c, mid=m, kernel=cfg.kernel, swr=cfg.swr, cwr=cfg.cwr,
                                         channel_reduction=cfg.channel_reduction)
                                   for c, m in zip(chans, cfg.scsfr_mid))
        self.ffm = nn.ModuleList(FFM(c, dim=d) for c, d in zip(chans, cfg.ffm_dim))
        self.decoder = MLPDecoder(tuple(chans), cfg.num_classes, embed=cfg.embed_dim)
        self.mi_weight = nn.Parameter(torch.tensor(float(cfg.mi_weight)))
        self.deployed = False

    def _check(self, rgb: torch.Tensor | None, thermal: torch.Tensor | None) -> tuple[int, int]:
        if rgb is None or rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ValueError(f"CIMNet: rgb must be B x 3 x H x W, got {None if rgb is None else tuple(rgb.shape)}")
        if thermal is None or thermal.dim() != 4 or thermal.shape[1] != 1:
            raise ValueError(
                f"CIMNet: thermal must be B x 1 x H x W, got {None if thermal is None else tuple(thermal.shape)}")
        if rgb.shape[0] != thermal.shape[0] or rgb.shape[2:] != thermal.shape[2:]:
            raise ValueError(f"CIMNet: rgb {tuple(rgb.shape)} and thermal {tuple(thermal.shape)} differ in batch "
                             "or size")
        return rgb.shape[2], rgb.shape[3]

    def _logits(
        self, rgb: torch.Tensor | None, thermal: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, w = self._check(rgb, thermal)
        assert rgb is not None and thermal is not None  # _check raised otherwise
        ph, pw = (-h) % self.pad_multiple, (-w) % self.pad_multiple
        r, t = F.pad(rgb, [0, pw, 0, ph]), F.pad(thermal, [0, pw, 0, ph])  # unconditional: see RSFNet._pad
        fused, mi, offset = [], None, None
        for i, (stage_r, stage_t) in enumerate(zip(self.rgb_encoder.stages, self.thermal_encoder.stages)):
            r, t = stage_r(r), stage_t(t)
            if i == 0:
                c = self.cipa(r, t)
                r, t, offset, mi = c.rgb, c.thermal, c.offset, c.mi
            r, t, offset = self.scsfr[i](r, t, offset)
            fused.append(self.ffm[i](r, t))
        logits = self.decoder(fused)
        logits = F.interpolate(logits, size=(h + ph, w + pw), mode="bilinear", align_corners=False)[:, :, :h, :w]
        return logits, mi

    def forward(self, rgb: torch.Tensor | None, thermal: torch.Tensor | None) -> torch.Tensor | CIMTrainOutput:
        if self.training and self.deployed:
            raise RuntimeError("CIMNet: a deployed model is inference-only; call .eval()")
        logits, mi = self._logits(rgb, thermal)
        if not self.training:
            return logits
        return CIMTrainOutput(logits, mi, self.mi_weight.clamp(min=0.0))

    def forward_with_gates(self, rgb: torch.Tensor | None, thermal: torch.Tensor | None) -> GatedOutput:
        """The engine's explained pass: CIMNet has no confidence gates, so there is nothing beside the logits."""
        logits, _ = self._logits(rgb, thermal)
        return GatedOutput(logits, None, ())

    def reparameterize(self) -> "CIMNet":
        """Deploy form: BNs folded into the encoders' convs, the MI branch dropped. Idempotent; leaves eval mode."""
        if not self.deployed:
            self.rgb_encoder.fold_batchnorms()
            self.thermal_encoder.fold_batchnorms()
            self.cipa.drop_training_parts()
            self.deployed = True
        return self.eval()

    def parameter_groups(self) -> dict[str, int]:
        def count(m: nn.Module) -> int:
            return sum(p.numel() for p in m.parameters())

        total = count(self)
        groups = {"total": total, "rgb_encoder": count(self.rgb_encoder),
                  "thermal_encoder": count(self.thermal_encoder),
                  "cipa": count(self.cipa), "scsfr": count(self.scsfr), "ffm": count(self.ffm),
                  "decoder": count(self.decoder)}
        return groups

    def encoders(self) -> list[nn.Module]:
        return [self.rgb_encoder, self.thermal_encoder]
