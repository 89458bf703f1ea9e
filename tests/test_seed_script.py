"""The seed script ``python -m pytest_gpubench.dbn.mnist``: arguments, errors, a short real run."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_gpubench.datasets import FASHION_MNIST_ENV, MNIST_ENV
from pytest_gpubench.dbn import TrainingDivergedError
from pytest_gpubench.dbn import mnist as dbn_mnist
from pytest_gpubench.dbn.mnist import epoch_summary, layer_sizes, main
from pytest_gpubench.devices import get_device
from tests.test_datasets import idx_dir

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = [sys.executable, "-m", "pytest_gpubench.dbn.mnist"]
FAST = ["--dataset", "digits", "--hidden", "32", "--epochs", "2", "--random-state", "0"]


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MNIST_ENV, raising=False)
    monkeypatch.delenv(FASHION_MNIST_ENV, raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "empty_sklearn_home"))


def exit_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run main, expect argparse's exit status 2, return the error line."""
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m pytest_gpubench.dbn.mnist" in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("text", "sizes"), [("800,800", (800, 800)), ("32", (32,)), (" 5 , 7 ", (5, 7))]
)
def test_hidden_sizes_parse(text: str, sizes: tuple[int, ...]) -> None:
    assert layer_sizes(text) == sizes


@pytest.mark.parametrize("text", ["800,,x", "", "0", "-5", "1.5", "800,"])
def test_bad_hidden_sizes_are_rejected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="positive layer sizes such as 800,800"):
        layer_sizes(text)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--hidden", "800,,x"],
            "argument --hidden: expected comma-separated positive layer sizes such as 800,800, "
            "got '800,,x'",
        ),
        (["--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
        (["--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
        (["--learn-rate", "nan"], "argument --learn-rate: expected a positive number, got 'nan'"),
        (
            ["--learn-rate-decay", "5"],
            "argument --learn-rate-decay: expected a factor in (0, 1] (1 keeps the rate), got '5'",
        ),
        (
            ["--random-state", "-1"],
            "argument --random-state: expected an integer from 0 to 4294967295, got '-1'",
        ),
        (
            ["--random-state", str(2**32)],
            f"argument --random-state: expected an integer from 0 to 4294967295, got '{2**32}'",
        ),
        (["--device", "quantum"], "unknown device 'quantum'; expected one of numpy,"),
        (
            ["--dataset", "digits", "--data-dir", "x"],
            "--data-dir applies to --dataset mnist or fashion-mnist, not 'digits'",
        ),
        (
            ["--dataset", "digits", "--samples", "500"],
            "--samples and --features shape --dataset synthetic only, not 'digits'",
        ),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_error(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert exit_error(capsys, *argv).startswith(
        f"python -m pytest_gpubench.dbn.mnist: error: {message}"
    )


def test_missing_data_files_exit_2_naming_the_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = exit_error(capsys, "--dataset", "fashion-mnist", "--data-dir", str(tmp_path))
    assert f"{tmp_path / 'train-images-idx3-ubyte'}: file not found" in line
    assert "apt-get install dataset-fashion-mnist" in line
    line = exit_error(capsys, "--dataset", "mnist")
    assert "MNIST is not in scikit-learn's OpenML cache" in line and MNIST_ENV in line


@pytest.mark.skipif(get_device("cupy").available, reason="CuPy works here")
def test_unusable_device_exits_2_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    line = exit_error(capsys, *FAST, "--device", "cupy")
    assert line.startswith(
        "python -m pytest_gpubench.dbn.mnist: error: device 'cupy' is not usable"
    )


def accuracy_of(out: str) -> float:
    match = re.search(r"^accuracy: ([0-9.]+)", out, re.MULTILINE)
    assert match, out
    return float(match.group(1))


def test_digits_run_prints_report_and_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(FAST) == 0
    out = capsys.readouterr().out
    assert out.startswith("data set: digits (--dataset): UCI hand-written digits")
    assert "learn rate: 0.3, the default on digits (the classic nolearn default;" in out
    assert "network: [64, 32, 10] on cpu, 2 epochs, learn rate 0.3 (decay 0.9)" in out
    assert "train 1203, test 594 samples" in out
    fit = r"^fit: [0-9.]+ s \([0-9.]+ s per epoch, mean; the first, with the set-up, "
    assert re.search(fit + r"[0-9.]+ s; the others' median [0-9.]+ s\)$", out, re.MULTILINE)
    assert "precision    recall  f1-score   support" in out
    assert re.search(r"^total wall time: [0-9.]+ s$", out, re.MULTILINE)
    assert accuracy_of(out) > 0.5


def test_epoch_summary_splits_the_first_epoch_from_the_others() -> None:
    assert epoch_summary(5.0, 100.0, [102.0, 103.0, 105.0]) == (
        "1.667 s per epoch, mean; the first, with the set-up, 2.000 s; the others' median 1.500 s"
    )
    assert epoch_summary(2.0, 100.0, [102.0]) == "2.000 s per epoch, mean"


def test_synthetic_run_says_accuracy_is_meaningless(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--dataset", "synthetic", "--samples", "120", "--features", "16", "--hidden", "8"]
    assert main([*argv, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "synthetic: 120 samples x 16 features, 10 classes" in out
    assert "WARNING: random data for timing only: the accuracy below is meaningless" in out
    assert re.search(r"^accuracy: [0-9.]+ \(meaningless: random data\)$", out, re.MULTILINE)


def test_a_training_split_missing_some_classes_still_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """12 random samples of 10 classes: the training split holds only some of them, and the
    output layer must match those (not the whole data set's 10)."""
    argv = ["--dataset", "synthetic", "--samples", "12", "--features", "5", "--hidden", "4"]
    assert main([*argv, "--epochs", "1", "--random-state", "0"]) == 0
    out = capsys.readouterr().out
    n_classes = int(re.search(r"^network: \[5, 4, (\d+)\]", out, re.MULTILINE).group(1))
    assert n_classes < 10


def test_auto_picks_the_best_available(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(MNIST_ENV, str(idx_dir(tmp_path / "mnist", n_train=60, n_test=30)))
    assert main(["--hidden", "8", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data set: mnist (auto: best available): MNIST")
    assert "mnist: 90 samples x 784 features, 10 classes, from IDX files in" in out


def test_auto_falls_back_to_digits_and_says_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(tmp_path / "none"))
    assert main(["--hidden", "8", "--epochs", "1", "-v"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data set: digits (auto: best available)")
    assert "  mnist skipped: MNIST is not in scikit-learn's OpenML cache" in out
    assert f"  fashion-mnist skipped: {tmp_path / 'none'}: no such directory" in out


def test_fashion_mnist_defaults_to_the_rate_that_works_and_says_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(idx_dir(tmp_path / "fm", n_train=60, n_test=30)))
    assert main(["--hidden", "8", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data set: fashion-mnist (auto: best available)")
    assert (
        "learn rate: 0.1, the default on fashion-mnist (0.3, the classic MNIST rate, diverges "
        "on Fashion-MNIST; 0.1 scores ~0.89; --learn-rate sets it)"
    ) in out
    assert "1 epoch, learn rate 0.1 (decay 0.9)" in out


def test_a_given_learn_rate_is_kept_on_fashion_mnist(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(idx_dir(tmp_path / "fm", n_train=60, n_test=30)))
    assert main(["--hidden", "8", "--epochs", "2", "--learn-rate", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "learn rate: 0.3 (--learn-rate)\n" in out
    assert "2 epochs, learn rate 0.3 (decay 0.9)" in out


@pytest.mark.parametrize(
    ("given", "dataset", "rate"),
    [
        (None, "mnist", 0.3),
        (None, "digits", 0.3),
        (None, "fashion-mnist", 0.1),
        (0.3, "fashion-mnist", 0.3),
        (0.05, "mnist", 0.05),
    ],
)
def test_choose_learn_rate(given: float | None, dataset: str, rate: float) -> None:
    assert dbn_mnist.choose_learn_rate(given, dataset)[0] == rate


class _DivergingDBN:
    def fit(self, X: object, y: object) -> None:
        raise TrainingDivergedError("fine-tuning diverged in epoch 3: lower learn_rates")


def test_divergence_prints_the_dbn_message_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbn_mnist, "make_dbn", lambda *args, **kwargs: _DivergingDBN())
    assert main(FAST) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "error: training diverged: fine-tuning diverged in epoch 3: lower learn_rates\n"
        "(this script's learn rate is --learn-rate, now 0.3; e.g. --learn-rate 0.1)\n"
    )
    assert "precision" not in captured.out


@pytest.mark.filterwarnings("ignore:.*(overflow|invalid value) encountered:RuntimeWarning")
def test_real_divergence_exits_1_naming_the_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*FAST, "--learn-rate", "5000"]) == 1
    err = capsys.readouterr().err
    assert "error: training diverged: fine-tuning diverged in epoch 1" in err
    assert "lower learn_rates" in err


def test_parameters_the_dbn_rejects_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    line = exit_error(capsys, *FAST, "--learn-rate", "1e6")
    assert line.startswith(
        "python -m pytest_gpubench.dbn.mnist: error: the DBN rejected these arguments: learn_rates"
    )


def test_subprocess_smoke() -> None:
    ok = subprocess.run(
        [*SCRIPT, "--dataset", "digits", "--hidden", "16", "--epochs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "accuracy: " in ok.stdout and "total wall time" in ok.stdout
    bad = subprocess.run(
        [*SCRIPT, "--hidden", "800,,x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "error: argument --hidden" in bad.stderr and "Traceback" not in bad.stderr
