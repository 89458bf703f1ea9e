"""The regression gate: compare a run's speedups with a saved run, fail on a real loss.

Saved runs live in pytest-benchmark's storage layout (``.benchmarks/<machine-id>/NNNN_*.json``,
written by ``--benchmark-save``/``--benchmark-autosave``) with our ``gpubench`` section; finding
and reading them is :mod:`.storage`'s job, comparing them this module's.

How a row fails (``speedup`` thresholds). For a device D and the baseline device B, the
speedup of a run is ``median(B rounds) / median(D rounds)``. Each run's *speedup samples*
are D's rounds normalised by that run's baseline median, ``median(B) / t_i``: one sample
per D round, on the scale of the speedup. A row fails only when all of these hold:

1. the drop of the point estimate exceeds the threshold (``speedup:10%``, ``speedup:0.5``);
2. a one-sided Mann-Whitney U test says the saved run's samples are stochastically larger
   than the current run's at level ``alpha`` (default 0.01). Rank-based, it assumes no
   distribution for round times, which are skewed and have outliers; asv uses the same
   test. When the rounds are too few for any p-value below ``alpha`` (one-sided, the
   smallest possible is ``1 / C(n + m, n)``: 3 vs 3 rounds give 0.05) the row is skipped
   with a note, never failed;
3. the bootstrap intervals of the two speedups (:func:`~.speedup.speedup_interval`) do
   not overlap. The samples in (2) treat the baseline median as exact; the intervals
   resample B's rounds too, so noise in the baseline device alone cannot fail a row.

``time`` thresholds test one device's raw rounds the same way (growth of the median beyond
the threshold, and a one-sided Mann-Whitney U test on the rounds).

A gate also fails when a row the saved run measured is n/a now (its device stopped working,
or its benchmark failed): a broken CuPy install must not pass as "no speedup lost". Rows
that are absent from the current run (tests not selected) are skipped, but a gate that
compares nothing at all fails.

Speedups from different hardware mean nothing together: unless ``force=True``, comparing
runs whose devices have different hardware fingerprints raises ``ValueError``, and so does
comparing runs of different profiles (``extra["profile"]``: ``quick`` and ``seed`` run
different workloads under the same size ids).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .report_json import device_descriptions, hardware_facts
from .results import Measurement, RunResults
from .speedup import estimate_speedup

__all__ = [
    "DEFAULT_ALPHA",
    "Check",
    "Comparison",
    "Skip",
    "Threshold",
    "compare",
    "hardware_mismatches",
    "hardware_refusal",
    "min_p_value",
    "parse_compare_fail",
    "profile_mismatch",
    "rounds_for",
]

#: Significance level of the rank test: a failing gate should be a real loss.
DEFAULT_ALPHA = 0.01

Metric = Literal["speedup", "time"]

_ACCEPTED = (
    "METRIC:LIMIT with METRIC 'speedup' or 'time' and LIMIT a percentage or an amount: "
    "speedup:10% (fail when a speedup drops by more than 10%), speedup:0.5 (drops by more "
    "than 0.5x), time:5% (a median time grows by more than 5%), time:0.002 (by more than "
    "2 ms)"
)
_EXPR = re.compile(r"^(?P<metric>speedup|time):(?P<value>\d+(\.\d*)?|\.\d+)(?P<pct>%?)$")


@dataclass(frozen=True)
class Threshold:
    """How much worse a metric may get: relative (percent) or absolute (× or seconds)."""

    metric: Metric
    value: float
    relative: bool

    def __str__(self) -> str:
        return f"{self.metric}:{self.value:g}{'%' if self.relative else ''}"

    def loss(self, old: float, new: float) -> float:
        """How much worse ``new`` is, in this threshold's unit (positive = worse)."""
        worse = old - new if self.metric == "speedup" else new - old
        if not self.relative:
            return worse
        return worse / old * 100 if old else math.inf

    def exceeded(self, old: float, new: float) -> bool:
        return self.loss(old, new) > self.value


