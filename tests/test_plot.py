"""The speedup plot on a narrow range: labelled ticks, whole-word n/a notes, and a title
that names only the devices that ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_gpubench.plot import NOTE_WIDTH, plot_speedups
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.speedup import build_rows

pytest.importorskip("matplotlib")

LONG_REASON = (
    "none usable: cupy: cupy is not installed: pip install 'pytest-gpubench[cuda]', [cuda13] "
    "for CUDA 13; torch-cuda: torch 2.13.0+cpu is a CPU-only build; install a CUDA build of "
    "torch; see https://example.org/a/very/long/path/that/must/stay/whole/on/its/line"
)


def _record(monkeypatch: pytest.MonkeyPatch) -> list:
    """The figures plot_speedups saves."""
    from matplotlib.figure import Figure

    seen: list = []
    save = Figure.savefig

    def record_then_save(figure, *args, **kwargs):
        seen.append(figure)
        return save(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record_then_save)
    return seen


def _rounds(center: float) -> tuple[float, ...]:
    return tuple(center * (1 + 0.01 * (i - 4)) for i in range(9))


def _narrow_run(speedups: dict[str, float]) -> RunResults:
    """numpy, torch-cpu at ``speedups`` per size, and a cuda device that never ran."""
    run = RunResults()
    info = {"device": "numpy", "processor": "Test CPU", "cores": "2"}
    for size, speedup in speedups.items():
        value = float(size)
        run.add(
            Measurement("matmul", size, "numpy", _rounds(1.0), size_value=value, device_info=info)
        )
        run.add(
            Measurement(
                "matmul",
                size,
                "torch-cpu",
                _rounds(1.0 / speedup),
                size_value=value,
                device_info={**info, "device": "torch-cpu"},
            )
        )
        run.add(Measurement("matmul", size, "cuda", (), size_value=value, reason=LONG_REASON))
    return run


def _plot(run: RunResults, path: Path, monkeypatch: pytest.MonkeyPatch):
    seen = _record(monkeypatch)
    plot_speedups(build_rows(run.measurements, "numpy"), path, "numpy", run.devices)
    [figure] = seen
    return figure


def _labels(axes) -> list[str]:
    return [t.get_text() for t in axes.get_yticklabels() if t.get_text()]


@pytest.mark.parametrize(
    "speedups",
    [
        {"768": 1.0, "1024": 0.96, "1536": 0.82, "2048": 1.28},  # the 0.74-1.28
        {"768": 1.01, "1024": 1.02, "1536": 1.03},  # narrower still
        {"256": 0.5, "1024": 4.0, "4096": 40.0},  # wide: a log axis
    ],
)
def test_several_ticks_are_labelled_at_any_range(
    speedups: dict[str, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figure = _plot(_narrow_run(speedups), tmp_path / "p.png", monkeypatch)
    [axes] = figure.axes
    figure.canvas.draw()
    labels = _labels(axes)
    low, high = axes.get_ylim()
    visible = [t for t in axes.get_yticks() if low <= t <= high]
    assert len(visible) >= 3, (labels, visible)
    assert len(labels) >= 3, labels
    wide = max(speedups.values()) / min(speedups.values()) > 5
    assert axes.get_yscale() == ("log" if wide else "linear")


def test_na_notes_wrap_at_whole_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figure = _plot(_narrow_run({"768": 1.0, "1024": 1.2}), tmp_path / "p.png", monkeypatch)
    [axes] = figure.axes
    [note] = [t.get_text() for t in axes.texts if "n/a" in t.get_text()]
    lines = note.splitlines()
    assert len(lines) > 1
    assert " ".join(line.strip() for line in lines) == f"cuda: n/a ({LONG_REASON})"
    url = "https://example.org/a/very/long/path/that/must/stay/whole/on/its/line"
    assert any(url in line for line in lines)  # a word is never cut
    assert all(len(line) <= NOTE_WIDTH or url in line for line in lines)


def test_the_title_leaves_out_devices_that_did_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figure = _plot(_narrow_run({"768": 1.0, "1024": 1.2}), tmp_path / "p.png", monkeypatch)
    title = figure.get_suptitle()
    assert "baseline numpy: Test CPU" in title and "torch-cpu: Test CPU" in title
    assert "cuda" not in title and "not recorded" not in title
    [axes] = figure.axes
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert not any("cuda" in text for text in legend), legend
