"""Image classification and segmentation data sets for the distillation experiments.

:func:`load` returns a :class:`Dataset` of ``float32`` images in [0, 1], shape ``(N, C, H, W)``:

- ``"cluttered"`` (default, harder): bundled 8×8 digits placed at random scale and position on
  a 64×64 scene with faint fragments of other digits, thin strokes and Gaussian noise, with
  per-pixel masks of the target digit (:func:`cluttered_scenes`).
- ``"digits"``: scikit-learn's bundled 8×8 digits, upsampled (32×32 by default).
- ``"mnist"``, ``"fashion-mnist"``: IDX files in a local folder (:func:`read_idx`).
- ``"cifar10"``: the CIFAR-10 binary version in a local folder (:func:`read_cifar_batch`).

Nothing here touches the network or writes files unless ``download=True`` is passed.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import tarfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from opticsim import checks
from opticsim.files import write_atomic

#: The names :func:`load` accepts.
DATASETS = ("cluttered", "digits", "mnist", "fashion-mnist", "cifar10")
SPLITS = ("train", "test")
MAX_SIZE = 512
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")

_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                "test": ("test_batch.bin",)}
_CIFAR_FOLDER = "cifar-10-batches-bin"
_CIFAR_RECORD = 1 + 3 * 32 * 32
# Official MD5 checksums of the published archives (as listed by the data set authors).
_URLS = {"mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
         "fashion-mnist": "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
                          "master/data/fashion/",
         "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"}
_MD5 = {("mnist", "train-images-idx3-ubyte.gz"): "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        ("mnist", "train-labels-idx1-ubyte.gz"): "d53e105ee54ea40749a09fcbcd1e9432",
        ("mnist", "t10k-images-idx3-ubyte.gz"): "9fb629c4189551a2d022fa330f9573f3",
        ("mnist", "t10k-labels-idx1-ubyte.gz"): "ec29112dd5afa0611ce80d1b7f02629c",
        ("fashion-mnist", "train-images-idx3-ubyte.gz"): "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ("fashion-mnist", "train-labels-idx1-ubyte.gz"): "25c81989df183df01b3e8a0aad5dffbe",
        ("fashion-mnist", "t10k-images-idx3-ubyte.gz"): "bef4ecab320f06d8554ea6380940ec79",
        ("fashion-mnist", "t10k-labels-idx1-ubyte.gz"): "bb300cfdad3c16e7a12a480ee83cd310",
        ("cifar10", "cifar-10-binary.tar.gz"): "c32a1d4ab5d03f1284b67883e8d87530"}


@dataclass(frozen=True)
class Dataset:
    """Images, class labels and optional segmentation masks.

    ``images``: float32 array ``(N, C, H, W)`` of intensities in [0, 1]; ``labels``: int64
    array ``(N,)`` of indices into ``classes``; ``masks``: uint8 array ``(N, H, W)``, 1 on the
    target digit and 0 elsewhere (clutter too), or None; ``classes``: the class names (tuple of
    str); ``name``: one of :data:`DATASETS`.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None
    classes: tuple[str, ...]
    name: str

    def __post_init__(self):
        count = len(self.images)
        if self.images.ndim != 4 or self.labels.shape != (count,):
            raise ValueError(f"images must be (N, C, H, W) and labels (N,), got shapes "
                             f"{self.images.shape} and {self.labels.shape}")
        if self.masks is not None and self.masks.shape != (count, *self.images.shape[2:]):
            raise ValueError(f"masks must have shape (N, H, W) = {(count, *self.images.shape[2:])}"
                             f", got {self.masks.shape}")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, count: int) -> Dataset:
        """The first ``count`` samples (1 <= count <= len(self)), sharing memory with ``self``."""
        count = checks.integer("count", count, 1, len(self))
        return self._slice(slice(None, count))

    def tail(self, count: int) -> Dataset:
        """The last ``count`` samples (1 <= count <= len(self)), sharing memory with ``self``."""
        count = checks.integer("count", count, 1, len(self))
        return self._slice(slice(len(self) - count, None))

    def _slice(self, part: slice) -> Dataset:
        masks = None if self.masks is None else self.masks[part]
        return dataclasses.replace(self, images=self.images[part], labels=self.labels[part],
                                   masks=masks)