def parse_compare_fail(expr: str) -> Threshold:
    """``speedup:10%`` → ``Threshold("speedup", 10.0, relative=True)``.

    Raises ``ValueError`` naming the expression and the accepted forms.
    """
    match = _EXPR.match(expr.strip().lower()) if isinstance(expr, str) else None
    if match is None or not math.isfinite(float(match["value"])):
        limit = _unbounded(expr)
        if limit is not None:
            raise ValueError(
                f"compare-fail expression {expr!r} has no finite limit ({limit}), so no loss "
                "could ever exceed it and the gate could never fail; give a finite limit such "
                "as speedup:10% or time:5%"
            )
        raise ValueError(f"cannot parse compare-fail expression {expr!r}; expected {_ACCEPTED}")
    metric: Metric = "speedup" if match["metric"] == "speedup" else "time"
    threshold = Threshold(metric, float(match["value"]), relative=bool(match["pct"]))
    if metric == "speedup" and threshold.relative and threshold.value >= 100:
        raise ValueError(
            f"compare-fail expression {expr!r} can never fail: a speedup cannot drop by "
            "100% or more; give a smaller percentage such as speedup:10%"
        )
    return threshold


def _unbounded(expr: object) -> str | None:
    """The limit of ``METRIC:LIMIT`` when it reads as infinite or NaN (``inf``, ``1e999``)."""
    if not isinstance(expr, str) or ":" not in expr:
        return None
    limit = expr.split(":", 1)[1].strip().removesuffix("%")
    try:
        value = float(limit)
    except ValueError:
        return None
    return None if math.isfinite(value) else limit


# --------------------------------------------------------------------------- statistics


def min_p_value(n: int, m: int) -> float:
    """The smallest one-sided Mann-Whitney U p-value that ``n`` and ``m`` samples allow."""
    if n < 1 or m < 1:
        return 1.0
    return 1.0 / math.comb(n + m, n)


def rounds_for(alpha: float) -> int:
    """The fewest rounds a side (equal on both) that allow a p-value below ``alpha``."""
    rounds = 1
    while min_p_value(rounds, rounds) >= alpha:
        rounds += 1
    return rounds


def _mwu_greater(larger: Sequence[float], smaller: Sequence[float]) -> float:
    """One-sided p-value that ``larger`` is stochastically larger than ``smaller``."""
    from scipy.stats import mannwhitneyu

    result = mannwhitneyu(larger, smaller, alternative="greater")
    return float(result.pvalue)


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Check:
    """One threshold applied to one (experiment, size, device).

    ``drop_pct`` is how much worse, in percent: the fall of the speedup, or the growth of
    the median time. ``status`` is ``failed``, ``passed``, ``noise`` (beyond the
    threshold but not significant) or ``undecided`` (beyond the threshold, with too few
    rounds for the test to be significant at all); ``note`` says why when not obvious.
    """

    experiment: str
    size: str
    device: str
    threshold: Threshold
    old: float
    new: float
    drop_pct: float
    p_value: float | None
    status: Literal["failed", "passed", "noise", "undecided"]
    note: str = ""
    #: False for a display-only threshold: a loss it finds is shown, never failed on
    gating: bool = True
    #: 95% intervals of the saved and the current value, where known
    old_interval: tuple[float, float] | None = None
    new_interval: tuple[float, float] | None = None

    @property
    def lost(self) -> bool:
        """Beyond the threshold and significant (whether or not that fails the gate)."""
        return self.status == "failed"

    @property
    def failed(self) -> bool:
        return self.lost and self.gating

    def describe(self) -> str:
        speedup = self.threshold.metric == "speedup"
        unit = "×" if speedup else " s"
        change = -self.drop_pct if speedup else self.drop_pct
        p = f", p={self.p_value:.2g}" if self.p_value is not None else ""

        def interval(bounds: tuple[float, float] | None) -> str:
            return f" [{bounds[0]:.4g}–{bounds[1]:.4g}]" if bounds else ""

        text = (
            f"{self.experiment} {self.size} {self.device} {self.threshold.metric}: "
            f"{self.old:.4g}{unit}{interval(self.old_interval)} → "
            f"{self.new:.4g}{unit}{interval(self.new_interval)} ({change:+.1f}%, "
            f"limit {self.threshold}{p})"
        )
        return f"{text}: {self.note}" if self.note else text


