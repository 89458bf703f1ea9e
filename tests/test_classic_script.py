"""The classic nolearn script, with only its imports changed, runs and learns."""

from __future__ import annotations

import textwrap

import pytest

CLASSIC_SCRIPT = textwrap.dedent(
    """
    from sklearn.model_selection import train_test_split
    from sklearn.metrics import classification_report
    from pytest_gpubench.datasets import load_dataset
    from pytest_gpubench.dbn import DBN

    dataset = load_dataset("digits")
    trainX, testX, trainY, testY = train_test_split(
        dataset.X, dataset.y, test_size=0.33, random_state=0
    )
    dbn = DBN([trainX.shape[1], 800, 800, 10], learn_rates=0.3, learn_rate_decays=0.9,
              epochs=10, verbose=1, random_state=0)
    dbn.fit(trainX, trainY)
    report = classification_report(testY, dbn.predict(testX))
    print(report)
    """
)


def test_the_classic_script_runs_with_only_its_imports_changed(capsys) -> None:
    namespace: dict = {}
    exec(compile(CLASSIC_SCRIPT, "classic_dbn.py", "exec"), namespace)
    out = capsys.readouterr().out
    assert "[DBN] fitting X.shape=(1203, 64)" in out
    assert "[DBN] layers [64, 800, 800, 10]" in out
    assert out.count("Epoch ") == 10
    assert namespace["dbn"].score(namespace["testX"], namespace["testY"]) > 0.9
    assert "macro avg" in namespace["report"]


@pytest.mark.parametrize("device", ["torch-cpu", "cuda"])
def test_the_classic_script_takes_a_device(device: str, capsys) -> None:
    from pytest_gpubench.devices import get_device

    if not get_device(device).available:
        pytest.skip(f"{device}: {get_device(device).reason}")
    script = CLASSIC_SCRIPT.replace("random_state=0)", f"random_state=0, device={device!r})")
    namespace: dict = {}
    exec(compile(script, "classic_dbn.py", "exec"), namespace)
    assert namespace["dbn"].score(namespace["testX"], namespace["testY"]) > 0.9
