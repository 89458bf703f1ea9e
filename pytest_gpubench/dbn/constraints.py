"""Declared parameter constraints, scikit-learn's vocabulary with nolearn's per-layer values.

:class:`~pytest_gpubench.dbn.DBN` declares what each constructor parameter accepts in a
``_parameter_constraints`` dict, as scikit-learn's estimators do, built from
:mod:`sklearn.utils._param_validation` (``Interval``, ``StrOptions``, ``"boolean"``,
``callable``, ``None``, ...) and four additions: :class:`Number` (an ``Interval`` that
refuses booleans), :class:`PerLayer` (nolearn's one value for every weight layer, or a list
of one value per weight layer), :class:`LayerSizes` and :class:`OutputFunction`.

:func:`check_params` checks the values against the declaration and raises scikit-learn's
``InvalidParameterError`` (a ``ValueError``) with a message that names the parameter (and
the entry of a list), the value, and what would be accepted instead.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.utils._param_validation import (
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    _Booleans,
    _Callables,
    _Constraint,
    _InstancesOf,
    _NoneConstraint,
    make_constraint,
)

__all__ = [
    "BOOLEAN",
    "OUTPUT_FUNCTIONS",
    "LayerSizes",
    "Number",
    "OutputFunction",
    "PerLayer",
    "check_layer_sizes",
    "check_params",
    "is_sequence",
    "to_python",
]

#: Output activations nolearn accepted by gdbn class name, each with its matching loss.
OUTPUT_FUNCTIONS = ("softmax", "sigmoid", "linear")

#: A nolearn boolean: ``True`` or ``False``, and the 0 or 1 nolearn took (not advertised).
BOOLEAN = ["boolean", Hidden(Options(numbers.Integral, {0, 1}))]


def is_sequence(value: Any) -> bool:
    """A list-like of values (a numpy array counts), not a string."""
    return isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes))


def to_python(value: Any) -> Any:
    """numpy arrays and scalars as Python lists and numbers; anything else unchanged."""
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


class Number(Interval):
    """scikit-learn's ``Interval``, but ``True`` is no learn rate: booleans are refused."""

    def is_satisfied_by(self, val: Any) -> bool:
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)


class PerLayer(_Constraint):
    """One value for every weight layer, or a list with one value per weight layer, each
    meeting one of ``constraints`` (the list's length is checked against the network)."""

    def __init__(self, *constraints: Any) -> None:
        super().__init__()
        self.constraints = [_make(c) for c in constraints]

    def _entries(self, val: Any) -> list[Any]:
        val = to_python(val)
        return list(val) if is_sequence(val) else [val]

    def is_satisfied_by(self, val: Any) -> bool:
        return all(_satisfies(self.constraints, entry) for entry in self._entries(val))

    def reason(self, name: str, val: Any) -> str:
        """The message for a ``val`` that fails: a list's first bad entry, by its index."""
        if not is_sequence(to_python(val)):
            return _message(name, val, self.constraints)
        index, entry = next(
            (i, entry)
            for i, entry in enumerate(self._entries(val))
            if not _satisfies(self.constraints, entry)
        )
        return _message(f"{name}[{index}]", entry, self.constraints)

    def __str__(self) -> str:
        return f"{_describe(self.constraints)}, or a list of one per weight layer"


def check_layer_sizes(layer_sizes: Any) -> list[int]:
    """``layer_sizes`` (None: ``[-1, -1]``) as a new list of ints, ``-1`` kept first and last.

    Raises ``ValueError`` naming the bad entry. A whole float, as Python 2 scripts' ``n_feat
    / 3`` now gives, is taken as the integer it is.
    """
    sizes = [-1, -1] if layer_sizes is None else to_python(layer_sizes)
    if not is_sequence(sizes) or len(sizes) < 2:
        raise ValueError(f"layer_sizes must be {LayerSizes.expected}; got {layer_sizes!r}")
    for index, size in enumerate(sizes):
        number = isinstance(size, numbers.Real) and not isinstance(size, bool)
        whole = number and (isinstance(size, numbers.Integral) or float(size).is_integer())
        end = index in (0, len(sizes) - 1)
        if not whole or not (size >= 1 or (end and size == -1)):
            hint = (
                " (use // for a whole number of units)"
                if number and math.isfinite(size) and size > 1
                else ""
            )
            raise ValueError(
                f"layer_sizes[{index}] must be a positive integer{' or -1' if end else ''}; "
                f"got {size!r} in layer_sizes={layer_sizes!r}{hint}"
            )
    return [int(size) for size in sizes]


