"""What a failed or useless fit tells its user: divergence, a fit at chance, unscaled X.

nolearn returned a model trained on NaN, and a ReLU network whose units died ended at chance
level without a word. The DBN stops a diverged fit with :class:`TrainingDivergedError` and
warns when a finished fit learned nothing, each naming the likely cause and the fix.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

__all__ = [
    "AT_CHANCE",
    "EXPLODED_LOSS",
    "INPUT_SCALE_HINT_ABOVE",
    "TrainingDivergedError",
    "check_loss",
    "input_scale_hint",
    "warn_if_at_chance",
]

#: A mean training loss per case above this has diverged even if it is still finite: with
#: ReLUs the units then die and the fit would end, silently, at chance level.
EXPLODED_LOSS = 1e6

#: A final training error at or above this fraction of the majority-class error is "at
#: chance" and draws a ConvergenceWarning.
AT_CHANCE = 0.95

#: Inputs larger than this (in magnitude) get a hint to scale them when a fit fails:
#: nolearn's learn rates assume inputs of about [0, 1] (digits' raw pixels reach 16).
INPUT_SCALE_HINT_ABOVE = 8.0


class TrainingDivergedError(FloatingPointError, ValueError):
    """The training loss became NaN or infinite; the fit was abandoned."""


def input_scale_hint(xp: Any, X: Any) -> str:
    """A sentence for a failed fit's message where X is far from the [0, 1] scale that
    nolearn's learn rates assume; empty otherwise."""
    top = float(xp.max(xp.abs(X)))
    if not top > INPUT_SCALE_HINT_ABOVE:
        return ""
    return (
        f"; X reaches {top:.4g} in magnitude: scale it to about [0, 1] first "
        "(e.g. pixels / 255), as nolearn's learn rates assume"
    )


def check_loss(loss: float, epoch: int, learn_rates: Sequence[float], hint: Callable[[], str]):
    """Raise :class:`TrainingDivergedError` where fine-tuning epoch ``epoch`` ended with a
    NaN, infinite or exploded mean loss."""
    if not math.isfinite(loss) or loss > EXPLODED_LOSS:
        raise TrainingDivergedError(
            f"fine-tuning diverged in epoch {epoch}: the mean training loss is "
            f"{loss:.4g}; lower learn_rates (now {list(learn_rates)}){hint()}"
        )


def warn_if_at_chance(
    errors: Sequence[float],
    y_index: np.ndarray,
    learn_rates: Sequence[float],
    hint: Callable[[], str],
    stacklevel: int,
) -> None:
    """Warn when, after two epochs or more, the last epoch's training error is no better
    than always predicting the most frequent class: the fit finished, but the network
    learned nothing (with ReLUs, a too-large learn rate kills the hidden units while the
    loss stays finite). One epoch is not judged: its error counts the first minibatches."""
    if len(errors) < 2:
        return
    chance = 1.0 - float(np.bincount(y_index).max()) / len(y_index)
    if errors[-1] >= AT_CHANCE * chance:
        warnings.warn(
            f"the training error after epoch {len(errors)} is {errors[-1]:.3f}, no better "
            f"than always predicting the most frequent class ({chance:.3f}): the network "
            f"learned nothing. If the labels can be learned at all, the learn rate was too "
            f"large (with ReLUs, the hidden units die) or the updates too few; lower "
            f"learn_rates (now {list(learn_rates)}) or scales, or train longer{hint()}",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
