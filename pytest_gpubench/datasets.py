"""Data sets for the DBN experiments, each loaded as float32 pixels in [0, 1] and int labels.

``digits`` ships with scikit-learn and always works offline; ``fashion-mnist`` comes from
Debian's ``dataset-fashion-mnist`` package or a directory of IDX files; ``mnist`` from a
directory of IDX files or scikit-learn's OpenML cache (never the network); ``synthetic`` is
random data for timing only. Every failure raises :class:`DatasetError` saying which file is
wrong, what is wrong with it, and how to get a good one.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import io
import json
import math
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from pytest_gpubench.integers import check_int

__all__ = [
    "DATASETS",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_ENV",
    "MNIST_ENV",
    "Dataset",
    "DatasetError",
    "best_available",
    "dataset_names",
    "load_dataset",
    "load_digits_dataset",
    "load_fashion_mnist",
    "load_idx_directory",
    "load_mnist",
    "load_synthetic",
    "read_idx",
]

#: Where Debian's ``dataset-fashion-mnist`` package installs the gzipped IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV = "GPUBENCH_FASHION_MNIST_DIR"
MNIST_ENV = "GPUBENCH_MNIST_DIR"
MNIST_OPENML_ID = 554  # "mnist_784", version 1

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

FASHION_MNIST_HINT = (
    "install Debian's package (apt-get install dataset-fashion-mnist, which puts the files in "
    f"{FASHION_MNIST_DIR}), or put the four Fashion-MNIST IDX files (train-images-idx3-ubyte, "
    "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz) "
    f"in a directory given by data_dir (--data-dir) or ${FASHION_MNIST_ENV}"
)
MNIST_HINT = (
    "put the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz) in a directory given by "
    f"data_dir (--data-dir) or ${MNIST_ENV}, or fill scikit-learn's OpenML cache once on a "
    'machine with internet: python -c "from sklearn.datasets import fetch_openml; '
    "fetch_openml('mnist_784', version=1)\" (it lands in ~/scikit_learn_data, or "
    "$SCIKIT_LEARN_DATA; copy that folder to offline machines)"
)


class DatasetError(ValueError):
    """A data set is missing or unreadable; the message names the file and how to get it."""


@dataclass(frozen=True)
class Dataset:
    """Samples ``X`` (float32 in [0, 1], one row each) and integer labels ``y``.

    ``source`` says where the data was read from, ``description`` what it is. A
    ``timing_only`` data set has meaningless labels: time it, never report its accuracy.
    """

    name: str
    X: np.ndarray = field(repr=False, compare=False)
    y: np.ndarray = field(repr=False, compare=False)
    source: str
    description: str
    timing_only: bool = False
    #: Why better data sets were passed over (filled by :func:`best_available`).
    notes: tuple[str, ...] = ()

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return int(np.unique(self.y).size)

    def summary(self) -> str:
        """One line for logs and reports: name, shape, classes and origin."""
        line = (
            f"{self.name}: {self.n_samples} samples x {self.n_features} features, "
            f"{self.n_classes} classes, from {self.source}"
        )
        return line + (" (timing only: accuracy is meaningless)" if self.timing_only else "")


# --------------------------------------------------------------------------- IDX files


def _read_bytes(path: Path, hint: str) -> bytes:
    """The file's bytes, gunzipped when they start with the gzip magic (whatever the name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found; {hint}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror}); {hint}") from exc
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: broken gzip data ({exc}); {hint}") from exc