def load(name: str, split: str, *, seed: int = 0, root=None, size: int | None = None,
         download: bool = False) -> Dataset:
    """Load one split of a data set.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    split : str
        ``"train"`` or ``"test"``.
    seed : int
        Seed (>= 0) of the ``"cluttered"`` scenes; the other data sets do not depend on it.
    root : str or Path, optional
        Folder of the ``"mnist"``, ``"fashion-mnist"`` (IDX files, optionally gzipped) or
        ``"cifar10"`` files (``data_batch_1.bin`` … or its parent holding
        ``cifar-10-batches-bin/``). Required for those, ignored by the bundled sets.
    size : int, optional
        Image side in pixels, in [8, 512] ([32, 512] for ``"cluttered"``). Default: 64 for
        ``"cluttered"``, 32 for ``"digits"``, the native side otherwise; other sides are
        resampled bilinearly.
    download : bool
        Fetch missing MNIST / Fashion-MNIST / CIFAR-10 files into ``root`` (network access;
        archives are checked against their official MD5 checksums).
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    seed = checks.integer("seed", seed, 0)
    if size is not None:
        size = checks.integer("size", size, 32 if name == "cluttered" else 8, MAX_SIZE)
    if name == "cluttered":
        sources = load("digits", split, size=8)
        per_source = 3 if split == "train" else 1
        return cluttered_scenes(sources, per_source, size=size or 64, seed=seed,
                                stream=SPLITS.index(split))
    if name == "digits":
        images, labels, _ = digit_split(split)
        images = _resize(images[:, None], size or 32, size or 32)
        return Dataset(images, labels, (images[:, 0] > 0.5).astype(np.uint8), DIGIT_CLASSES,
                       name)
    if root is None:
        raise ValueError(f"the {name} data set needs root, the folder holding its files "
                         "(--data-root on the command line)")
    if name == "cifar10":
        images, labels = _cifar10(Path(root), split, download)
        classes = CIFAR_CLASSES
    else:
        images, labels = _idx_pair(Path(root), name, split, download)
        images = images[:, None]
        classes = FASHION_CLASSES if name == "fashion-mnist" else DIGIT_CLASSES
    images = images.astype(np.float32) / 255
    if size is not None:
        images = _resize(images, size, size)
    return Dataset(images, labels.astype(np.int64), None, classes, name)


def digit_split(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One split of scikit-learn's bundled digits: a fixed permutation (seed 0), 75 % train.

    Returns images ``(M, 8, 8)`` float32 in [0, 1], labels ``(M,)`` int64 and the ``(M,)``
    positions in ``sklearn.datasets.load_digits()`` (disjoint between the splits).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    from sklearn.datasets import load_digits  # slow import, needed by the bundled sets only

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    train = len(order) * 3 // 4
    indices = order[:train] if split == "train" else order[train:]
    return ((digits.images[indices] / 16).astype(np.float32),
            digits.target[indices].astype(np.int64), indices.astype(np.int64))


def cluttered_scenes(sources: Dataset, count_per_source: int, *, size: int = 64, seed: int = 0,
                     stream: int = 0, digit_sides: tuple[int, int] = (20, 32),
                     noise: float = 0.08) -> Dataset:
    """Scenes with one target digit on a cluttered, noisy background, and its masks.

    Each source image appears as the target of ``count_per_source`` scenes (shuffled order).
    The target, normalised to a peak intensity drawn from [0.7, 1], is resized to a side drawn
    from ``digit_sides`` and placed fully inside the scene. The background holds 2–4 random
    crops of *other* sources (peak 0.25–0.45) and 1–3 straight strokes 1–2 px wide (0.3–0.5);
    the target is drawn on top (maximum), then Gaussian noise is added to the whole scene and
    the result clipped to [0, 1]. Masks are 1 where the resized target exceeds half its peak.

    Parameters
    ----------
    sources : Dataset
        At least two single-channel, non-blank source images, shape (M, 1, h, w).
    count_per_source : int
        Scenes per source image, >= 1.
    size : int
        Scene side in pixels, in [digit_sides[1], 512].
    seed, stream : int
        Non-negative; the scenes are a deterministic function of (sources, seed, stream).
    digit_sides : (int, int)
        Smallest and largest target side in pixels, 4 <= low <= high.
    noise : float
        Standard deviation of the additive noise, >= 0 (intensity units).

    Returns
    -------
    Dataset
        ``N = M * count_per_source`` scenes (N, 1, size, size) with masks (N, size, size).
    """
    count = checks.integer("count_per_source", count_per_source, 1)
    low = checks.integer("digit_sides[0]", digit_sides[0], 4)
    high = checks.integer("digit_sides[1]", digit_sides[1], low)
    size = checks.integer("size", size, high, MAX_SIZE)
    noise = checks.non_negative("noise", noise)
    images = sources.images
    if images.shape[1] != 1 or len(images) < 2 or not (images.max(axis=(1, 2, 3)) > 0).all():
        raise ValueError(f"sources must hold >= 2 non-blank single-channel images, got shape "
                         f"{images.shape}")
    rng = np.random.default_rng([checks.integer("seed", seed, 0),
                                 checks.integer("stream", stream, 0)])
    source = rng.permutation(np.repeat(np.arange(len(images)), count))
    target, masks = _target_layer(images[source, 0], size, (low, high), rng)
    scenes = _fragment_layer(images[:, 0], source, size, (low, high), rng)
    np.maximum(scenes, _stroke_layer(len(source), size, rng), out=scenes)
    np.maximum(scenes, target, out=scenes)
    scenes += noise * rng.standard_normal(scenes.shape, dtype=np.float32)
    np.clip(scenes, 0, 1, out=scenes)
    return Dataset(scenes[:, None], sources.labels[source], masks, sources.classes, "cluttered")


def _interpolation(n_in: int, n_out: int) -> np.ndarray:
    """Matrix ``(n_out, n_in)`` of linear interpolation with the end samples aligned (as
    ``scipy.ndimage.zoom(order=1)``); each row is a convex combination of two samples."""
    position = np.linspace(0, n_in - 1, n_out)
    low = np.minimum(position.astype(np.intp), max(n_in - 2, 0))
    weight = position - low
    matrix = np.zeros((n_out, n_in), np.float32)
    matrix[np.arange(n_out), low] = 1 - weight
    matrix[np.arange(n_out), np.minimum(low + 1, n_in - 1)] += weight
    return matrix


def _resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinearly resize ``(..., H, W)`` images to ``(..., height, width)``, clipped to [0, 1]."""
    rows = _interpolation(images.shape[-2], height)
    cols = _interpolation(images.shape[-1], width)
    return np.clip(rows @ images @ cols.T, 0, 1)


