"""kd.data: file loaders round-trip exactly and name broken files; scenes are reproducible."""

import gzip
import hashlib
import re
import tarfile

import numpy as np
import pytest

from kd import data as data_module
from kd.data import (CIFAR_CLASSES, FASHION_CLASSES, cluttered_scenes, digit_split, load,
                     read_idx)

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"


def write_idx(path, array, code=0x08):
    """Write ``array`` (already in the file's big-endian dtype) as IDX, gzipped for ``.gz``."""
    data = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    data += array.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_mnist(folder, images, labels, suffix=""):
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


@pytest.fixture
def mnist_raw():
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([3, 1, 4, 1, 5], np.uint8)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_round_trip(tmp_path, mnist_raw, name, suffix):
    write_mnist(tmp_path, *mnist_raw, suffix)
    before = sorted(tmp_path.iterdir())
    for split in ("train", "test"):
        data = load(name, split, root=tmp_path)
        assert data.images.dtype == np.float32 and data.images.shape == (5, 1, 28, 28)
        np.testing.assert_array_equal(data.images[:, 0], mnist_raw[0].astype(np.float32) / 255)
        assert data.labels.dtype == np.int64 and data.labels.tolist() == [3, 1, 4, 1, 5]
        assert data.masks is None and data.name == name and len(data.classes) == 10
    assert load("fashion-mnist", "test", root=tmp_path).classes == FASHION_CLASSES
    assert load("mnist", "test", root=str(tmp_path), size=14).images.shape == (5, 1, 14, 14)
    assert sorted(tmp_path.iterdir()) == before          # loaders write nothing


@pytest.mark.parametrize("code, dtype", [(0x09, "i1"), (0x0B, ">i2"), (0x0C, ">i4"),
                                         (0x0D, ">f4"), (0x0E, ">f8")])
def test_read_idx_types(tmp_path, code, dtype):
    array = np.arange(-6, 6).reshape(3, 2, 2).astype(dtype)
    write_idx(tmp_path / "x.idx", array, code)
    read = read_idx(tmp_path / "x.idx")
    np.testing.assert_array_equal(read, array)
    assert read.dtype.isnative and read.dtype.kind == np.dtype(dtype).kind


def corrupt_truncated(path):
    path.write_bytes(path.read_bytes()[:-7])


def corrupt_magic(path):
    path.write_bytes(b"\x01\x02" + path.read_bytes()[2:])


@pytest.mark.parametrize("suffix, corrupt, reason", [
    ("", corrupt_truncated, "truncated"), ("", corrupt_magic, "magic"),
    (".gz", corrupt_truncated, "gzip"), (".gz", corrupt_magic, "gzip")])
def test_corrupt_idx_is_named(tmp_path, mnist_raw, suffix, corrupt, reason):
    write_mnist(tmp_path, *mnist_raw, suffix)
    path = tmp_path / f"{IMAGES}{suffix}"
    corrupt(path)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}.*{reason}"):
        load("mnist", "train", root=tmp_path)


@pytest.mark.parametrize("images, labels, named, reason", [
    (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), IMAGES, "each axis >= 1"),
    (np.zeros((5, 0, 0), np.uint8), np.arange(5, dtype=np.uint8), IMAGES, "each axis >= 1"),
    (np.zeros((2, 4, 4), np.uint8), np.array([1.7, 2.0], ">f4"), LABELS, "integer labels"),
], ids=["no-images", "empty-images", "float-labels"])
def test_empty_splits_and_float_labels_are_refused_naming_the_file(tmp_path, images, labels,
                                                                   named, reason):
    write_idx(tmp_path / IMAGES, images)
    write_idx(tmp_path / LABELS, labels, 0x0D if labels.dtype.kind == "f" else 0x08)
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path / named))}: .*{reason}"):
        load("mnist", "train", root=tmp_path)


def test_a_negative_axis_is_named_as_such(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 8, 1]) + np.array([-5], ">i4").tobytes())
    with pytest.raises(ValueError, match=r"shape \(-5,\), with a negative axis"):
        read_idx(path)