def read_idx(path: str | os.PathLike[str], *, images: bool, hint: str = "") -> np.ndarray:
    """Read an IDX file of unsigned bytes: ``(n, rows, cols)`` images or ``(n,)`` labels.

    Checks the magic number (0x00000803 for images, 0x00000801 for labels), the dimensions
    and that the payload holds exactly the bytes the header declares. ``hint`` says how to
    get a good file and ends every error message.
    """
    path = Path(path)
    hint = hint or "replace it with a valid IDX file"
    raw = _read_bytes(path, hint)
    kind, expected = ("images", IMAGES_MAGIC) if images else ("labels", LABELS_MAGIC)
    ndim = expected & 0xFF
    header = 4 + 4 * ndim
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if magic is not None and magic != expected:
        raise DatasetError(
            f"{path}: magic number 0x{magic:08X}, expected 0x{expected:08X} "
            f"(IDX {kind}: unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''}); {hint}"
        )
    if len(raw) < header:
        raise DatasetError(
            f"{path}: {len(raw)} bytes is too short for an IDX {kind} header ({header} bytes); "
            f"{hint}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    if 0 in dims:
        raise DatasetError(f"{path}: header declares an empty shape {dims}; {hint}")
    size = math.prod(dims)  # Python ints: a corrupt header's product must not wrap around
    if len(raw) - header != size:
        raise DatasetError(
            f"{path}: header declares shape {dims} ({size} bytes of data) but the file holds "
            f"{len(raw) - header} (truncated or corrupt); {hint}"
        )
    return np.frombuffer(raw, np.uint8, count=size, offset=header).reshape(dims)


def _find_idx(directory: Path, split: str, images: bool, hint: str) -> Path:
    stem = f"{split}-images" if images else f"{split}-labels"
    suffix = "idx3-ubyte" if images else "idx1-ubyte"
    names = [f"{stem}{sep}{suffix}{gz}" for sep in "-." for gz in ("", ".gz")]
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise DatasetError(
        f"{directory / names[0]}: file not found (nor {', '.join(names[1:])}); {hint}"
    )


def _read_split(directory: Path, split: str, hint: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _find_idx(directory, split, True, hint)
    labels_path = _find_idx(directory, split, False, hint)
    images = read_idx(images_path, images=True, hint=hint)
    labels = read_idx(labels_path, images=False, hint=hint)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
            f"{labels.shape[0]} labels; {hint}"
        )
    return images, labels


def load_idx_directory(
    directory: str | os.PathLike[str],
    hint: str = "",
    *,
    image_shape: tuple[int, int] | None = None,
    n_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``train-*`` and ``t10k-*`` IDX files from ``directory``, concatenated.

    Returns ``X`` float32 in [0, 1], one flattened image per row, and ``y`` int64. Train
    and test are joined so that callers split the data themselves. ``image_shape`` and
    ``n_classes``, when given, are checked (MNIST's: 28 x 28 pixels, labels 0-9).
    """
    directory = Path(directory).expanduser()
    hint = hint or "put the four IDX files there"
    if not directory.is_dir():
        raise DatasetError(f"{directory}: no such directory; {hint}")
    train_X, train_y = _read_split(directory, "train", hint)
    test_X, test_y = _read_split(directory, "t10k", hint)
    if train_X.shape[1:] != test_X.shape[1:]:
        raise DatasetError(
            f"{directory}: train images are {train_X.shape[1:]} pixels but t10k images are "
            f"{test_X.shape[1:]}; {hint}"
        )
    if image_shape is not None and train_X.shape[1:] != image_shape:
        raise DatasetError(
            f"{directory}: the images are {'x'.join(map(str, train_X.shape[1:]))} pixels, "
            f"expected {'x'.join(map(str, image_shape))}; {hint}"
        )
    top = max(int(train_y.max()), int(test_y.max()))
    if n_classes is not None and top >= n_classes:
        raise DatasetError(f"{directory}: a label is {top}, expected 0 to {n_classes - 1}; {hint}")
    X = np.concatenate([train_X, test_X]).reshape(train_X.shape[0] + test_X.shape[0], -1)
    X = X.astype(np.float32)
    X /= np.float32(255.0)
    y = np.concatenate([train_y, test_y]).astype(np.int64)
    return X, y


# --------------------------------------------------------------------------- loaders


def _env_dir(variable: str) -> str | None:
    return os.environ.get(variable, "").strip() or None


def load_digits_dataset() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, pixels 0..16 scaled to [0, 1])."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Dataset(
        name="digits",
        X=(bunch.data / 16.0).astype(np.float32),
        y=bunch.target.astype(np.int64),
        source="sklearn.datasets.load_digits (shipped with scikit-learn)",
        description="UCI hand-written digits, 8x8 grey images, 10 classes",
    )


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """All 70,000 Fashion-MNIST images (train + test) from IDX files.

    Looks in ``data_dir``, else ``$GPUBENCH_FASHION_MNIST_DIR``, else where Debian's
    ``dataset-fashion-mnist`` package installs them.
    """
    directory = Path(data_dir or _env_dir(FASHION_MNIST_ENV) or FASHION_MNIST_DIR).expanduser()
    X, y = load_idx_directory(directory, FASHION_MNIST_HINT, image_shape=(28, 28), n_classes=10)
    return Dataset(
        name="fashion-mnist",
        X=X,
        y=y,
        source=f"IDX files in {directory}",
        description="Fashion-MNIST (Zalando), 28x28 grey article images, 10 classes",
    )


def _openml_data_home(data_home: str | os.PathLike[str] | None) -> Path:
    """scikit-learn's data home, resolved as ``get_data_home`` does but without creating it."""
    home = data_home or os.environ.get("SCIKIT_LEARN_DATA") or Path("~", "scikit_learn_data")
    return Path(home).expanduser()


def _cache_error(cache: Path, reason: str) -> DatasetError:
    return DatasetError(
        f"MNIST in scikit-learn's OpenML cache {cache} is incomplete or corrupt ({reason}); "
        f"{MNIST_HINT}"
    )


def _gunzip(path: Path, cache: Path) -> bytes:
    """A cached file's bytes; scikit-learn stores every OpenML response gzipped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _cache_error(cache, f"{path} not found") from None
    except OSError as exc:
        raise _cache_error(cache, f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise _cache_error(cache, f"{path}: broken gzip data ({exc})") from exc


def _openml_description(path: Path, cache: Path) -> dict[str, Any]:
    try:
        description = json.loads(_gunzip(path, cache))["data_set_description"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _cache_error(cache, f"{path}: not an OpenML data set description ({exc!r})") from exc
    if not isinstance(description, dict) or "md5_checksum" not in description:
        raise _cache_error(cache, f"{path}: the description has no md5_checksum")
    return description


def _openml_data_file(root: Path, description: dict[str, Any], cache: Path) -> Path:
    """The cached ARFF file: named after its URL's path since scikit-learn 1.7, after its file
    id before."""
    candidates = []
    if description.get("url"):
        candidates.append(root / (urlparse(str(description["url"])).path.lstrip("/") + ".gz"))
    if description.get("file_id"):
        candidates.append(root / "data" / "v1" / "download" / f"{description['file_id']}.gz")
    for path in candidates:
        if path.is_file():
            return path
    if not candidates:
        raise _cache_error(cache, "the description names no data file (no url, no file_id)")
    raise _cache_error(cache, " nor ".join(str(path) for path in candidates) + " not found")


def _parse_arff(text: str, path: Path, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """A dense ARFF table of byte values, split into pixels (every column but ``class``) and
    labels (``class``)."""
    data = re.search(r"^[ \t]*@data[ \t]*$", text, re.IGNORECASE | re.MULTILINE)
    if data is None:
        raise _cache_error(cache, f"{path}: no @DATA line, not an ARFF file")
    header = text[: data.start()]
    names = re.findall(r"^[ \t]*@attribute[ \t]+('[^']*'|\S+)", header, re.I | re.M)
    names = [name.strip("'") for name in names]
    if "class" not in names:
        raise _cache_error(cache, f"{path}: no attribute named class among {len(names)}")
    try:
        table = np.loadtxt(
            io.StringIO(text[data.end() :]),
            delimiter=",",
            dtype=np.int32,  # wider than a byte: numpy < 2.3 wraps 256 into uint8 silently
            comments="%",
            quotechar="'",
            ndmin=2,
        )
    except ValueError as exc:
        raise _cache_error(cache, f"{path}: {exc}") from exc
    if table.size and not (table.min() >= 0 and table.max() <= 255):
        bad = table.max() if table.max() > 255 else table.min()
        raise _cache_error(cache, f"{path}: a value is {bad}, expected bytes from 0 to 255")
    table = table.astype(np.uint8)
    if table.shape[1] != len(names):
        raise _cache_error(
            cache, f"{path}: rows hold {table.shape[1]} values, the header declares {len(names)}"
        )
    target = names.index("class")
    return np.delete(table, target, axis=1), table[:, target]


def _read_mnist_from_openml_cache(data_home: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's pixels and labels from the files ``fetch_openml`` cached; never downloads.

    Reads them itself rather than calling ``fetch_openml``, which would go to the network for
    any file it misses (and delete a file it finds corrupt before downloading it again).
    """
    cache = data_home / "openml"
    root = cache / "openml.org"
    description_path = root / "api" / "v1" / "json" / "data" / f"{MNIST_OPENML_ID}.gz"
    if not description_path.is_file():
        raise DatasetError(
            f"MNIST is not in scikit-learn's OpenML cache ({description_path} not found); "
            f"{MNIST_HINT}"
        )
    description = _openml_description(description_path, cache)
    path = _openml_data_file(root, description, cache)
    raw = _gunzip(path, cache)
    md5 = hashlib.md5(raw, usedforsecurity=False).hexdigest()
    if md5 != description["md5_checksum"]:
        raise _cache_error(
            cache,
            f"{path}: its md5 is {md5} but {description_path} expects "
            f"{description['md5_checksum']}",
        )
    X, y = _parse_arff(raw.decode("utf-8", errors="replace"), path, cache)
    if y.size and int(y.max()) >= 10:
        raise _cache_error(cache, f"{path}: a label is {int(y.max())}, expected 0 to 9")
    return X, y


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    data_home: str | os.PathLike[str] | None = None,
) -> Dataset:
    """All 70,000 MNIST images (train + test), never from the network.

    Reads IDX files in ``data_dir`` or ``$GPUBENCH_MNIST_DIR`` when either is given;
    otherwise scikit-learn's OpenML cache under ``data_home`` (default: scikit-learn's).
    """
    directory = data_dir or _env_dir(MNIST_ENV)
    if directory is not None:
        X, y = load_idx_directory(directory, MNIST_HINT, image_shape=(28, 28), n_classes=10)
        source = f"IDX files in {Path(directory).expanduser()}"
    else:
        home = _openml_data_home(data_home)
        pixels, labels = _read_mnist_from_openml_cache(home)
        X = pixels.astype(np.float32)
        X /= np.float32(255.0)
        y = labels.astype(np.int64)
        source = f"scikit-learn's OpenML cache in {home} (mnist_784, id {MNIST_OPENML_ID})"
    return Dataset(
        name="mnist",
        X=X,
        y=y,
        source=source,
        description="MNIST hand-written digits, 28x28 grey images, 10 classes",
    )


def _positive(name: str, value: Any, minimum: int = 1) -> int:
    try:
        return check_int(value, name, minimum)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def load_synthetic(
    n_samples: int = 10_000,
    n_features: int = 784,
    n_classes: int = 10,
    random_state: int | None = 0,
) -> Dataset:
    """Uniform random pixels and balanced random labels of the chosen shape: timing only."""
    n_classes = _positive("n_classes", n_classes, 2)
    n_samples = _positive("n_samples", n_samples, n_classes)
    n_features = _positive("n_features", n_features)
    rng = np.random.default_rng(random_state)
    return Dataset(
        name="synthetic",
        X=rng.random((n_samples, n_features), dtype=np.float32),
        y=rng.permutation(np.arange(n_samples, dtype=np.int64) % n_classes),
        source=f"numpy random numbers (seed {random_state})",
        description=f"random data, {n_classes} balanced random classes: for timing only",
        timing_only=True,
    )


#: Data set names and their loaders; each loader's keyword arguments are its options.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "digits": load_digits_dataset,
    "synthetic": load_synthetic,
}

#: The order :func:`best_available` tries, best first.
PREFERENCE = ("mnist", "fashion-mnist", "digits")


def dataset_names() -> list[str]:
    """Every data set name :func:`load_dataset` accepts."""
    return list(DATASETS)


def _normalise(name: str) -> str:
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in DATASETS:
        raise DatasetError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    return key


def load_dataset(name: str, **options: Any) -> Dataset:
    """Load the data set called ``name`` with its loader's keyword ``options``.

    Raises :class:`DatasetError` for an unknown name or option, or missing or corrupt data.
    """
    key = _normalise(name)
    loader = DATASETS[key]
    accepted = list(inspect.signature(loader).parameters)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = f"it takes {', '.join(accepted)}" if accepted else "it takes none"
        raise DatasetError(f"data set {key!r} has no option {', '.join(unknown)}; {takes}")
    return loader(**options)


def best_available() -> Dataset:
    """The best data set present here: mnist, then fashion-mnist, then digits (always there).

    Uses only the default locations and environment variables; the reasons the better ones
    were passed over are kept in :attr:`Dataset.notes`.
    """
    notes: list[str] = []
    for name in PREFERENCE:
        try:
            dataset = load_dataset(name)
        except DatasetError as exc:
            notes.append(f"{name} skipped: {exc}")
            continue
        return replace(dataset, notes=tuple(notes))
    raise DatasetError("no data set is available; " + "; ".join(notes))