@dataclass(frozen=True)
class Skip:
    """A (experiment, size, device) that could not be compared, and why."""

    experiment: str
    size: str
    device: str
    why: str

    def describe(self) -> str:
        return f"{self.experiment} {self.size} {self.device}: {self.why}"


@dataclass
class Comparison:
    """The outcome of :func:`compare`: every check, the skipped rows, and notes."""

    baseline_device: str
    alpha: float
    checks: list[Check] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = "the saved run"
    #: rows the saved run measured that a gated experiment could not measure now (a device
    #: that stopped working, a benchmark that failed): these fail the gate
    missing: list[Skip] = field(default_factory=list)
    #: whether any threshold gates (fails the session) rather than only showing losses
    gated: bool = True
    #: gated rows that could not be judged (a busy machine left too few clean rounds)
    undecided: list[Skip] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def compared_nothing(self) -> bool:
        """A gate that checked nothing (no row measured in both runs, or every such row
        skipped, e.g. for rounds of 0 s): it must not pass silently."""
        return self.gated and not any(c.gating for c in self.checks) and not self.missing

    @property
    def untestable(self) -> bool:
        """A gate whose every gating check had too few rounds for any p-value below alpha:
        it could not have failed whatever the numbers, so it must not pass."""
        gating = [c for c in self.checks if c.gating]
        return self.gated and bool(gating) and all(c.p_value is None for c in gating)

    @property
    def undecided_checks(self) -> list[Check]:
        """Gating checks beyond their limit that too few rounds left unjudged."""
        return [c for c in self.checks if c.gating and c.status == "undecided"]

    @property
    def decided(self) -> bool:
        """Every gated row was judged: none was left undecided by a busy machine or by too
        few rounds. An undecided gate fails: it never passes silently."""
        return not self.undecided and not self.undecided_checks

    @property
    def ok(self) -> bool:
        return (
            not self.failures
            and not self.missing
            and not self.compared_nothing
            and not self.untestable
            and self.decided
        )

    def render(self) -> str:
        """What failed and by how much, what was within noise, and what was skipped."""
        failures = self.failures
        shown = [c for c in self.checks if c.lost and not c.gating]
        noise = [c for c in self.checks if c.status == "noise"]
        undecided = self.undecided_checks
        head = "ok" if self.ok else "FAILED" if self.failures or self.decided else "UNDECIDED"
        lines = [
            f"gpubench compare vs {self.source} (speedups vs {self.baseline_device}, "
            f"alpha {self.alpha:g}): {head}; {len(self.checks)} checks, {len(failures)} "
            f"failed, {len(noise)} within noise, {len(self.skipped)} skipped"
        ]
        if self.missing:
            lines[0] += f", {len(self.missing)} no longer measured"
        if self.undecided or undecided:
            lines[0] += f", {len(self.undecided) + len(undecided)} undecided"
        lines += [f"  note: {note}" for note in self.notes]
        if self.compared_nothing:
            lines.append(
                "Nothing compared: no (experiment, size, device) was measured in both runs "
                "in a way that could be checked (see the skipped rows), and a gate that "
                "compares nothing fails. Check the selected tests and devices against the "
                "saved run."
            )
        if self.untestable:
            need = rounds_for(self.alpha)
            lines.append(
                f"Untestable: every checked row has too few rounds for a p-value below alpha "
                f"{self.alpha:g} (at least {need} a side are needed), so this gate could not "
                f"have failed, and it fails. Save the baseline and run the gate with "
                f"--gpubench-min-rounds {need} or more."
            )
        if self.missing:
            lines.append("Measured in the saved run, n/a now (fails the gate):")
            lines += [f"  {s.describe()}" for s in self.missing]
        if self.undecided or undecided:
            lines.append(
                "Undecided (fails the gate: it could not judge these, so it cannot pass them). "
                "On a busy machine, run again when it is quieter or raise "
                "--gpubench-max-time; for too few rounds, raise --gpubench-min-rounds:"
            )
            lines += [f"  {s.describe()}" for s in self.undecided]
            lines += [f"  {c.describe()}" for c in undecided]
        if failures:
            lines.append("Lost (beyond the limit and significant):")
            lines += [f"  {c.describe()}" for c in failures]
        if shown:
            lines.append("Beyond the report threshold and significant (shown, not gated):")
            lines += [f"  {c.describe()}" for c in shown]
        if noise:
            lines.append("Beyond the limit but within noise (not failed):")
            lines += [f"  {c.describe()}" for c in noise]
        if self.skipped:
            lines.append("Skipped:")
            lines += [f"  {s.describe()}" for s in self.skipped]
        return "\n".join(lines) + "\n"


