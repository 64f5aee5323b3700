"""Truth values typed by people: command-line flags, launch arguments. One set of spellings everywhere, so
``gate:=yes`` on a launch line and ``--gate yes`` on the command line mean the same, and anything else is refused
rather than read as false."""

from __future__ import annotations

__all__ = ["TRUE_WORDS", "FALSE_WORDS", "parse_bool"]

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


def parse_bool(value: str | bool, name: str = "", *, empty: bool | None = None) -> bool:
    """``value`` as a bool (case and surrounding blanks ignored). ``empty`` is what a blank string means (launch
    arguments left unset are ""); without it a blank is an error. The error names ``name`` when given."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name or 'value'}: expected true or false as text, got {type(value).__name__}")
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if not word and empty is not None:
        return empty
    raise ValueError(f"{name + ': ' if name else ''}expected true or false, got {value!r}")
