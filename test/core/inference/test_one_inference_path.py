"""The same frame gives the same labels in `predict`, `eval --save-predictions` and `bag-eval` (the node is
compared in test/ros), including half-size 16-bit thermal and thermal with NaN pixels. The model's labels vary
across the frame, and a deliberately different preprocessing is shown to change them, so the check can fail."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from _support.varied_model import assert_varied, awkward_thermal
from rgbt_seg_core.bags.evaluate import OUTPUT_TOPICS, evaluate_bag
from rgbt_seg_core.bags.io import ImageBagWriter, read_images
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine, UnusableFrame
from rgbt_seg_core.inference.preprocess import normalize_thermal
from rgbt_seg_core.runtime.imageconv import decode_image


@pytest.fixture(scope="module")
def setup(varied_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("onepath")
    write_synthetic_dataset(d / "data", 12, SynthConfig(height=64, width=80, seed=3))
    ds = build_dataset("synthetic", d / "data", "test")
    return {"dir": d, "ds": ds, "ckpt": varied_checkpoint}


def _predict_cli(d: Path, ckpt: Path, rgb: np.ndarray, thermal: np.ndarray, name: str) -> np.ndarray:
    cv2.imwrite(str(d / f"{name}.png"), rgb[:, :, ::-1])
    tpath = d / (f"{name}_t.tiff" if thermal.dtype == np.float32 else f"{name}_t.png")
    assert cv2.imwrite(str(tpath), thermal)
    assert main(["predict", "--checkpoint", str(ckpt), "--rgb", str(d / f"{name}.png"), "--thermal", str(tpath),
                 "--out", str(d / "pred"), "--device", "cpu"]) == 0
    return cv2.imread(str(d / "pred" / f"{name}_labels.png"), cv2.IMREAD_UNCHANGED)


def _bag_eval(d: Path, ckpt: Path, frames: list[tuple[np.ndarray, np.ndarray, str]], name: str) -> list[np.ndarray]:
    bag, out = d / f"{name}_bag", d / f"{name}_out"
    with ImageBagWriter(bag) as w:
        for i, (rgb, thermal, enc) in enumerate(frames):
            t = 100.0 + i * 0.2
            w.write_image("/rgb/image", rgb, "rgb8", t, "rgb")
            w.write_image("/thermal/image", thermal, enc, t + 0.005, "thermal")
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
    res, _ = evaluate_bag(bag, engine, out_bag=out)
    assert res.pairs == len(frames) and res.bad_frames == 0
    return [decode_image(item.msg)[0] for item in read_images(out, [OUTPUT_TOPICS["labels"]])]


@pytest.mark.slow
def test_predict_eval_and_bag_eval_agree_on_dataset_frames(setup: dict) -> None:
    d, ds, ckpt = setup["dir"], setup["ds"], setup["ckpt"]
    assert main(["eval", "--checkpoint", str(ckpt), "--dataset", "synthetic", "--data-root", str(d / "data"),
                 "--split", "test", "--device", "cpu", "--save-predictions", str(d / "evalpred")]) == 0
    samples = [ds[i] for i in range(len(ds))]
    from_bag = _bag_eval(d, ckpt, [(s.rgb, s.thermal, "mono8") for s in samples], "dataset")
    for i, (s, name) in enumerate(zip(samples, ds.names)):
        from_eval = cv2.imread(str(d / "evalpred" / "labels" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        from_predict = _predict_cli(d, ckpt, s.rgb, s.thermal, f"ds{i}")
        assert_varied(from_predict)
        assert np.array_equal(from_predict, from_eval), name
        assert np.array_equal(from_predict, from_bag[i]), name


def test_predict_and_bag_eval_agree_on_half_size_16bit_and_nan_thermal(setup: dict) -> None:
    d, ds, ckpt = setup["dir"], setup["ds"], setup["ckpt"]
    s = ds[0]
    frames = awkward_thermal(s.thermal)
    from_bag = _bag_eval(d, ckpt, [(s.rgb, t, enc) for t, enc in frames.values()], "awkward")
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
    for (name, (thermal, _)), bag_labels in zip(frames.items(), from_bag):
        from_predict = _predict_cli(d, ckpt, s.rgb, thermal, name)
        assert_varied(from_predict)
        assert np.array_equal(from_predict, bag_labels), name
        assert np.array_equal(from_predict, engine.predict(s.rgb, thermal).labels), name


def test_the_check_can_fail_resizing_before_normalising_changes_labels(setup: dict) -> None:
    """The old `predict` resized raw 16-bit thermal before normalising it; on these frames that differs."""
    s = setup["ds"][0]
    half16, _ = awkward_thermal(s.thermal)["half16"]
    engine = InferenceEngine(setup["ckpt"], InferenceConfig(device="cpu", warmup=0))
    right = engine.predict(s.rgb, half16).labels
    resized_first = cv2.resize(half16, (s.rgb.shape[1], s.rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    wrong = engine.predict(s.rgb, (normalize_thermal(resized_first) * 255).astype(np.uint8)).labels
    assert not np.array_equal(right, wrong)


def test_the_engine_owns_the_nan_rule(setup: dict) -> None:
    engine = InferenceEngine(setup["ckpt"], InferenceConfig(device="cpu", warmup=0))
    rgb = setup["ds"][0].rgb
    good = setup["ds"][0].thermal
    for bad in (np.full((64, 80), np.nan, np.float32), np.full((64, 80), 3e38, np.float32)):
        with pytest.raises(UnusableFrame):
            engine.predict(rgb, bad)
        with pytest.raises(UnusableFrame, match="batch frame 1: thermal: "):  # the batch call too
            engine.predict_batch([rgb, rgb], [good, bad])