def test_idx_count_mismatch_and_missing_file(tmp_path, mnist_raw):
    write_mnist(tmp_path, mnist_raw[0], mnist_raw[1][:4])
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / LABELS))):
        load("mnist", "train", root=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.*download=True"):
        load("mnist", "test", root=tmp_path)
    with pytest.raises(ValueError, match=r"needs root, the folder .* \(--data-root"):
        load("mnist", "train")


def write_cifar(folder, rng):
    """Three random records per batch file; returns {name: (labels, images)}."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, 3, dtype=np.uint8)
        images = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
        records = np.concatenate([labels[:, None], images.reshape(3, -1)], axis=1)
        (folder / name).write_bytes(records.tobytes())
        batches[name] = labels, images
    return batches


@pytest.mark.parametrize("nested", [False, True])
def test_cifar_round_trip(tmp_path, nested):
    folder = tmp_path / "cifar-10-batches-bin" if nested else tmp_path
    batches = write_cifar(folder, np.random.default_rng(7))
    train = load("cifar10", "train", root=tmp_path)
    assert train.images.shape == (15, 3, 32, 32) and train.images.dtype == np.float32
    expected = np.concatenate([batches[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    np.testing.assert_array_equal(train.images, expected.astype(np.float32) / 255)
    red = batches["data_batch_1.bin"][1][:, 0]           # R plane comes first in each record
    np.testing.assert_array_equal(train.images[:3, 0], red.astype(np.float32) / 255)
    assert train.labels.tolist() == np.concatenate(
        [batches[f"data_batch_{i}.bin"][0] for i in range(1, 6)]).tolist()
    test = load("cifar10", "test", root=tmp_path)
    assert test.images.shape == (3, 3, 32, 32) and test.classes == CIFAR_CLASSES
    assert test.labels.tolist() == batches["test_batch.bin"][0].tolist()


def test_cifar_broken_files_are_named(tmp_path):
    write_cifar(tmp_path, np.random.default_rng(8))
    with open(tmp_path / "data_batch_3.bin", "ab") as stream:
        stream.write(b"\x01" * 5)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "data_batch_3.bin"))):
        load("cifar10", "train", root=tmp_path)
    (tmp_path / "test_batch.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="test_batch.bin.*not a positive multiple"):
        load("cifar10", "test", root=tmp_path)
    (tmp_path / "data_batch_3.bin").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin.*download=True"):
        load("cifar10", "train", root=tmp_path)


@pytest.fixture(scope="module")
def scenes():
    return load("cluttered", "train"), load("cluttered", "test")


def test_cluttered_shapes_and_labels(scenes):
    for data, split, per_source in zip(scenes, ("train", "test"), (3, 1)):
        sources = digit_split(split)[1]
        assert data.images.shape == (per_source * len(sources), 1, 64, 64)
        assert data.images.dtype == np.float32 and data.masks.dtype == np.uint8
        assert 0 <= data.images.min() and data.images.max() <= 1
        # every source digit of the split is the target of `per_source` scenes
        counts = np.bincount(data.labels, minlength=10)
        np.testing.assert_array_equal(counts, per_source * np.bincount(sources, minlength=10))
        assert (counts > 0).all() and data.name == "cluttered"
    assert len(scenes[0]) == 4041 and len(scenes[1]) == 450


def test_cluttered_masks_cover_the_target_only(scenes):
    for data in scenes:
        images, masks = data.images[:, 0], data.masks.astype(bool)
        assert masks.any(axis=(1, 2)).all()
        on = (images * masks).sum(axis=(1, 2)) / masks.sum(axis=(1, 2))
        assert on.min() > 0.4 and images[masks].mean() > 0.55
        assert images[~masks].mean() < 0.12                 # clutter and noise stay background
        rows, cols = masks.any(axis=2), masks.any(axis=1)   # the mask fits the 32 px digit box
        for hits in (rows, cols):
            extent = hits.shape[1] - np.argmax(hits[:, ::-1], axis=1) - np.argmax(hits, axis=1)
            assert extent.max() <= 32


def test_cluttered_is_deterministic(scenes):
    again = load("cluttered", "test")
    for field in ("images", "labels", "masks"):
        assert getattr(again, field).tobytes() == getattr(scenes[1], field).tobytes()
    assert not np.array_equal(load("cluttered", "test", seed=1).images, again.images)
    sources = load("digits", "test", size=8).subset(12)
    one, other = (cluttered_scenes(sources, 2, stream=stream) for stream in (0, 1))
    assert not np.array_equal(one.images, other.images)
    assert cluttered_scenes(sources, 1, size=48).images.shape == (12, 1, 48, 48)


def test_digits_split():
    train_images, _, train_index = digit_split("train")
    _, _, test_index = digit_split("test")
    assert (len(train_index), len(test_index)) == (1347, 450)
    assert np.intersect1d(train_index, test_index).size == 0
    assert np.union1d(train_index, test_index).tolist() == list(range(1797))
    train, test = load("digits", "train"), load("digits", "test", seed=3)
    assert train.images.shape == (1347, 1, 32, 32) and test.images.shape == (450, 1, 32, 32)
    assert 0 <= train.images.min() and train.images.max() <= 1
    np.testing.assert_array_equal(train.masks, train.images[:, 0] > 0.5)
    np.testing.assert_array_equal(load("digits", "train", size=8).images[:, 0], train_images)
    np.testing.assert_array_equal(load("digits", "test").images, test.images)   # seed-free
    assert train.classes == tuple("0123456789")


@pytest.mark.parametrize("arguments, name", [
    (("svhn", "train"), "name"), (("digits", "val"), "split"),
    (("digits", "train", {"size": 4}), "size"), (("digits", "train", {"size": 16.5}), "size"),
    (("cluttered", "test", {"size": 16}), "size"), (("digits", "train", {"seed": -1}), "seed")])
def test_bad_arguments_are_named(arguments, name):
    options = arguments[2] if len(arguments) == 3 else {}
    with pytest.raises(ValueError, match=f"^{name} must"):
        load(*arguments[:2], **options)


def test_bad_subset_and_scene_arguments():
    sources = load("digits", "test", size=8).subset(4)
    assert len(sources) == 4 and sources.masks.shape == (4, 8, 8)
    for count in (0, 5, 2.0):
        with pytest.raises(ValueError, match="^count must"):
            sources.subset(count)
    for options, name in [({"count_per_source": 0}, "count_per_source"),
                          ({"digit_sides": (20, 80)}, "size"), ({"noise": -1}, "noise")]:
        with pytest.raises(ValueError, match=f"^{name} must"):
            cluttered_scenes(sources, **{"count_per_source": 1, **options})
    with pytest.raises(ValueError, match="^sources"):
        cluttered_scenes(sources.subset(1), 1)


def md5(path):
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def test_download_is_checked_and_atomic(tmp_path, mnist_raw, monkeypatch):
    """``download=True`` against a local ``file://`` mirror: no network is touched."""
    mirror, target = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    write_mnist(mirror, *mnist_raw, ".gz")
    monkeypatch.setitem(data_module._URLS, "mnist", mirror.as_uri() + "/")
    for path in mirror.iterdir():
        monkeypatch.setitem(data_module._MD5, ("mnist", path.name), md5(path))
    monkeypatch.setitem(data_module._MD5, ("mnist", f"{IMAGES}.gz"), "0" * 32)
    with pytest.raises(ValueError, match="MD5"):
        load("mnist", "train", root=target, download=True)
    assert not target.exists() or not list(target.iterdir())   # nothing partial left behind
    test = load("mnist", "test", root=target, download=True)
    np.testing.assert_array_equal(test.images[:, 0], mnist_raw[0].astype(np.float32) / 255)
    assert sorted(p.name for p in target.iterdir()) == ["t10k-images-idx3-ubyte.gz",
                                                        "t10k-labels-idx1-ubyte.gz"]

    archive = mirror / "cifar-10-binary.tar.gz"
    write_cifar(mirror / "cifar-10-batches-bin", np.random.default_rng(9))
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(mirror / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    monkeypatch.setitem(data_module._URLS, "cifar10", archive.as_uri())
    monkeypatch.setitem(data_module._MD5, ("cifar10", archive.name), md5(archive))
    assert load("cifar10", "train", root=target, download=True).images.shape == (15, 3, 32, 32)
    assert sorted(p.name for p in (target / "cifar-10-batches-bin").iterdir()) == sorted(
        p.name for p in (mirror / "cifar-10-batches-bin").iterdir())
    assert not (target / archive.name).exists()
