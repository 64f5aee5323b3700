"""The registry: builders under a name and a family, options passed through, the name stamped on what they build,
duplicates and unknown names refused with the list to choose from (the registered Table XII models and the
refusals of a duplicate and of an unknown family: test_model.py)."""

from __future__ import annotations

import pytest
from torch import nn

from rgbt_seg_core.models import registry
from rgbt_seg_core.models.registry import (
    FAMILIES,
    build_model,
    get_builder,
    list_models,
    model_family,
    register_model,
)


@pytest.fixture(autouse=True)
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real entries plus whatever a test registers, dropped after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


class Probe(nn.Module):
    def __init__(self, **seen) -> None:
        super().__init__()
        self.seen = seen


def test_a_builder_gets_the_options_and_its_model_the_name() -> None:
    @register_model(family="cimnet")
    def zz_probe(**options) -> Probe:
        return Probe(**options)

    model = build_model("zz_probe", num_classes=4, pretrained="imagenet", width=3)
    assert isinstance(model, Probe) and model.model_name == "zz_probe"
    assert model.seen == {"num_classes": 4, "pretrained": "imagenet", "width": 3}
    assert build_model("zz_probe").seen == {"num_classes": 9, "pretrained": False}  # MFNet's classes
    assert get_builder("zz_probe") is zz_probe and model_family("zz_probe") == "cimnet"
    assert "zz_probe" in list_models("cimnet") and "zz_probe" not in list_models("rsfnet")


def test_a_name_given_at_registration_wins_and_lists_are_sorted() -> None:
    register_model("aa_named", family="rsfnet")(lambda **kw: Probe(**kw))
    assert list_models()[0] == "aa_named" and list_models() == sorted(list_models())
    assert list_models("rsfnet")[0] == "aa_named"
    assert sorted(list_models("rsfnet") + list_models("cimnet")) == list_models()
    assert FAMILIES == ("rsfnet", "cimnet")
    with pytest.raises(ValueError, match="model 'aa_named' is already registered"):
        register_model("aa_named", family="cimnet")(lambda **kw: Probe(**kw))
    assert model_family("aa_named") == "rsfnet"  # the refused one replaced nothing


@pytest.mark.parametrize("lookup", [get_builder, model_family, build_model])
def test_unknown_names_list_what_there_is(lookup) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'rsfnet9000'; available: .*cimnet_r18.*rsfnet50_18"):
        lookup("rsfnet9000")


def test_the_scratch_registry_left_the_real_one_alone() -> None:
    assert "zz_probe" not in list_models() and "aa_named" not in list_models() and "rsfnet50_18" in list_models()
