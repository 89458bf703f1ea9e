"""Validation and expansion of the DBN's hyper-parameters.

nolearn takes many parameters either as one value for every weight layer or as a list with
one entry per weight layer. This module turns the estimator's raw parameters into plain
per-layer tuples once per ``fit``, and rejects bad values with a message that names the
parameter, the value received and what is expected.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "OUTPUT_FUNCTIONS",
    "NetConfig",
    "StepConfig",
    "expand",
    "output_name",
    "resolve_layer_sizes",
]

#: Output activations nolearn accepted by gdbn class name, each with its matching loss.
OUTPUT_FUNCTIONS = ("softmax", "sigmoid", "linear")


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def expand(name: str, value: Any, n_layers: int) -> list[Any]:
    """One value per weight layer: a scalar is repeated, a list must have ``n_layers`` entries."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy arrays and scalars
    if not _is_sequence(value):
        return [value] * n_layers
    values = list(value)
    if len(values) != n_layers:
        raise ValueError(
            f"{name} has {len(values)} entries ({values!r}) but the network has {n_layers} "
            f"weight layer(s); pass one value or a list of {n_layers}"
        )
    return values


def _number(
    name: str, value: Any, *, low: float, high: float = math.inf, low_open=False, high_open=False
) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    number = float(value) if ok else math.nan
    inside = (
        ok
        and math.isfinite(number)
        and (number > low if low_open else number >= low)
        and (number < high if high_open else number <= high)
    )
    if not inside:
        left = "(" if low_open else "["
        right = ")" if high_open or high == math.inf else "]"
        raise ValueError(
            f"{name} must be a real number in {left}{low}, {high}{right}; got {value!r}"
        )
    return number


def _integer(name: str, value: Any, *, low: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, numbers.Integral)) or value not in (0, 1):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def _optional_callable(name: str, value: Any) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a callable or None; got {value!r}")
    return value


def resolve_layer_sizes(layer_sizes: Any, n_features: int, n_classes: int) -> list[int]:
    """The layer sizes with ``-1`` at either end inferred from the data (a new list)."""
    sizes = [-1, -1] if layer_sizes is None else layer_sizes
    if hasattr(sizes, "tolist"):
        sizes = sizes.tolist()
    expected = (
        "a list of at least 2 integers [n_inputs, n_hidden..., n_outputs], "
        "with -1 allowed first and last (e.g. [-1, 800, 800, -1])"
    )
    if not _is_sequence(sizes) or len(sizes) < 2:
        raise ValueError(f"layer_sizes must be {expected}; got {layer_sizes!r}")
    resolved = list(sizes)
    for index, size in enumerate(resolved):
        # a whole float, as Python 2 scripts' ``n_feat / 3`` now gives, is taken as it is
        whole_float = isinstance(size, numbers.Real) and float(size).is_integer()
        is_int = (isinstance(size, numbers.Integral) or whole_float) and not isinstance(size, bool)
        end = index in (0, len(resolved) - 1)
        if not is_int or not (size >= 1 or (end and size == -1)):
            hint = (
                " (use // for a whole number of units)"
                if isinstance(size, numbers.Real)
                and not isinstance(size, bool)
                and math.isfinite(size)
                and size > 1
                else ""
            )
            raise ValueError(
                f"layer_sizes[{index}] must be a positive integer"
                f"{' or -1' if end else ''}; got {size!r} in layer_sizes={layer_sizes!r}{hint}"
            )
    resolved = [int(size) for size in resolved]
    if resolved[0] == -1:
        resolved[0] = n_features
    elif resolved[0] != n_features:
        raise ValueError(
            f"layer_sizes[0]={resolved[0]} does not match the {n_features} features of X; "
            "set it to -1 to infer it"
        )
    if resolved[-1] == -1:
        resolved[-1] = n_classes
    elif resolved[-1] != n_classes:
        raise ValueError(
            f"layer_sizes[-1]={resolved[-1]} does not match the {n_classes} classes in y; "
            "set it to -1 to infer it"
        )
    return resolved


def output_name(output: Any) -> str:
    """``"softmax"``, ``"sigmoid"`` or ``"linear"`` from ``output_act_funct`` (None, a gdbn
    class name, or a gdbn activation instance or class)."""
    name = "softmax" if output is None else output
    if not isinstance(name, str):
        name = getattr(name, "__name__", type(name).__name__)
    if name.lower() not in OUTPUT_FUNCTIONS:
        raise ValueError(
            "output_act_funct must be None or one of 'Softmax', 'Sigmoid', 'Linear'; "
            f"got {output!r}"
        )
    return name.lower()


@dataclass(frozen=True)
class StepConfig:
    """Per-layer settings of one training phase (fine-tuning or pretraining)."""

    learn_rates: tuple[float, ...]
    momentum: float
    l2_costs: tuple[float, ...]
    nest_compare: bool