def _index(results: RunResults) -> dict[tuple[str, str, str], Measurement]:
    return {(m.experiment, m.size, m.device): m for m in results.measurements}


def profile_mismatch(now: str | None, then: str | None) -> str | None:
    """Why runs of profiles ``now`` and ``then`` are not compared; None when they may be.
    The same size ids run different workloads in ``quick`` and ``seed``."""
    if not now or not then or now == then:
        return None
    return (
        f"the saved run used profile {then!r} and this one {now!r}: the same sizes run "
        "different workloads in each. Compare with a run of the same profile "
        f"(--gpubench-profile {then}), or, to compare anyway, pass --gpubench-compare-force "
        "(force=True to compare())"
    )


def hardware_mismatches(
    now: Mapping[str, Mapping[str, str]],
    then: Mapping[str, Mapping[str, str]],
    devices: Iterable[str],
) -> list[str]:
    """One line per device of ``devices`` whose hardware differs between the descriptions
    ``now`` and ``then`` (``"cupy: saved on {...}, now {...}"``)."""
    lines = []
    for device in sorted(devices):
        new, old = hardware_facts(now.get(device, {})), hardware_facts(then.get(device, {}))
        if new and old and new != old:
            lines.append(f"{device}: saved on {old}, now {new}")
    return lines


def hardware_refusal(mismatches: Sequence[str]) -> str:
    """Why a baseline of other hardware (the lines of :func:`hardware_mismatches`) is not
    compared, and how to compare it anyway."""
    return (
        f"the saved run was measured on different hardware ({'; '.join(mismatches)}); "
        "baselines from different hardware are never compared silently. Save a baseline on "
        "this hardware, or, to compare anyway, pass --gpubench-compare-force (force=True to "
        "compare())"
    )


def _check_profile(
    current: RunResults, saved: RunResults, force: bool, comparison: Comparison
) -> None:
    now, then = current.extra.get("profile"), saved.extra.get("profile")
    problem = profile_mismatch(now, then)
    if problem is None:
        return
    if not force:
        raise ValueError(problem)
    comparison.notes.append(f"compared across profiles (forced): saved {then}, now {now}")


def _check_hardware(
    current: RunResults, saved: RunResults, devices: set[str], force: bool, comparison: Comparison
) -> None:
    mismatches = hardware_mismatches(
        device_descriptions(current), device_descriptions(saved), devices
    )
    if not mismatches:
        return
    if not force:
        raise ValueError(hardware_refusal(mismatches))
    comparison.notes.append(f"compared across different hardware (forced): {'; '.join(mismatches)}")


def _median(rounds: Sequence[float]) -> float:
    return statistics.median(rounds)


