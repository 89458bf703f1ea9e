"""One rule for every count the package reads: text, Python values and argparse types."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest

from pytest_gpubench.integers import argparse_int, check_int, int_range, parse_int


def test_the_range_reads_the_same_everywhere() -> None:
    assert int_range(1) == ">= 1"
    assert int_range(0, 10) == "from 0 to 10"


@pytest.mark.parametrize(("text", "expected"), [("3", 3), (" 3 ", 3), ("-2", -2), ("0", 0)])
def test_text_of_decimal_digits_is_read(text: str, expected: int) -> None:
    assert parse_int(text, "--n", -5) == expected


@pytest.mark.parametrize("text", ["+3", "03x", "1_000", "3.0", "three", "", "0x10", "1e3"])
def test_text_that_is_not_plain_decimal_is_refused_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"--n must be an integer >= 0, got {text!r}")):
        parse_int(text, "--n", 0)


def test_text_outside_the_range_names_the_range() -> None:
    with pytest.raises(ValueError, match=r"--n must be an integer from 1 to 9, got '10'"):
        parse_int("10", "--n", 1, 9)
    with pytest.raises(ValueError, match="--n needs a value: an integer from 1 to 9"):
        parse_int(None, "--n", 1, 9)


def test_python_values_must_be_whole_number_types() -> None:
    assert check_int(np.int64(4), "n", 1) == 4 and type(check_int(np.int64(4), "n", 1)) is int
    for bad in (True, 2.0, "2", None):
        with pytest.raises(ValueError, match=rf"n must be an integer >= 1, got {bad!r}"):
            check_int(bad, "n", 1)
    with pytest.raises(ValueError, match="n must be an integer from 1 to 3, got 4"):
        check_int(4, "n", 1, 3)


def test_an_argparse_type_says_what_was_wrong_and_argparse_names_the_option() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--epochs", type=argparse_int(1))
    assert parser.parse_args(["--epochs", "7"]).epochs == 7
    with pytest.raises(argparse.ArgumentError, match=r"expected an integer >= 1, got '0'"):
        parser.parse_args(["--epochs", "0"])