class LayerSizes(_Constraint):
    """nolearn's ``layer_sizes``: input, hidden and output units, ``-1`` allowed at the ends."""

    expected = (
        "a list of at least 2 integers [n_inputs, n_hidden..., n_outputs], "
        "with -1 allowed first and last (e.g. [-1, 800, 800, -1])"
    )

    def is_satisfied_by(self, val: Any) -> bool:
        try:
            check_layer_sizes(val)
        except ValueError:
            return False
        return val is not None

    def reason(self, name: str, val: Any) -> str:
        try:
            check_layer_sizes(val)
        except ValueError as exc:
            return str(exc)
        return f"{name} must be {self.expected}; got {val!r}"

    def __str__(self) -> str:
        return self.expected


class OutputFunction(_Constraint):
    """gdbn's output activation: ``"Softmax"``, ``"Sigmoid"`` or ``"Linear"`` (any case), or
    an instance or class of that name (``pytest_gpubench.dbn.gdbn.Linear()``)."""

    def is_satisfied_by(self, val: Any) -> bool:
        if not isinstance(val, str):
            val = getattr(val, "__name__", type(val).__name__)
        return val.lower() in OUTPUT_FUNCTIONS

    def __str__(self) -> str:
        return "one of 'Softmax', 'Sigmoid', 'Linear'"


def _make(constraint: Any) -> _Constraint:
    """A constraint object from a declaration entry (ours are objects already)."""
    return constraint if isinstance(constraint, _Constraint) else make_constraint(constraint)


def _satisfies(constraints: Sequence[_Constraint], val: Any) -> bool:
    return any(c.is_satisfied_by(val) for c in constraints)


def _bound(value: float, integral: bool) -> str:
    return str(int(value)) if integral else str(float(value))


def _options(c: _Constraint) -> list[str]:
    """What ``c`` accepts, as the options of a sentence: "an integer >= 1", "True", ..."""
    if isinstance(c, Interval):
        integral = c.type is numbers.Integral
        left = -math.inf if c.left is None else c.left
        right = math.inf if c.right is None else c.right
        if integral and right == math.inf:
            return [f"an integer {'>=' if c.closed in ('left', 'both') else '>'} {left}"]
        opening = "[" if c.closed in ("left", "both") else "("
        closing = "]" if c.closed in ("right", "both") and right != math.inf else ")"
        kind = "an integer" if integral else "a real number"
        return [f"{kind} in {opening}{_bound(left, integral)}, {_bound(right, integral)}{closing}"]
    if isinstance(c, StrOptions):
        return [repr(option) for option in sorted(c.options)]
    if isinstance(c, _Booleans):
        return ["True", "False"]
    if isinstance(c, _NoneConstraint):
        return ["None"]
    if isinstance(c, _Callables):
        return ["a callable"]
    if isinstance(c, _InstancesOf):
        numpy = "numpy " if c.type.__module__.startswith("numpy") else ""
        return [f"a {numpy}{c.type.__name__}"]
    return [str(c)]


def _describe(constraints: Sequence[_Constraint]) -> str:
    """The constraints' options as one phrase: "None, True or False"."""
    parts = [option for c in constraints for option in _options(c)]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} or {parts[-1]}"


def _message(name: str, val: Any, constraints: Sequence[_Constraint]) -> str:
    """``<name> must be <what is accepted>; got <val>``. For a number out of range only the
    ranges are named: the fix for a bad number is a good number."""
    for c in constraints:
        if hasattr(c, "reason"):  # a list's or a structure's own, more precise message
            return c.reason(name, val)
    shown = [c for c in constraints if not c.hidden]
    if isinstance(val, numbers.Real) and not isinstance(val, bool):
        shown = [c for c in shown if isinstance(c, Interval)] or shown
    return f"{name} must be {_describe(shown)}; got {val!r}"


def check_params(declared: Mapping[str, list[Any]], params: Mapping[str, Any]) -> None:
    """Raise ``InvalidParameterError`` for the first of ``params``, in the order of
    ``declared``, that meets none of its declared constraints (``"no_validation"``, or a
    parameter not declared, is not checked)."""
    for name, declaration in declared.items():
        if name not in params or declaration == "no_validation":
            continue
        constraints = [_make(c) for c in declaration]
        if not _satisfies(constraints, params[name]):
            raise InvalidParameterError(_message(name, params[name], constraints))
