"""Data sets: IDX parsing and its errors on tiny files, each loader, the offline OpenML path."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from pytest_gpubench.datasets import (
    FASHION_MNIST_DIR,
    FASHION_MNIST_ENV,
    MNIST_ENV,
    DatasetError,
    best_available,
    dataset_names,
    load_dataset,
    load_idx_directory,
    read_idx,
)

IMAGES = 0x00000803
LABELS = 0x00000801


def write_idx(path: Path, array: np.ndarray, magic: int, *, gz: bool = False, cut: int = 0) -> Path:
    """An IDX file holding ``array`` (uint8), gzipped or not, minus ``cut`` trailing bytes."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    data = data[: len(data) - cut]
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def idx_dir(
    root: Path, n_train: int = 5, n_test: int = 3, *, gz: bool = False, shape=(28, 28)
) -> Path:
    """A directory of the four IDX files: MNIST-sized images whose pixels count up, labels
    i % 10."""
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    pixels = shape[0] * shape[1]
    for split, n, start in (("train", n_train, 0), ("t10k", n_test, n_train)):
        images = (np.arange(n * pixels).reshape(n, *shape) + start * pixels) % 256
        labels = (np.arange(n) + start) % 10
        write_idx(root / f"{split}-images-idx3-ubyte{suffix}", images, IMAGES, gz=gz)
        write_idx(root / f"{split}-labels-idx1-ubyte{suffix}", labels, LABELS, gz=gz)
    return root


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No data-set variable leaks in; scikit-learn's data home is an empty folder."""
    monkeypatch.delenv(MNIST_ENV, raising=False)
    monkeypatch.delenv(FASHION_MNIST_ENV, raising=False)
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "empty_sklearn_home"))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test on any attempt to open a network connection."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# --------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips_images_and_labels(tmp_path: Path, gz: bool) -> None:
    images = np.arange(24).reshape(4, 2, 3)
    labels = np.array([3, 1, 4, 1])
    got_images = read_idx(write_idx(tmp_path / "i", images, IMAGES, gz=gz), images=True)
    got_labels = read_idx(write_idx(tmp_path / "l", labels, LABELS, gz=gz), images=False)
    assert got_images.dtype == np.uint8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_idx_rejects_labels_read_as_images(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.zeros(3), LABELS)
    with pytest.raises(DatasetError) as info:
        read_idx(path, images=True, hint="get a good one")
    assert str(info.value) == (
        f"{path}: magic number 0x00000801, expected 0x00000803 "
        "(IDX images: unsigned bytes, 3 dimensions); get a good one"
    )


def test_read_idx_rejects_a_non_byte_dtype(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "floats", np.zeros((1, 1, 1)), 0x00000D03)
    with pytest.raises(DatasetError, match=r"magic number 0x00000D03, expected 0x00000803"):
        read_idx(path, images=True)


def test_read_idx_rejects_a_truncated_payload(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "cut", np.zeros((5, 2, 3)), IMAGES, cut=1)
    with pytest.raises(DatasetError) as info:
        read_idx(path, images=True, hint="fix")
    assert str(info.value) == (
        f"{path}: header declares shape (5, 2, 3) (30 bytes of data) but the file holds 29 "
        "(truncated or corrupt); fix"
    )


def test_read_idx_rejects_trailing_bytes(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "long", np.zeros(4), LABELS)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(
        DatasetError, match=r"shape \(4,\) \(4 bytes of data\) but the file holds 5"
    ):
        read_idx(path, images=False)


def test_read_idx_rejects_a_short_header(tmp_path: Path) -> None:
    path = tmp_path / "stub"
    path.write_bytes(IMAGES.to_bytes(4, "big") + b"\0\0")
    with pytest.raises(DatasetError, match=r"6 bytes is too short for an IDX images header \(16"):
        read_idx(path, images=True)


def test_read_idx_rejects_broken_gzip(tmp_path: Path) -> None:
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(b"x" * 100)[:20])
    with pytest.raises(DatasetError, match=rf"^{path}: broken gzip data"):
        read_idx(path, images=False)


