"""The MiT (SegFormer) encoder behind ``cimnet_mitb4``: built from config with nothing downloaded, the encoder
contract (four stages at strides 4..32 with the stated channels), the paper's size, and local pretrained weights
with the thermal stem summed over RGB."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from rgbt_seg_core.models.encoders.mit import MIT_SIZES, MiTEncoder  # noqa: E402


def _segformer(name: str) -> torch.nn.Module:
    hidden, depths = MIT_SIZES[name]
    config = transformers.SegformerConfig(hidden_sizes=list(hidden), depths=list(depths))
    torch.manual_seed(3)
    return transformers.SegformerModel(config)


def test_stages_match_the_contract() -> None:
    enc = MiTEncoder("mit_b0", in_channels=1).eval()
    with torch.inference_mode():
        feats = enc(torch.rand(2, 1, 64, 96))
    assert [f.shape[1] for f in feats] == list(enc.stage_channels)
    assert [(64 // f.shape[2], 96 // f.shape[3]) for f in feats] == [(s, s) for s in enc.stage_strides]
    assert enc.fold_batchnorms() == 0


def test_mit_b4_has_the_segformer_size() -> None:
    # SegFormer (Xie et al. 2021) Table 1: the MiT-B4 encoder holds 60.8 M parameters (3-channel input)
    n = sum(p.numel() for p in MiTEncoder("mit_b4").parameters())
    assert abs(n / 1e6 - 60.8) <= 0.3, n


def test_local_pretrained_folder_and_thermal_stem(tmp_path: Path) -> None:
    ref = _segformer("mit_b0")
    ref.save_pretrained(tmp_path / "mit-b0")
    rgb = MiTEncoder("mit_b0", pretrained=tmp_path / "mit-b0")
    thermal = MiTEncoder("mit_b0", in_channels=1, pretrained=str(tmp_path / "mit-b0"))
    want = ref.stages[0].patch_embeddings.proj.weight
    assert torch.equal(rgb.stages[0].patch_embeddings.proj.weight, want)
    assert torch.allclose(thermal.stages[0].patch_embeddings.proj.weight, want.sum(1, keepdim=True))
    for (name, a), (_, b) in zip(rgb.stages.state_dict().items(), ref.stages.state_dict().items()):
        assert torch.equal(a, b), name
    x = torch.rand(1, 1, 64, 64)
    with torch.inference_mode():  # summing the kernel is exactly feeding the thermal image three times
        assert torch.allclose(thermal.eval()(x)[3], rgb.eval()(x.repeat(1, 3, 1, 1))[3], atol=1e-4)


def test_pretrained_errors_name_the_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _segformer("mit_b0").save_pretrained(tmp_path / "b0")
    with pytest.raises(ValueError, match="not mit_b2"):
        MiTEncoder("mit_b2", pretrained=tmp_path / "b0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_cache"))
    with pytest.raises(RuntimeError, match="pretrained=<folder> holding the nvidia/mit-b0 release"):
        MiTEncoder("mit_b0", pretrained="imagenet")
    with pytest.raises(RuntimeError, match="could not load MiT weights"):
        MiTEncoder("mit_b0", pretrained=tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown MiT encoder"):
        MiTEncoder("mit_b9")
