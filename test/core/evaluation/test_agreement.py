"""How far a candidate engine strays from its reference on a split: identical engines agree everywhere with equal
mIoU, a different model does not, and frames are spread over the split; an empty split or a refused frame is named."""

from __future__ import annotations

import numpy as np
import pytest

from _support.varied_model import save_varied_checkpoint
from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.evaluation.agreement import Agreement, compare_engines
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine, UnusableFrame

CPU32 = InferenceConfig(device="cpu", precision="fp32", warmup=0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("agreement")
    write_synthetic_dataset(root / "data", 8, SynthConfig(height=64, width=80, seed=0))
    ds = build_dataset("synthetic", str(root / "data"), "train")
    a = InferenceEngine(save_varied_checkpoint(root / "a.safetensors", seed=0), CPU32)
    b = InferenceEngine(save_varied_checkpoint(root / "b.safetensors", seed=1), CPU32)
    return ds, a, b


def test_an_engine_agrees_with_itself_and_not_with_another_model(setup) -> None:
    ds, a, b = setup
    same = compare_engines(a, a, ds)
    assert same.frames == len(ds) and same.label_agreement == 1.0 and same.miou_change_points == 0.0
    other = compare_engines(a, b, ds, frames=2)
    assert other.frames == 2 and other.label_agreement < 0.9
    assert other.reference_miou == pytest.approx(compare_engines(a, a, ds, frames=2).miou)


def test_the_change_is_in_points() -> None:
    assert Agreement(3, 0.99, 0.512, 0.52).miou_change_points == pytest.approx(-0.8)


def test_an_empty_split_and_an_unusable_frame_are_named(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    ds, a, _ = setup
    with pytest.raises(ValueError, match=r"split synthetic:train at .* has no frames to compare on"):
        compare_engines(a, a, ds, frames=0)
    first = ds[0]
    bad = type(first)(first.name, first.rgb, np.full(first.thermal.shape, np.nan, np.float32), first.label)
    monkeypatch.setattr(type(ds), "__getitem__", lambda self, i: bad)
    with pytest.raises(UnusableFrame, match=rf"frame {first.name} \(synthetic:train\): .*no finite pixel"):
        compare_engines(a, a, ds, frames=1)

