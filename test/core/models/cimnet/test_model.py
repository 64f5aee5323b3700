"""CIMNet (the second seed system): Table II's counts, the ablation switches of Table III, the MI estimate of
Eq. 1-5, the loss of Eq. 24, and the deploy form."""

from __future__ import annotations

import pytest
import torch

from rgbt_seg_core.evaluation.profiling import count_macs
from rgbt_seg_core.models import build_model
from rgbt_seg_core.models.cimnet.cipa import mutual_information
from rgbt_seg_core.models.cimnet.model import CIMTrainOutput
from rgbt_seg_core.training.losses import CIMLoss


def test_counts_match_table_ii() -> None:
    """110.9 M parameters and 132.4 G "FLOPs" at 512 x 640; those are multiply-accumulates, as CMX counts them."""
    with torch.device("meta"):  # counts depend on shapes alone: no initialisation, no 512x640 pass on the CPU
        model = build_model("cimnet_r101").eval()
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / 110.9e6 - 1) <= 0.03, params
    macs = count_macs(model, (torch.zeros(1, 3, 512, 640, device="meta"), torch.zeros(1, 1, 512, 640, device="meta")))
    assert abs(macs / 132.4e9 - 1) <= 0.05, macs


@pytest.mark.parametrize("switch, modules", [
    ("mir", {"cipa.embed_r", "cipa.embed_t"}),
    ("msm", {"cipa.offset"}),
    ("swr", {f"scsfr.{i}.spatial" for i in range(4)} | {f"scsfr.{i}.lambda_s" for i in range(4)}),
    ("cwr", {f"scsfr.{i}.channel" for i in range(4)} | {f"scsfr.{i}.lambda_c" for i in range(4)}),
])
def test_each_ablation_switch_removes_exactly_its_module(switch: str, modules: set[str]) -> None:
    def names(model: torch.nn.Module) -> set[str]:
        return {n.rsplit(".", 2)[0] if n.endswith((".weight", ".bias")) and ".lambda" not in n else n
                for n, _ in model.named_parameters()}

    full = build_model("cimnet_r18", embed_dim=64)
    cut = build_model("cimnet_r18", embed_dim=64, **{switch: False})
    full_params = {n for n, _ in full.named_parameters()}
    cut_params = {n for n, _ in cut.named_parameters()}
    assert cut_params <= full_params
    removed = full_params - cut_params
    assert {n for n in removed if not any(n == m or n.startswith(m + ".") for m in modules)} == set()
    assert all(any(n == m or n.startswith(m + ".") for n in removed) for m in modules)
    out = cut.train()(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64))
    assert (out.mi is None) == (switch == "mir")


def test_baseline_row_and_all_switches_train() -> None:
    base = build_model("cimnet_r18", embed_dim=64, mir=False, msm=False, swr=False, cwr=False).train()
    out = base(torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 64))
    assert out.mi is None and out.logits.shape == (2, 9, 64, 64)


def test_mutual_information_is_lower_for_independent_inputs() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4096, 16, generator=g) * 3
    independent = torch.randn(4096, 16, generator=g) * 3
    dependent = a + 0.3 * torch.randn(4096, 16, generator=g)
    mi_ind, mi_dep = mutual_information(a, independent), mutual_information(a, dependent)
    assert 0 <= float(mi_ind) < 0.05 < float(mi_dep)
    assert float(mutual_information(a, a)) >= float(mi_dep)  # identical: the most dependent
    assert abs(float(mutual_information(a[:1], a[:1]))) < 1e-5  # one sample: the joint factorises


def test_loss_is_ce_plus_learnable_beta_times_mi() -> None:
    torch.manual_seed(0)
    model = build_model("cimnet_r18", embed_dim=64).train()
    assert float(model.mi_weight.detach()) == pytest.approx(0.1)
    out = model(torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 64))
    assert isinstance(out, CIMTrainOutput) and out.mi is not None
    target = torch.randint(0, 9, (2, 64, 64))
    loss, parts = CIMLoss()(out, target)
    ce = torch.nn.functional.cross_entropy(out.logits, target)
    assert float(loss.detach()) == pytest.approx(float((ce + 0.1 * out.mi).detach()), rel=1e-5)
    assert set(parts) == {"main", "mi", "beta", "total"}
    loss.backward()
    assert model.mi_weight.grad is not None
    assert float(model.mi_weight.grad) == pytest.approx(float(out.mi.detach()), rel=1e-4)


def test_lambdas_start_at_one_half_and_deploy_drops_the_mi_branch() -> None:
    model = build_model("cimnet_r18", embed_dim=64)
    assert all(float(m.lambda_s) == 0.5 and float(m.lambda_c) == 0.5 for m in model.scsfr)
    rgb, thermal = torch.rand(1, 3, 50, 70), torch.rand(1, 1, 50, 70)
    model.eval()
    with torch.inference_mode():
        ref = model(rgb, thermal)
    deploy = model.reparameterize()
    assert deploy.cipa.embed_r is None and deploy.deployed
    with torch.inference_mode():
        assert torch.allclose(deploy(rgb, thermal), ref, atol=1e-4)
        explained = deploy.forward_with_gates(rgb, thermal)
    assert explained.gates == () and explained.confidence is None
    with pytest.raises(RuntimeError, match="inference-only"):
        deploy.train()(rgb, thermal)


def test_bad_options_and_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="CIMNet option scsfr_mid"):
        build_model("cimnet_r18", scsfr_mid=[10, 20])
    with pytest.raises(ValueError, match="CIMNet option mir"):
        build_model("cimnet_r18", mir="yes")
    model = build_model("cimnet_r18", embed_dim=64).eval()
    with pytest.raises(ValueError, match="CIMNet: thermal must be B x 1 x H x W"):
        model(torch.rand(1, 3, 32, 32), None)


def test_engine_runs_a_cimnet_checkpoint_without_gates(tmp_path) -> None:
    """What the node and the bag tools call: labels, and no gate maps or confidences (CIMNet has none)."""
    import numpy as np

    from rgbt_seg_core.inference.engine import InferenceConfig, InferenceEngine
    from rgbt_seg_core.models.checkpoint_file import save_checkpoint

    torch.manual_seed(0)
    path = tmp_path / "cim.safetensors"
    save_checkpoint(path, build_model("cimnet_r18", embed_dim=64).eval())
    engine = InferenceEngine(path, InferenceConfig(device="cpu", precision="fp32", warmup=0))
    assert engine.model.deployed
    rng = np.random.default_rng(0)
    rgb, thermal = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8), rng.integers(0, 65535, (30, 41), dtype=np.uint16)
    pred = engine.predict(rgb, thermal, want_gates=True)
    assert pred.labels.shape == (61, 83) and pred.gates is None and pred.confidence is None
    assert np.array_equal(pred.labels, engine.predict(rgb, thermal).labels)
    assert engine.predict(None, thermal).labels.shape == (30, 41)  # a failed camera is blanked, as for RSFNet