def _busy(m: Measurement) -> str:
    share, stolen = m.wait_share, m.steal_share
    waited = f", waited {share:.0%} of the time" if share is not None else ""
    if stolen is not None and stolen >= 0.005:
        waited += f", {stolen:.0%} stolen by the hypervisor"
    return (
        f"{len(m.rounds_s)} clean rounds, {len(m.set_aside_s)} set aside for waiting on a "
        f"CPU{waited}"
    )


def _speedup_checks(
    key: tuple[str, str, str],
    pair: tuple[Measurement, Measurement],
    bases: tuple[Measurement | None, Measurement | None],
    thresholds: Sequence[Threshold],
    alpha: float,
    comparison: Comparison,
    gating: bool,
) -> None:
    old_dev, new_dev = pair
    old_base, new_base = bases
    for run, base in (("saved run", old_base), ("current run", new_base)):
        if base is None or not base.ran:
            why = base.reason if base is not None and base.reason else "not measured"
            comparison.skipped.append(
                Skip(*key, f"baseline {comparison.baseline_device} n/a in the {run} ({why})")
            )
            return
    assert old_base is not None and new_base is not None
    if min(old_dev.rounds_s) <= 0 or min(new_dev.rounds_s) <= 0:
        comparison.skipped.append(Skip(*key, "a round of 0 s (below the timer's resolution)"))
        return
    for run, m in (("saved run", old_dev), ("current run", new_dev)):
        if m.busy:  # too few clean rounds: judging them would judge the neighbour
            busy = Skip(*key, f"machine busy in the {run}: {_busy(m)}")
            (comparison.undecided if gating else comparison.skipped).append(busy)
            return
    # per-pair ratios when paired, so a slow spell that hit both rounds cancels out; the
    # baseline's median over each round when unpaired (a schema-1 run)
    then, now = estimate_speedup(old_base, old_dev), estimate_speedup(new_base, new_dev)
    old_samples, old, old_ci = then.samples, then.value, then.interval
    new_samples, new, new_ci = now.samples, now.value, now.interval
    if old_dev.paired != new_dev.paired:
        unpaired = "saved" if not old_dev.paired else "current"
        comparison.notes.append(
            f"{' '.join(key)}: the {unpaired} run's rounds are unpaired (a schema-1 run, or "
            "the baseline not timed beside it); compared with the baseline's median instead "
            "of per-pair ratios"
        )
    n, m = len(old_samples), len(new_samples)
    testable = min_p_value(n, m) < alpha
    p_value = _mwu_greater(old_samples, new_samples) if testable else None
    disjoint = old_ci is not None and new_ci is not None and new_ci[1] < old_ci[0]
    drop_pct = (old - new) / old * 100 if old else math.inf
    for threshold in thresholds:
        if threshold.metric != "speedup":
            continue
        status: Literal["failed", "passed", "noise", "undecided"] = "passed"
        note = ""
        if threshold.exceeded(old, new):
            if not testable:
                status = "undecided"
                note = (
                    f"too few rounds ({n} vs {m}) to be significant at alpha {alpha:g} "
                    f"(smallest possible p {min_p_value(n, m):.2g})"
                )
            elif p_value is not None and p_value < alpha and disjoint:
                status = "failed"
            else:
                status = "noise"
                note = "not significant given the spread of the rounds"
                if p_value is not None and p_value < alpha:
                    note = "rank test significant, but the speedup intervals overlap"
        check = Check(
            *key, threshold, old, new, drop_pct, p_value, status, note, gating, old_ci, new_ci
        )
        comparison.checks.append(check)