def _resized(images: np.ndarray, sides: np.ndarray) -> list[np.ndarray]:
    """Resize each ``(K, h, w)`` image to ``(sides[k], sides[k])``, grouped by side."""
    out = [None] * len(images)
    for side in np.unique(sides):
        picks = np.flatnonzero(sides == side)
        for pick, image in zip(picks, _resize(images[picks], side, side)):
            out[pick] = image
    return out


def _target_layer(digits: np.ndarray, size: int, sides: tuple[int, int],
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Targets ``(N, h, w)`` at random side/position/peak: layer (N, size, size) and masks."""
    count = len(digits)
    side = rng.integers(sides[0], sides[1] + 1, count)
    top, left = rng.integers(0, size - side + 1), rng.integers(0, size - side + 1)
    peak = rng.uniform(0.7, 1.0, count)
    layer = np.zeros((count, size, size), np.float32)
    masks = np.zeros((count, size, size), np.uint8)
    for k, digit in enumerate(_resized(digits, side)):
        window = np.s_[k, top[k]:top[k] + side[k], left[k]:left[k] + side[k]]
        layer[window] = digit * (peak[k] / digit.max())
        masks[window] = digit > 0.5 * digit.max()
    return layer, masks


def _fragment_layer(images: np.ndarray, source: np.ndarray, size: int, sides: tuple[int, int],
                    rng: np.random.Generator) -> np.ndarray:
    """2–4 faint crops per scene of sources other than ``source[n]``: shape (N, size, size)."""
    owner = np.repeat(np.arange(len(source)), rng.integers(2, 5, len(source)))
    count = len(owner)
    other = (source[owner] + rng.integers(1, len(images), count)) % len(images)
    side = rng.integers(sides[0], sides[1] + 1, count)
    height = rng.integers(side // 3, 2 * side // 3 + 1)
    width = rng.integers(side // 3, 2 * side // 3 + 1)
    row, col = rng.integers(0, side - height + 1), rng.integers(0, side - width + 1)
    top, left = rng.integers(0, size - height + 1), rng.integers(0, size - width + 1)
    peak = rng.uniform(0.25, 0.45, count)
    layer = np.zeros((len(source), size, size), np.float32)
    for k, image in enumerate(_resized(images[other], side)):
        crop = image[row[k]:row[k] + height[k], col[k]:col[k] + width[k]]
        crop = crop * (peak[k] / image.max())
        window = layer[owner[k], top[k]:top[k] + height[k], left[k]:left[k] + width[k]]
        np.maximum(window, crop, out=window)
    return layer


def _stroke_layer(count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """1–3 straight strokes per scene, 1 or 2 px wide, intensity 0.3–0.5: (count, size, size)."""
    owner = np.repeat(np.arange(count), rng.integers(1, 4, count))
    ends = rng.uniform(0, size - 1, (len(owner), 2, 2))                # (stroke, end, (y, x))
    wide = rng.integers(1, 3, len(owner)) == 2
    level = rng.uniform(0.3, 0.5, len(owner)).astype(np.float32)
    steps = np.linspace(0, 1, 2 * size)                                 # <= 0.71 px apart
    delta = ends[:, 1] - ends[:, 0]
    pixels = np.rint(ends[:, None, 0] + steps[None, :, None] * delta[:, None]).astype(np.intp)
    # the second pixel of a wide stroke sits across the stroke's main direction
    across = np.where(np.abs(delta[:, :1]) > np.abs(delta[:, 1:]), [0, 1], [1, 0])
    pixels = np.concatenate([pixels, np.minimum(pixels[wide] + across[wide, None], size - 1)])
    which = np.concatenate([np.arange(len(owner)), np.flatnonzero(wide)])
    flat = (owner[which, None] * size + pixels[..., 0]) * size + pixels[..., 1]
    layer = np.zeros((count, size, size), np.float32)
    np.maximum.at(layer.reshape(-1), flat.ravel(), np.repeat(level[which], len(steps)))
    return layer


def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally gzipped, by a ``.gz`` suffix) into a native-order array.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
    0x0D float32, 0x0E float64; big-endian), the number of axes and one big-endian int32 per
    axis. Raises ``ValueError`` naming ``path`` if the header is malformed or the file does not
    hold exactly the bytes the header announces.
    """
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({error})") from None
    if len(data) < 4 or data[:2] != b"\0\0":
        raise ValueError(f"{path}: not an IDX file (bad magic {data[:4].hex() or 'empty'})")
    if data[2] not in _IDX_TYPES:
        raise ValueError(f"{path}: unsupported IDX type code 0x{data[2]:02X}")
    dtype, header = _IDX_TYPES[data[2]], 4 + 4 * data[3]
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} of {header} bytes)")
    shape = tuple(int(n) for n in np.frombuffer(data, ">i4", data[3], 4))
    if min(shape, default=0) < 0:
        raise ValueError(f"{path}: header announces shape {shape}, with a negative axis; "
                         "corrupt")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: header announces shape {shape} ({expected} data bytes) but "
                         f"the file holds {len(data) - header}; truncated or corrupt")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_cifar_batch(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a CIFAR-10 binary batch: records of 1 label byte + 3×32×32 bytes (R, G, B planes).

    Returns images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` uint8; raises ``ValueError``
    naming ``path`` if it is empty, holds a partial record or a label outside 0–9.
    """
    data = np.frombuffer(Path(path).read_bytes(), np.uint8)
    if data.size == 0 or data.size % _CIFAR_RECORD:
        raise ValueError(f"{path}: size {data.size} bytes is not a positive multiple of the "
                         f"{_CIFAR_RECORD}-byte CIFAR-10 record; truncated or corrupt")
    records = data.reshape(-1, _CIFAR_RECORD)
    if records[:, 0].max() > 9:
        raise ValueError(f"{path}: label {records[:, 0].max()} outside 0-9; corrupt file")
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0]


def _idx_pair(folder: Path, name: str, split: str, download: bool):
    """Images (N, H, W) uint8 and labels (N,) of one MNIST-like split in ``folder``."""
    paths = []
    for stem in _IDX_FILES[split]:
        found = [path for path in (folder / stem, folder / f"{stem}.gz") if path.is_file()]
        if not found and download:
            found = [folder / f"{stem}.gz"]
            _fetch(_URLS[name] + found[0].name, found[0], _MD5[name, found[0].name])
        if not found:
            raise FileNotFoundError(f"{name} file {folder / stem} (or {stem}.gz) not found; pass "
                                    f"download=True or place the IDX files in {folder}")
        paths.append(found[0])
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.dtype != np.uint8 or not images.size:
        raise ValueError(f"{paths[0]}: expected uint8 images (N, H, W), each axis >= 1, got "
                         f"{images.dtype} {images.shape}")
    if labels.dtype.kind not in "ui":            # 1.7 would silently become class 1
        raise ValueError(f"{paths[1]}: expected integer labels, got {labels.dtype}")
    if labels.ndim != 1 or len(labels) != len(images) or labels.min(initial=0) < 0 \
            or labels.max(initial=0) > 9:
        raise ValueError(f"{paths[1]}: expected {len(images)} labels in 0-9 to match "
                         f"{paths[0]}, got shape {labels.shape}")
    return images, labels


def _cifar10(root: Path, split: str, download: bool):
    """Images (N, 3, 32, 32) uint8 and labels (N,) of one CIFAR-10 split under ``root``."""
    folder = root / _CIFAR_FOLDER if (root / _CIFAR_FOLDER).is_dir() else root
    missing = [folder / name for name in _CIFAR_FILES[split] if not (folder / name).is_file()]
    if missing and download:
        _download_cifar10(root)
        return _cifar10(root, split, download=False)
    if missing:
        raise FileNotFoundError(f"CIFAR-10 file {missing[0]} not found; pass download=True or "
                                f"place the binary-version files (cifar-10-batches-bin) there")
    batches = [read_cifar_batch(folder / name) for name in _CIFAR_FILES[split]]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _fetch(url: str, path: Path, md5: str) -> None:
    """Download ``url`` to ``path`` (atomically), refusing data whose MD5 is not ``md5``."""
    with urllib.request.urlopen(url, timeout=60) as source:
        data = source.read()
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if digest != md5:
        raise ValueError(f"{url}: MD5 {digest} is not the official {md5}; nothing written to "
                         f"{path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def _download_cifar10(root: Path) -> None:
    """Fetch the binary-version archive and unpack its six batches into ``root``."""
    archive = root / "cifar-10-binary.tar.gz"
    _fetch(_URLS["cifar10"], archive, _MD5["cifar10", archive.name])
    try:
        (root / _CIFAR_FOLDER).mkdir(exist_ok=True)
        with tarfile.open(archive) as tar:
            for name in _CIFAR_FILES["train"] + _CIFAR_FILES["test"]:
                member = tar.extractfile(f"{_CIFAR_FOLDER}/{name}")
                write_atomic(root / _CIFAR_FOLDER / name, member.read())
    finally:
        archive.unlink()