@dataclass(frozen=True)
class NetConfig:
    """Every hyper-parameter of one fit, validated and expanded to one entry per layer."""

    layer_sizes: tuple[int, ...]
    scales: tuple[float, ...]
    fan_outs: tuple[int | None, ...]
    uniforms: tuple[bool, ...]
    output: str
    real_valued_vis: bool
    use_re_lu: bool
    fine_tune: StepConfig
    pretrain: StepConfig
    learn_rate_decays: tuple[float, ...]
    learn_rate_minimums: tuple[float, ...]
    dropouts: tuple[float, ...]
    nesterov: bool
    rms_lims: tuple[float | None, ...]
    epochs: int
    epochs_pretrain: tuple[int, ...]
    minibatch_size: int
    minibatches_per_epoch: int
    loss_funct: Callable[..., Any] | None
    pretrain_callback: Callable[..., Any] | None
    fine_tune_callback: Callable[..., Any] | None
    verbose: int
    dtype: str

    @property
    def n_weight_layers(self) -> int:
        return len(self.layer_sizes) - 1

    @classmethod
    def from_params(
        cls, params: dict[str, Any], n_samples: int, n_features: int, n_classes: int
    ) -> NetConfig:
        """Validate ``estimator.get_params()`` against data of the given shape."""
        sizes = resolve_layer_sizes(params["layer_sizes"], n_features, n_classes)
        n = len(sizes) - 1

        def per_layer(name: str, check: Callable[[str, Any], Any]) -> tuple:
            raw = params[name]
            values = expand(name, raw, n)
            label = (lambda i: f"{name}[{i}]") if _is_sequence(raw) else (lambda i: name)
            return tuple(check(label(i), v) for i, v in enumerate(values))

        def positive(name: str, v: Any) -> float:
            return _number(name, v, low=0.0, low_open=True)

        def non_negative(name: str, v: Any) -> float:
            return _number(name, v, low=0.0)

        def optional_positive(name: str, v: Any) -> float | None:
            return None if v is None else positive(name, v)

        def optional_count(name: str, v: Any) -> int | None:
            return None if v is None else _integer(name, v, low=1)

        def count(name: str, v: Any) -> int:
            return _integer(name, v, low=0)

        def fraction(name: str, v: Any) -> float:
            return _number(name, v, low=0.0, high=1.0, high_open=True)

        momentum = _number("momentum", params["momentum"], low=0.0, high=1.0, high_open=True)
        learn_rates = per_layer("learn_rates", non_negative)  # 0 freezes a layer
        l2_costs = per_layer("l2_costs", non_negative)
        nest_compare = _boolean("nest_compare", params["nest_compare"])
        pre = {
            key: params[f"{key}_pretrain"]
            for key in ("learn_rates", "momentum", "l2_costs", "nest_compare")
        }
        pre_momentum = (
            momentum
            if pre["momentum"] is None
            else _number("momentum_pretrain", pre["momentum"], low=0.0, high=1.0, high_open=True)
        )
        pretrain = StepConfig(
            learn_rates=learn_rates
            if pre["learn_rates"] is None
            else per_layer("learn_rates_pretrain", non_negative),
            momentum=pre_momentum,
            l2_costs=l2_costs
            if pre["l2_costs"] is None
            else per_layer("l2_costs_pretrain", non_negative),
            nest_compare=nest_compare
            if pre["nest_compare"] is None
            else _boolean("nest_compare_pretrain", pre["nest_compare"]),
        )
        for phase, step in (("", None), ("_pretrain", pretrain)):
            rates = learn_rates if step is None else step.learn_rates
            costs = l2_costs if step is None else step.l2_costs
            for i, (rate, cost) in enumerate(zip(rates, costs, strict=True)):
                if rate * cost >= 1.0:
                    raise ValueError(
                        f"learn_rates{phase}[{i}] * l2_costs{phase}[{i}] = {rate * cost:g} "
                        "must be < 1 (the weight decay would flip the weights' sign)"
                    )

        output = output_name(params["output_act_funct"])

        minibatch_size = _integer("minibatch_size", params["minibatch_size"], low=1)
        per_epoch = params["minibatches_per_epoch"]
        if per_epoch is None:
            per_epoch = max(1, n_samples // minibatch_size)
        per_epoch = _integer("minibatches_per_epoch", per_epoch, low=1)

        dtype = params["dtype"]
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")

        return cls(
            layer_sizes=tuple(sizes),
            scales=per_layer("scales", non_negative),
            fan_outs=per_layer("fan_outs", optional_count),
            uniforms=per_layer("uniforms", _boolean),
            output=output,
            real_valued_vis=_boolean("real_valued_vis", params["real_valued_vis"]),
            use_re_lu=_boolean("use_re_lu", params["use_re_lu"]),
            fine_tune=StepConfig(learn_rates, momentum, l2_costs, nest_compare),
            pretrain=pretrain,
            learn_rate_decays=per_layer("learn_rate_decays", positive),
            learn_rate_minimums=per_layer("learn_rate_minimums", non_negative),
            dropouts=per_layer("dropouts", fraction),
            nesterov=_boolean("nesterov", params["nesterov"]),
            rms_lims=per_layer("rms_lims", optional_positive),
            epochs=_integer("epochs", params["epochs"], low=0),
            epochs_pretrain=per_layer("epochs_pretrain", count),
            minibatch_size=minibatch_size,
            minibatches_per_epoch=per_epoch,
            loss_funct=_optional_callable("loss_funct", params["loss_funct"]),
            pretrain_callback=_optional_callable("pretrain_callback", params["pretrain_callback"]),
            fine_tune_callback=_optional_callable(
                "fine_tune_callback", params["fine_tune_callback"]
            ),
            verbose=_integer(
                "verbose",
                int(params["verbose"])
                if isinstance(params["verbose"], bool)
                else params["verbose"],
                low=0,
            ),
            dtype=dtype,
        )
