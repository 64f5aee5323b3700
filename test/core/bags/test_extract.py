"""bag-extract: data set -> bag -> folder gives the same images and labels, in the layout training reads; pairing
is the node's (brute-force reference on random stamps), keep rules, registration, prelabels, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rgbt_seg_core.bags.extract import ExtractConfig, extract_bag
from rgbt_seg_core.bags.from_dataset import BagTopics, dataset_to_bag
from rgbt_seg_core.bags.io import ImageBagWriter
from rgbt_seg_core.cli.main import main
from rgbt_seg_core.data import build_dataset
from rgbt_seg_core.data.synthetic import SynthConfig, write_synthetic_dataset
from rgbt_seg_core.inference.registration import offset_homography


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("extract") / "data"
    write_synthetic_dataset(root, 32, SynthConfig(height=64, width=80, seed=5))
    return root


@pytest.mark.slow
def test_round_trip_gives_the_same_frames_and_labels_and_trains(data: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    bag, out = tmp_path / "bag", tmp_path / "out"
    assert main(["bag-from-dataset", "--dataset", "synthetic", "--data-root", str(data), "--split", "train",
                 "--out", str(bag), "--fps", "10", "--thermal-delay-ms", "12", "--jitter-ms", "2"]) == 0
    assert main(["bag-extract", str(bag), "--out", str(out), "--dedup", "0"]) == 0
    src = build_dataset("synthetic", data, "train")
    got = build_dataset("mfnet", out, "train")
    names = sorted(got.names + build_dataset("mfnet", out, "val").names + build_dataset("mfnet", out, "test").names)
    assert len(names) == len(src) == 16
    for name, src_name in zip(names, src.names):  # both in time order
        a, b = got.load(name), src.load(src_name)
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.thermal, b.thermal)
        assert np.array_equal(a.label, b.label)
        colour = cv2.imread(str(out / "labels_color" / f"{name}.png"))[:, :, ::-1]
        assert np.array_equal(colour, np.asarray(got.palette, np.uint8)[b.label])
    got.validate()
    info = json.loads((out / "extract.json").read_text())
    assert info["result"]["labelled_from_bag"] == 16 and info["image_size"] == [64, 80]
    assert "16 written" in capsys.readouterr().out
    from rgbt_seg_core.training.config import resolve_train_config
    from rgbt_seg_core.training.trainer import Trainer

    cfg = resolve_train_config(dataset="mfnet", model="rsfnet50_18", data_root=str(out), out=str(tmp_path / "run"),
                               max_iters=2, sets=["pretrained=false", "crop=[48, 48]", "batch_size=2",
                                                  "num_workers=0", "device=cpu", "tensorboard=false",
                                                  "progress=false", "model_options.fusion_channels=[16,16,32,32]",
                                                  "model_options.reduced_dim=16", f"cache_dir={tmp_path / 'c'}"])
    assert Trainer(cfg).run().iterations == 2


def test_keep_rules_registration_and_prelabel(data: Path, varied_checkpoint: Path, tmp_path: Path) -> None:
    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine

    ds = build_dataset("synthetic", data, "train")
    bag = tmp_path / "bag"
    dataset_to_bag(ds, bag, fps=10, topics=BagTopics(labels="/elsewhere"))  # no labels where extract looks
    res = extract_bag(bag, tmp_path / "every", config=ExtractConfig(every=3))
    assert res.pairs == 16 and res.written == 6 and res.skipped_every == 10 and res.unlabelled == 6
    res = extract_bag(bag, tmp_path / "fps", config=ExtractConfig(fps=4.0))
    assert res.written == 6  # 10 fps stamps, at most one per 0.25 s: every third
    # a shifted thermal registered back by the homography equals the offset applied directly
    h = offset_homography(3, -2)
    a = extract_bag(bag, tmp_path / "hom", config=ExtractConfig(dedup=0, homography=h))
    b = extract_bag(bag, tmp_path / "off", config=ExtractConfig(dedup=0, thermal_offset=(3, -2)))
    assert a.written == b.written == 16
    for name in sorted(p.name for p in (tmp_path / "hom" / "images").iterdir()):
        ia = cv2.imread(str(tmp_path / "hom" / "images" / name), cv2.IMREAD_UNCHANGED)
        ib = cv2.imread(str(tmp_path / "off" / "images" / name), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(ia, ib)
    ckpt = varied_checkpoint
    engine = InferenceEngine(ckpt, InferenceConfig(device="cpu", warmup=0))
    res = extract_bag(bag, tmp_path / "pre", config=ExtractConfig(every=4), prelabel=engine)
    assert res.prelabelled == res.written == 4
    first = sorted((tmp_path / "pre" / "labels").iterdir())[0]
    s = build_dataset("mfnet", tmp_path / "pre", "train").load(first.stem)
    assert np.array_equal(s.label, engine.predict(s.rgb, s.thermal).labels)
    with pytest.raises(ValueError, match="already holds an extraction"):
        extract_bag(bag, tmp_path / "pre")


def test_still_robot_frames_are_deduplicated(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    scenes = [rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3)]
    bag = tmp_path / "still"
    with ImageBagWriter(bag) as w:
        for i in range(30):  # ten frames of each scene, with sensor noise
            scene = scenes[i // 10]
            noisy = np.clip(scene.astype(int) + rng.integers(-2, 3, scene.shape), 0, 255).astype(np.uint8)
            t = 1.0 + 0.1 * i
            w.write_image("/rgb/image", noisy, "rgb8", t, "rgb", int(t * 1e9))
            w.write_image("/thermal/image", noisy[:, :, 0].copy(), "mono8", t + 0.01, "th", int(t * 1e9) + 10**7)
    res = extract_bag(bag, tmp_path / "out")
    assert res.pairs == 30 and res.written == 3 and res.duplicates == 27


def test_refuses_foreign_folders_and_bad_options(data: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    ds = build_dataset("synthetic", data, "val")
    dataset_to_bag(ds, tmp_path / "bag")
    with pytest.raises(ValueError, match="not written by bag-extract"):
        extract_bag(tmp_path / "bag", tmp_path / "mine")
    for kw, why in (({"every": 0}, "--every"), ({"fps": -1.0}, "--fps"), ({"every": 2, "fps": 1.0}, "not both"),
                    ({"dedup": float("nan")}, "--dedup")):
        with pytest.raises(ValueError, match=why):
            ExtractConfig(**kw)
    with pytest.raises(ValueError, match="not 16-bit"):
        extract_bag(tmp_path / "bag", tmp_path / "k16", config=ExtractConfig(keep_16bit=True))


def _reference_pairs(rgb: list[int], thermal: list[int], slop_ns: int) -> int:
    """Brute force of the pairing rule for well-spaced streams: each RGB stamp pairs with the nearest thermal
    stamp strictly within the slop that no other RGB stamp is nearer to (message_filters' approximate policy
    reduces to this when both cameras run at one rate and the slop is under half the period)."""
    pairs = 0
    for r in rgb:
        near = [t for t in thermal if abs(t - r) < slop_ns]
        if near and min(abs(r2 - min(near, key=lambda t: abs(t - r))) for r2 in rgb) == \
                abs(r - min(near, key=lambda t: abs(t - r))):
            pairs += 1
    return pairs


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 12), delays=st.lists(st.integers(-90, 90), min_size=12, max_size=12),
       drop=st.sets(st.integers(0, 11), max_size=4))
def test_every_pair_the_node_makes_is_written(tmp_path_factory: pytest.TempPathFactory, n: int, delays: list[int],
                                              drop: set[int]) -> None:
    """Random thermal delays (ms) at 5 fps with a 50 ms slop, some thermal frames missing: the folder holds exactly
    the pairs of the reference rule, and every message is accounted for."""
    assume(any(i not in drop for i in range(n)))  # a bag with no thermal message has no thermal topic: refused
    d = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(n)
    rgb_ns = [10**9 + i * 200_000_000 for i in range(n)]
    th_ns = [r + delays[i] * 1_000_000 for i, r in enumerate(rgb_ns) if i not in drop]
    with ImageBagWriter(d / "bag") as w:
        events = [(r, "/rgb/image") for r in rgb_ns] + [(t, "/thermal/image") for t in th_ns]
        for stamp, topic in sorted(events):
            img = rng.integers(0, 256, (16, 16, 3) if topic == "/rgb/image" else (16, 16), dtype=np.uint8)
            w.write_image(topic, img, "rgb8" if img.ndim == 3 else "mono8", stamp * 1e-9, "f", stamp)
    res = extract_bag(d / "bag", d / "out", config=ExtractConfig(dedup=0))
    assert res.written == res.pairs == _reference_pairs(rgb_ns, th_ns, 50_000_000)
    assert res.pairs * 2 + res.unpaired == n + len(th_ns)


@pytest.mark.slow
def test_bag_eval_runs_a_cimnet_checkpoint(data: Path, varied_cimnet_checkpoint: Path, tmp_path: Path) -> None:
    """The bag tools take a CIMNet checkpoint like an RSFNet one: bag-eval scores it exactly as eval does."""
    ckpt = varied_cimnet_checkpoint
    dataset_to_bag(build_dataset("synthetic", data, "test"), tmp_path / "bag", fps=10, thermal_delay_ms=5)
    assert main(["eval", "--checkpoint", str(ckpt), "--dataset", "synthetic", "--data-root", str(data), "--split",
                 "test", "--device", "cpu", "--json", str(tmp_path / "eval.json")]) == 0
    assert main(["bag-eval", str(tmp_path / "bag"), "--checkpoint", str(ckpt), "--device", "cpu", "--json",
                 str(tmp_path / "bag.json"), "--out-bag", str(tmp_path / "out_bag")]) == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("eval.json", "bag.json"))
    assert b["evaluated"] == 8 and b["confusion_matrix"] == a["confusion_matrix"]