def test_read_idx_names_a_missing_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        read_idx(tmp_path / "nope", images=True, hint="apt-get install it")
    assert str(info.value) == f"{tmp_path / 'nope'}: file not found; apt-get install it"


# --------------------------------------------------------------------------- IDX directories


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory_joins_train_and_test_scaled_to_unit_range(tmp_path: Path, gz: bool) -> None:
    X, y = load_idx_directory(idx_dir(tmp_path / "d", gz=gz, shape=(2, 3)))
    assert X.shape == (8, 6) and X.dtype == np.float32
    np.testing.assert_allclose(X.ravel(), np.arange(48) / 255, rtol=1e-6)
    np.testing.assert_array_equal(y, np.arange(8))
    assert y.dtype == np.int64


def test_idx_directory_accepts_dotted_names(tmp_path: Path) -> None:
    root = idx_dir(tmp_path / "d", shape=(2, 3))
    for path in root.iterdir():
        path.rename(root / path.name.replace("-idx", ".idx"))
    X, _ = load_idx_directory(root)
    assert X.shape == (8, 6)


def test_idx_directory_rejects_a_count_mismatch(tmp_path: Path) -> None:
    root = idx_dir(tmp_path / "d")
    write_idx(root / "train-labels-idx1-ubyte", np.zeros(4), LABELS)
    with pytest.raises(DatasetError) as info:
        load_idx_directory(root, hint="fix")
    assert str(info.value) == (
        f"{root / 'train-images-idx3-ubyte'} holds 5 images but "
        f"{root / 'train-labels-idx1-ubyte'} holds 4 labels; fix"
    )


def test_idx_directory_rejects_different_image_sizes(tmp_path: Path) -> None:
    root = idx_dir(tmp_path / "d", shape=(2, 3))
    write_idx(root / "t10k-images-idx3-ubyte", np.zeros((3, 3, 2)), IMAGES)
    with pytest.raises(DatasetError, match=r"train images are \(2, 3\) pixels but t10k images"):
        load_idx_directory(root)


def test_idx_directory_names_the_missing_file(tmp_path: Path) -> None:
    root = idx_dir(tmp_path / "d")
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as info:
        load_idx_directory(root, hint="fix")
    assert str(info.value).startswith(f"{root / 't10k-labels-idx1-ubyte'}: file not found (nor ")
    assert str(info.value).endswith("; fix")


def test_idx_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=rf"^{tmp_path / 'absent'}: no such directory; fix$"):
        load_idx_directory(tmp_path / "absent", hint="fix")


# --------------------------------------------------------------------------- fashion-mnist


def test_fashion_mnist_from_option_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(idx_dir(tmp_path / "env", n_train=2, n_test=1)))
    from_env = load_dataset("fashion-mnist")
    assert from_env.n_samples == 3 and from_env.source == f"IDX files in {tmp_path / 'env'}"
    from_option = load_dataset("fashion_mnist", data_dir=idx_dir(tmp_path / "opt"))
    assert from_option.n_samples == 8 and from_option.name == "fashion-mnist"
    assert not from_option.timing_only


def test_fashion_mnist_missing_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'train-images-idx3-ubyte'}: file not found")
    assert "apt-get install dataset-fashion-mnist" in message
    assert FASHION_MNIST_ENV in message and "--data-dir" in message


@pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"Fashion-MNIST not installed in {FASHION_MNIST_DIR} "
    "(apt-get install dataset-fashion-mnist; CI installs it)",
)
def test_real_fashion_mnist_from_the_debian_package() -> None:
    data = load_dataset("fashion-mnist")
    assert data.X.shape == (70_000, 784) and data.X.dtype == np.float32
    assert data.X.min() == 0.0 and data.X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(data.y), np.full(10, 7_000))
    assert data.source == f"IDX files in {FASHION_MNIST_DIR}"


# --------------------------------------------------------------------------- mnist


def test_mnist_from_option_or_environment_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MNIST_ENV, str(idx_dir(tmp_path / "env", gz=True)))
    assert load_dataset("mnist").n_samples == 8
    assert load_dataset("mnist", data_dir=idx_dir(tmp_path / "o", 1, 1)).n_samples == 2


