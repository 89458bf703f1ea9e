"""Whole numbers within a range: one rule and one message for every option, command-line
argument and parameter that takes a count, whether it arrives as text (``parse_int``) or as
a Python value (``check_int``).

Text is decimal digits with an optional minus sign, spaces around allowed: ``+3``, ``03``,
``1_000`` and ``3.0`` are refused, so a typo is never read as some other number. A Python
value is an ``int`` or a NumPy integer, never a ``bool``, a ``float`` or a ``str``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from numbers import Integral
from typing import Any

__all__ = ["argparse_int", "check_int", "int_range", "parse_int"]

_DECIMAL = re.compile(r"-?[0-9]+")


def int_range(low: int, high: int | None = None) -> str:
    """``from 1 to 100`` or ``>= 1``: the words every message uses."""
    return f">= {low}" if high is None else f"from {low} to {high}"


def _checked(number: int | None, value: Any, name: str, low: int, high: int | None) -> int:
    if number is None or number < low or (high is not None and number > high):
        raise ValueError(f"{name} must be an integer {int_range(low, high)}, got {value!r}")
    return number


def parse_int(text: Any, name: str, low: int, high: int | None = None) -> int:
    """The integer ``text`` spells, within ``[low, high]``; ``ValueError`` names ``name``,
    the range and the text (``None``: it needs a value)."""
    if text is None:
        raise ValueError(f"{name} needs a value: an integer {int_range(low, high)}")
    words = str(text).strip()
    number = int(words) if _DECIMAL.fullmatch(words) else None
    return _checked(number, text, name, low, high)


def check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` when it is a whole-number type within ``[low, high]``."""
    whole = isinstance(value, Integral) and not isinstance(value, bool)
    return _checked(int(value) if whole else None, value, name, low, high)


def argparse_int(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type=`` for an integer in ``[low, high]`` (argparse names the option)."""

    def parse(text: str) -> int:
        try:
            return parse_int(text, "the value", low, high)
        except ValueError:
            span = int_range(low, high)
            raise argparse.ArgumentTypeError(f"expected an integer {span}, got {text!r}") from None

    parse.__name__ = f"integer {int_range(low, high)}"
    return parse
