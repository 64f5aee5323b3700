"""Shared argument helpers: model options as CLI flags that map 1:1 to ``build_model`` keyword options."""

from __future__ import annotations

import argparse
from typing import Any


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (true/false), got {text!r}")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model options (see docs/model.md)")
    g.add_argument("--num-classes", type=int, default=9, help="output classes (default: 9, MFNet)")
    g.add_argument("--kernel-size", type=int, help="RSF KxK kernel size (default 5)")
    g.add_argument("--reduced-dim", type=int, help="RSF reduced dimension C~ (default 64)")
    g.add_argument("--gate", type=_bool, help="confidence gate on/off (default true)")
    g.add_argument("--gate-mode", choices=("normalized", "raw"), help="gate normalisation (default normalized)")
    g.add_argument("--multi-branch", type=_bool, help="train-time multi-branch KxK block (default true)")
    g.add_argument("--fusion", choices=("rsf", "sum", "concat"), help="fusion scheme (default rsf)")
    g.add_argument("--confidence-heads", type=_bool, help="PLG confidence heads (default true)")
    g.add_argument("--modalities", choices=("rgbt", "rgb", "thermal"), help="encoders used (default rgbt)")


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("kernel_size", "reduced_dim", "gate", "gate_mode", "multi_branch", "fusion", "confidence_heads", "modalities")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