def _time_checks(
    key: tuple[str, str, str],
    pair: tuple[Measurement, Measurement],
    thresholds: Sequence[Threshold],
    alpha: float,
    comparison: Comparison,
    gating: bool,
) -> None:
    old_m, new_m = pair
    old, new = _median(old_m.rounds_s), _median(new_m.rounds_s)
    n, m = len(old_m.rounds_s), len(new_m.rounds_s)
    testable = min_p_value(n, m) < alpha
    p_value = _mwu_greater(new_m.rounds_s, old_m.rounds_s) if testable else None
    drop_pct = (new - old) / old * 100 if old else math.inf
    for threshold in thresholds:
        if threshold.metric != "time":
            continue
        status: Literal["failed", "passed", "noise", "undecided"] = "passed"
        note = ""
        if threshold.exceeded(old, new):
            if p_value is not None and p_value < alpha:
                status = "failed"
            elif not testable:
                status, note = "undecided", f"too few rounds ({n} vs {m}) to be significant"
            else:
                status, note = "noise", "not significant given the spread of the rounds"
        check = Check(*key, threshold, old, new, drop_pct, p_value, status, note, gating)
        comparison.checks.append(check)


def compare(
    current: RunResults,
    baseline: RunResults,
    thresholds: Sequence[Threshold],
    experiment_thresholds: Mapping[str, Sequence[Threshold]] | None = None,
    force: bool = False,
    *,
    baseline_device: str | None = None,
    alpha: float = DEFAULT_ALPHA,
    source: str = "the saved run",
    gated: bool = True,
) -> Comparison:
    """Compare ``current`` with the saved ``baseline`` run, row by row (see the module doc).

    ``experiment_thresholds`` replaces ``thresholds`` for the experiments it names, and
    always gates. ``thresholds`` gate the other experiments when ``gated``; otherwise the
    losses they find are only shown. ``baseline_device`` is the device speedups are taken
    against; by default the one the current, else the saved, run recorded
    (``extra["baseline_device"]``). Rows present in both runs are compared. A row the saved
    run measured and a gated experiment now has as n/a fails the gate (see
    :attr:`Comparison.missing`); other rows that can't be compared are listed as skipped, and
    a gate that compares nothing fails (:attr:`Comparison.compared_nothing`).
    """
    experiment_thresholds = experiment_thresholds or {}
    device = (
        baseline_device
        or current.extra.get("baseline_device")
        or baseline.extra.get("baseline_device")
    )
    if not device:
        raise ValueError(
            "compare() needs the baseline device the speedups are taken against; "
            "pass baseline_device='numpy' (or the device you benchmark against)"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    comparison = Comparison(
        baseline_device=device,
        alpha=alpha,
        source=source,
        gated=gated or bool(experiment_thresholds),
    )
    now, then = _index(current), _index(baseline)
    both = [key for key in now if key in then]
    ran_in_both = {key[2] for key in both if now[key].ran and then[key].ran}
    _check_hardware(current, baseline, ran_in_both, force, comparison)
    _check_profile(current, baseline, force, comparison)

    for key in now:
        if key not in then:
            comparison.skipped.append(Skip(*key, "not in the saved run"))
    for key in then:
        if key not in now:
            comparison.skipped.append(Skip(*key, "not in the current run"))
    for key in both:
        experiment, size, name = key
        limits = experiment_thresholds.get(experiment, thresholds)
        gating = gated or experiment in experiment_thresholds
        new_m, old_m = now[key], then[key]
        if not old_m.ran or not new_m.ran:
            run, m = ("saved run", old_m) if not old_m.ran else ("current run", new_m)
            skip = Skip(*key, f"n/a in the {run} ({m.reason or 'no rounds'})")
            (comparison.missing if old_m.ran and gating else comparison.skipped).append(skip)
            continue
        if any(t.metric == "time" for t in limits):
            _time_checks(key, (old_m, new_m), limits, alpha, comparison, gating)
        raced = new_m.versus_baseline and old_m.versus_baseline
        if name != device and raced and any(t.metric == "speedup" for t in limits):
            bases = (then.get((experiment, size, device)), now.get((experiment, size, device)))
            _speedup_checks(key, (old_m, new_m), bases, limits, alpha, comparison, gating)
    return comparison