def test_mnist_bad_directory_does_not_fall_back(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_dir=tmp_path / "absent")
    assert str(info.value).startswith(f"{tmp_path / 'absent'}: no such directory; put the four")
    assert MNIST_ENV in str(info.value)


def test_mnist_empty_openml_cache_is_a_clear_error_offline(
    tmp_path: Path, no_network: None
) -> None:
    home = tmp_path / "home"
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_home=home)
    cached = home / "openml/openml.org/api/v1/json/data/554.gz"
    assert str(info.value).startswith(
        f"MNIST is not in scikit-learn's OpenML cache ({cached} not found); put the four"
    )
    assert "fetch_openml('mnist_784', version=1)" in str(info.value)
    assert not home.exists(), "looking must not create scikit-learn's data home"


def test_mnist_default_data_home_follows_scikit_learn_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "skl"))
    with pytest.raises(DatasetError, match=rf"\({tmp_path / 'skl'}/openml/openml.org/api"):
        load_dataset("mnist")


def _gz_json(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(content).encode()))


def fake_openml_cache(
    home: Path,
    rows: list[list[int]],
    labels: list[int],
    *,
    layouts: tuple[str, ...] = ("url",),
) -> Path:
    """The files fetch_openml(data_id=554) caches, for a tiny 'mnist_784'.

    The ARFF file lands where scikit-learn >= 1.7 puts it (``"url"``: its URL's path) and/or
    where older releases did (``"file_id"``).
    """
    root = home / "openml" / "openml.org"
    n_pixels = len(rows[0])
    arff = "% a comment\n@RELATION mnist_784\n\n"
    arff += "".join(f"@ATTRIBUTE pixel{i + 1} NUMERIC\n" for i in range(n_pixels))
    arff += "@ATTRIBUTE class {0,1,2,3,4,5,6,7,8,9}\n@DATA\n"
    arff += "".join(
        ",".join(map(str, [*row, label])) + "\n" for row, label in zip(rows, labels, strict=True)
    )
    arff_url = "https://api.openml.org/data/v1/download/52667/mnist_784.arff"
    data_paths = {
        "url": root / "data/v1/download/52667/mnist_784.arff.gz",
        "file_id": root / "data/v1/download/52667.gz",
    }
    for layout in layouts:
        data_paths[layout].parent.mkdir(parents=True, exist_ok=True)
        data_paths[layout].write_bytes(gzip.compress(arff.encode()))
    flags = {
        "is_target": "false",
        "is_ignore": "false",
        "is_row_identifier": "false",
        "number_of_missing_values": "0",
    }
    features = [
        {"index": str(i), "name": f"pixel{i + 1}", "data_type": "numeric", **flags}
        for i in range(n_pixels)
    ]
    features.append(
        {
            "index": str(n_pixels),
            "name": "class",
            "data_type": "nominal",
            "nominal_value": [str(d) for d in range(10)],
            **flags,
            "is_target": "true",
        }
    )
    api = root / "api/v1/json/data"
    _gz_json(api / "features/554.gz", {"data_features": {"feature": features}})
    quality = {"name": "NumberOfInstances", "value": f"{len(rows)}.0"}
    _gz_json(api / "qualities/554.gz", {"data_qualities": {"quality": [quality]}})
    description = {
        "id": "554",
        "name": "mnist_784",
        "version": "1",
        "status": "active",
        "format": "ARFF",
        "file_id": "52667",
        "url": arff_url,
        "md5_checksum": hashlib.md5(arff.encode()).hexdigest(),
    }
    _gz_json(api / "554.gz", {"data_set_description": description})
    return home


CACHED_ARFF = "openml/openml.org/data/v1/download/52667/mnist_784.arff.gz"


