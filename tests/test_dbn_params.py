"""DBN hyper-parameters: nolearn's scalar-or-per-layer expansion, -1 sizes, bad values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from pytest_gpubench.dbn import DBN
from pytest_gpubench.dbn.params import NetConfig, expand, output_name, resolve_layer_sizes


def config(**params: object) -> NetConfig:
    full = {**DBN().get_params(), "layer_sizes": [-1, 8, 6, -1], **params}
    DBN(**full)._validate_params()  # the declared constraints, which fit checks first
    return NetConfig.from_params(full, n_samples=100, n_features=5, n_classes=3)


def test_scalar_is_repeated_per_weight_layer_and_lists_are_kept() -> None:
    assert expand("learn_rates", 0.1, 3) == [0.1, 0.1, 0.1]
    assert expand("learn_rates", [0.1, 0.2, 0.3], 3) == [0.1, 0.2, 0.3]
    assert expand("learn_rates", np.array([0.1, 0.2]), 2) == [0.1, 0.2]
    assert expand("rms_lims", None, 2) == [None, None]


def test_config_expands_every_per_layer_parameter() -> None:
    cfg = config(learn_rates=[0.1, 0.05, 0.01], dropouts=[0.2, 0.5, 0.5], epochs_pretrain=2)
    assert cfg.layer_sizes == (5, 8, 6, 3)
    assert cfg.fine_tune.learn_rates == (0.1, 0.05, 0.01)
    assert cfg.pretrain.learn_rates == (0.1, 0.05, 0.01)  # defaults to the fine-tune rates
    assert cfg.dropouts == (0.2, 0.5, 0.5)
    assert cfg.epochs_pretrain == (2, 2, 2)
    assert cfg.scales == (0.05,) * 3
    assert cfg.fine_tune.l2_costs == (0.0001,) * 3
    assert cfg.minibatches_per_epoch == 100 // 64
    assert cfg.output == "softmax"


def test_pretrain_overrides_apply_to_pretraining_only() -> None:
    cfg = config(
        learn_rates_pretrain=0.01,
        momentum_pretrain=0.5,
        l2_costs_pretrain=0.0,
        nest_compare_pretrain=False,
    )
    assert cfg.pretrain.learn_rates == (0.01,) * 3
    assert cfg.pretrain.momentum == 0.5
    assert cfg.pretrain.l2_costs == (0.0,) * 3
    assert cfg.pretrain.nest_compare is False
    assert cfg.fine_tune.learn_rates == (0.1,) * 3
    assert cfg.fine_tune.momentum == 0.9


def test_minus_one_sizes_are_inferred_into_a_new_list() -> None:
    sizes = [-1, 10, -1]
    assert resolve_layer_sizes(sizes, 7, 4) == [7, 10, 4]
    assert sizes == [-1, 10, -1]
    assert resolve_layer_sizes(None, 7, 4) == [7, 4]
    assert resolve_layer_sizes((7, 3, 4), 7, 4) == [7, 3, 4]
    # nolearn's docs wrote [n_feat, n_feat / 3, n_targets]: a whole float under Python 3
    resolved = resolve_layer_sizes([7, 21 / 3, 4.0], 7, 4)
    assert resolved == [7, 7, 4] and all(type(n) is int for n in resolved)


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        ([10], r"layer_sizes must be a list of at least 2 integers.*got \[10\]"),
        ("abc", r"layer_sizes must be .*got 'abc'"),
        ([-1, 0, -1], r"layer_sizes\[1\] must be a positive integer; got 0"),
        ([-1, -1, -1], r"layer_sizes\[1\] must be a positive integer; got -1"),
        ([-1, 2.5, -1], r"layer_sizes\[1\] must be a positive integer; got 2.5 .*use //"),
        ([-1, float("nan"), -1], r"layer_sizes\[1\] must be a positive integer; got nan"),
        ([-1, 0.0, -1], r"layer_sizes\[1\] must be a positive integer; got 0.0"),
        ([-1, True, -1], r"layer_sizes\[1\] must be a positive integer; got True"),
        ([6, 10, -1], r"layer_sizes\[0\]=6 does not match the 7 features of X; set it to -1"),
        ([-1, 10, 3], r"layer_sizes\[-1\]=3 does not match the 4 classes in y; set it to -1"),
    ],
)
def test_impossible_layer_sizes_are_rejected(sizes: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_layer_sizes(sizes, 7, 4)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (
            {"learn_rates": [0.1, 0.1]},
            r"learn_rates has 2 entries \(\[0.1, 0.1\]\) but the "
            r"network has 3 weight layer\(s\); pass one value or a list of 3",
        ),
        ({"dropouts": [0.1] * 4}, r"dropouts has 4 entries"),
        ({"learn_rates": -0.1}, r"learn_rates must be a real number in \[0.0, inf\); got -0.1"),
        ({"learn_rates": [0.1, -1, 0.1]}, r"learn_rates\[1\] must be .*; got -1"),
        ({"momentum": 1.0}, r"momentum must be a real number in \[0.0, 1.0\); got 1.0"),
        ({"dropouts": 1}, r"dropouts must be a real number in \[0.0, 1.0\); got 1"),
        ({"l2_costs": float("nan")}, r"l2_costs must be .*; got nan"),
        ({"minibatch_size": 0}, r"minibatch_size must be an integer >= 1; got 0"),
        ({"minibatch_size": -64}, r"minibatch_size must be an integer >= 1; got -64"),
        ({"minibatches_per_epoch": 0}, r"minibatches_per_epoch must be an integer >= 1; got 0"),
        ({"epochs": -1}, r"epochs must be an integer >= 0; got -1"),
        ({"epochs_pretrain": 1.5}, r"epochs_pretrain must be an integer >= 0; got 1.5"),
        ({"nesterov": "yes"}, r"nesterov must be True or False; got 'yes'"),
        ({"rms_lims": [None, 0, None]}, r"rms_lims\[1\] must be a real number"),
        ({"fan_outs": 0}, r"fan_outs must be an integer >= 1; got 0"),
        (
            {"output_act_funct": "Tanh"},
            r"output_act_funct must be None or one of 'Softmax', "
            r"'Sigmoid', 'Linear'; got 'Tanh'",
        ),
        ({"loss_funct": 3}, r"loss_funct must be a callable or None; got 3"),
        ({"dtype": "float16"}, r"dtype must be 'float32' or 'float64'; got 'float16'"),
        (
            {"learn_rates": 10.0, "l2_costs": 0.1},
            r"learn_rates\[0\] \* l2_costs\[0\] = 1 must "
            r"be < 1",
        ),
    ],
)
def test_bad_values_name_the_parameter_the_value_and_what_is_expected(
    params: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        config(**params)


def test_output_function_names_follow_gdbn_classes() -> None:
    assert output_name(None) == "softmax"
    assert output_name("Sigmoid") == "sigmoid"

    class Linear:  # a stand-in for a gdbn activation instance
        pass

    assert output_name(Linear()) == "linear"
    assert output_name(Linear) == "linear"


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"learn_rates": True}, r"learn_rates must be a real number in \[0.0, inf\); got True"),
        ({"learn_rates": "fast"}, r"learn_rates must be a real number .*; got 'fast'"),
        ({"rms_lims": float("inf")}, r"rms_lims must be a real number in \(0.0, inf\); got inf"),
        ({"uniforms": [True, 2, False]}, r"uniforms\[1\] must be True or False; got 2"),
        ({"fan_outs": "x"}, r"fan_outs must be None or an integer >= 1; got 'x'"),
        ({"nest_compare_pretrain": 3}, r"nest_compare_pretrain must be None, True or False"),
        ({"learn_rates_pretrain": [0.1, -1, 0.1]}, r"learn_rates_pretrain\[1\] must be .*; got -1"),
        ({"momentum_pretrain": 2.0}, r"momentum_pretrain must be a real number in \[0.0, 1.0\)"),
        ({"verbose": -1}, r"verbose must be an integer >= 0; got -1"),
        ({"epochs": 2.0}, r"epochs must be an integer >= 0; got 2.0"),
        ({"warm_start": "yes"}, r"warm_start must be True or False; got 'yes'"),
        ({"device": 0}, r"device must be a str; got 0"),
        (
            {"random_state": "seed"},
            r"random_state must be None, an integer >= 0, a numpy Generator or a numpy "
            r"RandomState; got 'seed'",
        ),
        ({"random_state": -1}, r"random_state must be an integer >= 0; got -1"),
        (
            {"layer_sizes": [-1, 2.5, -1]},
            r"layer_sizes\[1\] must be a positive integer; got 2.5 .*use //",
        ),
    ],
)
def test_the_declared_constraints_name_the_parameter_the_value_and_the_fix(
    params: dict, match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        config(**params)


def test_nolearns_values_pass_the_constraints() -> None:
    """Scalars or per-layer lists, numpy numbers and arrays, 0/1 for booleans, whole-float
    layer sizes, gdbn's activation objects: all as nolearn took them."""
    from pytest_gpubench.dbn.gdbn import Linear

    cfg = config(
        layer_sizes=[5, 16 / 2, 6.0, -1],
        learn_rates=np.array([0.1, 0.05, 0.0]),
        momentum=np.float32(0.5),
        epochs=np.int64(3),
        nesterov=1,
        uniforms=[True, 0, np.True_],
        rms_lims=[None, 0.5, None],
        output_act_funct=Linear(),
        random_state=np.random.default_rng(0),
        verbose=True,
    )
    assert cfg.layer_sizes == (5, 8, 6, 3)
    assert cfg.fine_tune.learn_rates == (0.1, 0.05, 0.0)
    assert cfg.uniforms == (True, False, True)
    assert cfg.rms_lims == (None, 0.5, None)
    assert cfg.output == "linear" and cfg.epochs == 3 and cfg.nesterov is True


def test_fit_checks_the_parameters_first_and_keeps_the_fitted_model() -> None:
    X, y = np.random.default_rng(0).random((40, 5)), np.arange(40) % 2
    clf = DBN([-1, 4, -1], epochs=1, random_state=0).fit(X, y)
    clf.set_params(momentum=1.5)
    with pytest.raises(InvalidParameterError, match=r"momentum must be .*; got 1.5"):
        clf.fit(X[:, :2] * np.nan, y)  # the bad parameter is named before the bad data
    assert clf.predict(X).shape == (40,)  # nothing was forgotten
