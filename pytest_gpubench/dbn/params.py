"""The DBN's checked hyper-parameters expanded into one plain value per weight layer.

The estimator first checks every parameter against its declared constraints
(:mod:`.constraints`). What needs the data or the network's depth is checked here, once per
fit: ``-1`` layer sizes are inferred from X and y (and fixed sizes compared with them),
per-layer lists must have one entry per weight layer, and a learn rate times its L2 cost
must stay below 1. A bad value's message names the parameter, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .constraints import OUTPUT_FUNCTIONS, check_layer_sizes, is_sequence, to_python

__all__ = [
    "OUTPUT_FUNCTIONS",
    "NetConfig",
    "StepConfig",
    "expand",
    "output_name",
    "resolve_layer_sizes",
]


def expand(name: str, value: Any, n_layers: int) -> list[Any]:
    """One value per weight layer: a scalar is repeated, a list must have ``n_layers`` entries."""
    value = to_python(value)
    if not is_sequence(value):
        return [value] * n_layers
    values = list(value)
    if len(values) != n_layers:
        raise ValueError(
            f"{name} has {len(values)} entries ({values!r}) but the network has {n_layers} "
            f"weight layer(s); pass one value or a list of {n_layers}"
        )
    return values


def resolve_layer_sizes(layer_sizes: Any, n_features: int, n_classes: int) -> list[int]:
    """The layer sizes with ``-1`` at either end inferred from the data (a new list)."""
    resolved = check_layer_sizes(layer_sizes)
    for index, actual, what in ((0, n_features, "features of X"), (-1, n_classes, "classes in y")):
        if resolved[index] == -1:
            resolved[index] = actual
        elif resolved[index] != actual:
            raise ValueError(
                f"layer_sizes[{index}]={resolved[index]} does not match the {actual} {what}; "
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

    def check_weight_decay(self, phase: str) -> None:
        """gdbn shrinks the weights by ``1 - learn_rate * l2_cost`` per step: at 1 or more
        that flips their sign."""
        for i, (rate, cost) in enumerate(zip(self.learn_rates, self.l2_costs, strict=True)):
            if rate * cost >= 1.0:
                raise ValueError(
                    f"learn_rates{phase}[{i}] * l2_costs{phase}[{i}] = {rate * cost:g} "
                    "must be < 1 (the weight decay would flip the weights' sign)"
                )


@dataclass(frozen=True)
class NetConfig:
    """Every hyper-parameter of one fit, expanded to one entry per weight layer."""

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
        cls, params: Mapping[str, Any], n_samples: int, n_features: int, n_classes: int
    ) -> NetConfig:
        """``DBN.get_params()``, already checked against the declared constraints, for data
        of the given shape."""
        sizes = resolve_layer_sizes(params["layer_sizes"], n_features, n_classes)

        def per_layer(name: str, cast: Callable[[Any], Any] = float) -> tuple:
            values = expand(name, params[name], len(sizes) - 1)
            return tuple(None if v is None else cast(v) for v in values)

        def or_else(name: str, fallback: Any, read: Callable[[str], Any]) -> Any:
            return fallback if params[name] is None else read(name)

        fine_tune = StepConfig(
            per_layer("learn_rates"),
            float(params["momentum"]),
            per_layer("l2_costs"),
            bool(params["nest_compare"]),
        )
        pretrain = StepConfig(  # nolearn's *_pretrain parameters default to fine-tuning's
            or_else("learn_rates_pretrain", fine_tune.learn_rates, per_layer),
            or_else("momentum_pretrain", fine_tune.momentum, lambda n: float(params[n])),
            or_else("l2_costs_pretrain", fine_tune.l2_costs, per_layer),
            or_else("nest_compare_pretrain", fine_tune.nest_compare, lambda n: bool(params[n])),
        )
        fine_tune.check_weight_decay("")
        pretrain.check_weight_decay("_pretrain")
        minibatch_size = int(params["minibatch_size"])
        per_epoch = params["minibatches_per_epoch"]
        return cls(
            layer_sizes=tuple(sizes),
            scales=per_layer("scales"),
            fan_outs=per_layer("fan_outs", int),
            uniforms=per_layer("uniforms", bool),
            output=output_name(params["output_act_funct"]),
            real_valued_vis=bool(params["real_valued_vis"]),
            use_re_lu=bool(params["use_re_lu"]),
            fine_tune=fine_tune,
            pretrain=pretrain,
            learn_rate_decays=per_layer("learn_rate_decays"),
            learn_rate_minimums=per_layer("learn_rate_minimums"),
            dropouts=per_layer("dropouts"),
            nesterov=bool(params["nesterov"]),
            rms_lims=per_layer("rms_lims"),
            epochs=int(params["epochs"]),
            epochs_pretrain=per_layer("epochs_pretrain", int),
            minibatch_size=minibatch_size,
            minibatches_per_epoch=(
                max(1, n_samples // minibatch_size) if per_epoch is None else int(per_epoch)
            ),
            loss_funct=params["loss_funct"],
            pretrain_callback=params["pretrain_callback"],
            fine_tune_callback=params["fine_tune_callback"],
            verbose=int(params["verbose"]),
            dtype=params["dtype"],
        )
