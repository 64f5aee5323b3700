"""One truth-value parser for flags and launch arguments: the usual spellings, blanks by choice, errors named."""

from __future__ import annotations

import argparse

import pytest

from rgbt_seg_core.utils.booleans import parse_bool


@pytest.mark.parametrize("text", ["true", "TRUE", " Yes ", "1", "on", "On"])
def test_true_spellings(text: str) -> None:
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["false", "False", "no", " 0", "off", "OFF "])
def test_false_spellings(text: str) -> None:
    assert parse_bool(text) is False


def test_bools_pass_through() -> None:
    assert parse_bool(True) is True and parse_bool(False, "x") is False


def test_blank_is_what_the_caller_says_or_an_error() -> None:
    assert parse_bool("", "autostart", empty=False) is False
    assert parse_bool("  ", empty=True) is True
    with pytest.raises(ValueError, match=r"^lifecycle: expected true or false, got ''$"):
        parse_bool("", "lifecycle")


@pytest.mark.parametrize("text", ["maybe", "2", "truee", "y", "none"])
def test_anything_else_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match=rf"^use_rviz: expected true or false, got '{text}'$"):
        parse_bool(text, "use_rviz", empty=False)
    with pytest.raises(ValueError, match=rf"^expected true or false, got '{text}'$"):
        parse_bool(text)


def test_a_non_text_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="gate: expected true or false as text, got int"):
        parse_bool(1, "gate")  # type: ignore[arg-type]


def test_the_cli_reads_flags_with_it() -> None:
    from rgbt_seg_core.cli.options import add_model_options

    p = argparse.ArgumentParser(exit_on_error=False)
    add_model_options(p)
    assert p.parse_args(["--gate", " On "]).gate is True
    with pytest.raises(argparse.ArgumentError, match="expected true or false, got 'maybe'"):
        p.parse_args(["--gate", "maybe"])