@pytest.mark.parametrize("layout", ["url", "file_id"])
def test_mnist_from_a_filled_openml_cache_offline(
    tmp_path: Path, no_network: None, layout: str
) -> None:
    home = fake_openml_cache(
        tmp_path / "home", [[0, 255, 51], [102, 0, 0]], [7, 2], layouts=(layout,)
    )
    data = load_dataset("mnist", data_home=home)
    assert data.X.dtype == np.float32 and data.y.dtype == np.int64
    np.testing.assert_allclose(data.X, [[0, 1, 0.2], [0.4, 0, 0]], rtol=1e-6)
    np.testing.assert_array_equal(data.y, [7, 2])
    assert data.source == f"scikit-learn's OpenML cache in {home} (mnist_784, id 554)"


def test_the_fake_cache_is_what_fetch_openml_reads_offline(
    tmp_path: Path, no_network: None
) -> None:
    """scikit-learn itself loads the fake cache without the network: its layout is the real one."""
    from sklearn.datasets import fetch_openml

    rows, labels = [[0, 255, 51], [102, 0, 0], [9, 8, 7]], [7, 2, 0]
    home = fake_openml_cache(tmp_path / "home", rows, labels, layouts=("url", "file_id"))
    X, y = fetch_openml(
        data_id=554, data_home=str(home), as_frame=False, return_X_y=True, parser="liac-arff"
    )
    ours = load_dataset("mnist", data_home=home)
    np.testing.assert_allclose(ours.X * 255, X, atol=1e-4)
    np.testing.assert_array_equal(ours.y, y.astype(np.int64))


def test_mnist_openml_cache_without_the_data_file_names_both_places(
    tmp_path: Path, no_network: None
) -> None:
    home = fake_openml_cache(tmp_path / "home", [[1, 2]], [3])
    (home / CACHED_ARFF).unlink()
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_home=home)
    assert str(info.value).startswith(
        f"MNIST in scikit-learn's OpenML cache {home / 'openml'} is incomplete or corrupt "
        f"({home / CACHED_ARFF} nor {home / 'openml/openml.org/data/v1/download/52667.gz'} "
        "not found); put the four MNIST IDX files"
    )


def test_mnist_openml_cache_with_a_changed_data_file_fails_and_keeps_it(
    tmp_path: Path, no_network: None
) -> None:
    """scikit-learn deletes a file whose md5 is wrong and downloads it again; we only report."""
    home = fake_openml_cache(tmp_path / "home", [[1, 2]], [3])
    cached = home / CACHED_ARFF
    changed = gzip.compress(gzip.decompress(cached.read_bytes()).replace(b"1,2,3", b"1,2,4"))
    cached.write_bytes(changed)
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", data_home=home)
    description = home / "openml/openml.org/api/v1/json/data/554.gz"
    assert f"is incomplete or corrupt ({cached}: its md5 is " in str(info.value)
    assert f"but {description} expects " in str(info.value)
    assert cached.read_bytes() == changed


def test_mnist_openml_cache_with_a_broken_description(tmp_path: Path, no_network: None) -> None:
    home = fake_openml_cache(tmp_path / "home", [[1, 2]], [3])
    description = home / "openml/openml.org/api/v1/json/data/554.gz"
    description.write_bytes(b"not gzip")
    with pytest.raises(DatasetError, match=rf"\({description}: broken gzip data \(Not a gzipped"):
        load_dataset("mnist", data_home=home)
    _gz_json(description, {"error": "no such data set"})
    with pytest.raises(DatasetError, match=r"not an OpenML data set description \(KeyError"):
        load_dataset("mnist", data_home=home)


@pytest.mark.parametrize(
    ("rows", "labels", "message"),
    [
        ([[1, 2], [3]], [4, 5], r"the number of columns changed from 3 to 2 at row 2"),
        ([[1, 2]], [12], r"a label is 12, expected 0 to 9"),
        ([[1, 256]], [0], r"a value is 256, expected bytes from 0 to 255"),
    ],
)
def test_mnist_openml_cache_with_bad_rows(
    tmp_path: Path, no_network: None, rows: list[list[int]], labels: list[int], message: str
) -> None:
    home = fake_openml_cache(tmp_path / "home", rows, labels)
    with pytest.raises(DatasetError, match=rf"{home / CACHED_ARFF}: .*{message}.*; put the four"):
        load_dataset("mnist", data_home=home)


# --------------------------------------------------------------------------- digits, synthetic


