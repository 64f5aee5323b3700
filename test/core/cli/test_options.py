"""Model flags come from the families' config dataclasses: every field has one, each parses to the field's type,
and bad values are refused naming the flag."""

from __future__ import annotations

import argparse
import dataclasses
import typing

import pytest

from rgbt_seg_core.cli.options import MODEL_CONFIGS, NAMED_BY_MODEL, add_model_options, field_comments, model_options
from rgbt_seg_core.models import build_model
from rgbt_seg_core.models.cimnet.model import CIMNetConfig
from rgbt_seg_core.models.registry import FAMILIES
from rgbt_seg_core.models.rsfnet.model import FUSIONS, GATE_MODES, MODALITIES, RSFNetConfig

FAMILY_OF = {"rsfnet": (RSFNetConfig, "rsfnet50_18"), "cimnet": (CIMNetConfig, "cimnet_r18")}
ENCODERS = {"rsfnet": {"rgb_encoder", "thermal_encoder"}, "cimnet": {"encoder"}}  # chosen by the model's name


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", exit_on_error=False)
    add_model_options(p)
    return p


def _flags(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in p._actions for s in a.option_strings}


def _as_text(value: object) -> list[str]:
    """A field's default written as a user would type it."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, tuple):
        return [str(v) for v in value]
    return [str(value)]


def test_every_family_has_its_config() -> None:
    assert set(MODEL_CONFIGS) == set(FAMILIES) == set(FAMILY_OF)
    assert {f: c for f, (c, _) in FAMILY_OF.items()} == MODEL_CONFIGS
    assert NAMED_BY_MODEL == set().union(*ENCODERS.values())


@pytest.mark.parametrize("family", sorted(FAMILY_OF))
def test_every_config_field_has_a_flag(family: str) -> None:
    config, _ = FAMILY_OF[family]
    flags = _flags(_parser())
    for f in dataclasses.fields(config):
        flag = "--" + f.name.replace("_", "-")
        if f.name in ENCODERS[family]:
            assert flag not in flags, flag
        else:
            assert flag in flags and flags[flag].dest == f.name and flags[flag].default is None, flag


def test_cimnet_switches_and_rsfnet_choices() -> None:
    flags = _flags(_parser())
    for switch in ("--mir", "--msm", "--swr", "--cwr"):
        assert switch in flags
        assert "(default true)" in flags[switch].help
    assert flags["--mir"].help.startswith("CIPA's mutual-information regularisation")  # the field's comment
    assert field_comments(CIMNetConfig)["mi_weight"] == "initial beta"
    assert tuple(flags["--fusion"].choices) == FUSIONS
    assert tuple(flags["--modalities"].choices) == MODALITIES
    assert tuple(flags["--gate-mode"].choices) == GATE_MODES
    assert flags["--kernel"].choices is None and flags["--fusion-channels"].nargs == 4
    assert flags["--scsfr-mid"].nargs == "+"


@pytest.mark.parametrize("family", sorted(FAMILY_OF))
def test_flags_parse_to_the_dataclass_types(family: str) -> None:
    """Every flag given its field's default parses back to that default, type included (tuples stay tuples), and
    the options rebuild the default config."""
    config, model = FAMILY_OF[family]
    hints = typing.get_type_hints(config)
    argv = []
    for f in dataclasses.fields(config):
        if f.name not in ENCODERS[family]:
            argv += ["--" + f.name.replace("_", "-"), *_as_text(f.default)]
    opts = model_options(_parser().parse_args(argv), model)
    assert set(opts) == {f.name for f in dataclasses.fields(config)} - ENCODERS[family]
    for name, value in opts.items():
        want = typing.get_origin(hints[name]) or hints[name]
        assert type(value) is want, (name, value)
        assert value == getattr(config(), name), name
    assert config(**opts) == config()


def test_given_flags_only_and_their_values() -> None:
    args = _parser().parse_args(["--gate", "No", "--fusion", "sum", "--fusion-channels", "8", "16", "24", "32",
                                 "--num-classes", "5"])
    assert model_options(args, "rsfnet50_18") == {"gate": False, "fusion": "sum", "fusion_channels": (8, 16, 24, 32),
                                                  "num_classes": 5}
    args = _parser().parse_args(["--mir", "off", "--mi-weight", "0.25", "--ffm-dim", "8", "8", "8", "8"])
    assert model_options(args, "cimnet_r18") == {"mir": False, "mi_weight": 0.25, "ffm_dim": (8, 8, 8, 8)}
    assert model_options(_parser().parse_args([]), "cimnet_r101") == {}


@pytest.mark.parametrize("argv, flag", [(["--fusion", "max"], "--fusion"), (["--gate-mode", "soft"], "--gate-mode"),
                                        (["--modalities", "depth"], "--modalities"), (["--gate", "maybe"], "--gate"),
                                        (["--mir", ""], "--mir"), (["--kernel", "three"], "--kernel"),
                                        (["--fusion-channels", "8", "16"], "--fusion-channels"),
                                        (["--mi-weight", "x"], "--mi-weight")])
def test_a_bad_value_is_refused_naming_the_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(argparse.ArgumentError) as err:
        _parser().parse_args(argv)
    assert err.value.argument_name == flag
    assert flag in str(err.value)


def test_a_bad_choice_exits_with_the_flag_in_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    p = argparse.ArgumentParser(prog="t")
    add_model_options(p)
    with pytest.raises(SystemExit) as stop:
        p.parse_args(["--fusion", "max"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --fusion: invalid choice: 'max'" in err and "rsf" in err


@pytest.mark.parametrize("argv, model, flag", [(["--mir", "false"], "rsfnet50_18", "--mir"),
                                               (["--kernel-size", "3"], "cimnet_r18", "--kernel-size")])
def test_another_familys_flag_is_an_error_naming_it(argv: list[str], model: str, flag: str) -> None:
    with pytest.raises(ValueError, match=f"^{flag} is an option of"):
        model_options(_parser().parse_args(argv), model)


def test_options_reach_the_model() -> None:
    args = _parser().parse_args(["--num-classes", "4", "--fusion", "concat", "--reduced-dim", "16",
                                 "--fusion-channels", "16", "16", "32", "32"])
    model = build_model("rsfnet50_18", **model_options(args, "rsfnet50_18"))
    assert model.config == RSFNetConfig(num_classes=4, fusion="concat", reduced_dim=16,
                                        fusion_channels=(16, 16, 32, 32))