def test_digits_ships_with_scikit_learn() -> None:
    data = load_dataset("digits")
    assert data.X.shape == (1797, 64) and data.X.dtype == np.float32
    assert data.X.min() == 0.0 and data.X.max() == 1.0
    assert data.n_classes == 10 and not data.timing_only
    assert "load_digits" in data.source


def test_synthetic_has_the_chosen_shape_and_is_timing_only() -> None:
    data = load_dataset("synthetic", n_samples=50, n_features=7, n_classes=5, random_state=3)
    assert data.X.shape == (50, 7) and data.X.dtype == np.float32
    assert data.X.min() >= 0.0 and data.X.max() < 1.0
    np.testing.assert_array_equal(np.bincount(data.y), np.full(5, 10))
    assert data.timing_only and "accuracy is meaningless" in data.summary()
    again = load_dataset("synthetic", n_samples=50, n_features=7, n_classes=5, random_state=3)
    np.testing.assert_array_equal(data.X, again.X)
    np.testing.assert_array_equal(data.y, again.y)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_classes": 1}, "n_classes must be an integer >= 2, got 1"),
        ({"n_samples": 3, "n_classes": 4}, "n_samples must be an integer >= 4, got 3"),
        ({"n_features": 2.5}, "n_features must be an integer >= 1, got 2.5"),
        ({"n_samples": True}, "n_samples must be an integer >= 10, got True"),
    ],
)
def test_synthetic_rejects_bad_shapes(options: dict[str, object], message: str) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset("synthetic", **options)
    assert str(info.value) == message


# --------------------------------------------------------------------------- registry


def test_names_and_unknown_names() -> None:
    assert dataset_names() == ["mnist", "fashion-mnist", "digits", "synthetic"]
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar")
    assert str(info.value) == (
        "unknown data set 'cifar'; expected one of mnist, fashion-mnist, digits, synthetic"
    )


def test_unknown_option_names_the_accepted_ones() -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", data_home="x")
    assert str(info.value) == "data set 'fashion-mnist' has no option data_home; it takes data_dir"
    with pytest.raises(DatasetError, match=r"no option data_dir; it takes none$"):
        load_dataset("digits", data_dir="x")


def test_dataset_is_frozen() -> None:
    data = load_dataset("synthetic", n_samples=10, n_features=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.name = "mnist"  # type: ignore[misc]


def test_best_available_prefers_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MNIST_ENV, str(idx_dir(tmp_path / "mnist")))
    data = best_available()
    assert data.name == "mnist" and data.notes == ()


def test_best_available_falls_back_to_digits_with_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(tmp_path / "no-fashion"))
    data = best_available()
    assert data.name == "digits"
    assert [note.split(":")[0] for note in data.notes] == [
        "mnist skipped",
        "fashion-mnist skipped",
    ]
    assert "apt-get install dataset-fashion-mnist" in data.notes[1]


def test_best_available_uses_fashion_mnist_when_mnist_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(idx_dir(tmp_path / "fashion")))
    data = best_available()
    assert data.name == "fashion-mnist" and len(data.notes) == 1


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_loaders_refuse_files_that_are_not_mnist_shaped(tmp_path: Path, name: str) -> None:
    """Other IDX data (2x3 images, or a label of 200) loaded as MNIST trained a wrong model."""
    with pytest.raises(DatasetError, match=r"the images are 2x3 pixels, expected 28x28"):
        load_dataset(name, data_dir=idx_dir(tmp_path / "small", shape=(2, 3)))
    root = idx_dir(tmp_path / "labels")
    write_idx(root / "t10k-labels-idx1-ubyte", np.array([1, 200, 3]), LABELS)
    with pytest.raises(DatasetError, match=r"a label is 200, expected 0 to 9"):
        load_dataset(name, data_dir=root)


def test_read_idx_reports_a_header_whose_size_overflows(tmp_path: Path) -> None:
    path = tmp_path / "huge"
    header = IMAGES.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (2**32 - 1,) * 3)
    path.write_bytes(header + bytes(10))
    with pytest.raises(DatasetError, match=r"header declares shape .* but the file holds 10"):
        read_idx(path, images=True)
