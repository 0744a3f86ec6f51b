"""data.py: IDX reading with validation, the authors' merge/binarization, the resumable stream."""

import gzip
import os
import struct
import time

import numpy as np
import pytest

from binarygan_tf.errors import DataError
from binarygan_tf.training import data
from tests import helpers

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "mnist")


@pytest.fixture
def mnist_dir(tmp_path):
    return helpers.write_fake_mnist(tmp_path / "mnist", n_train=96, n_test=32)


def _image_file(directory):
    return os.path.join(directory, helpers.IDX_NAMES["train"][0])


def _rewrite(path, content):
    with gzip.open(path, "wb") as f:
        f.write(content)


def _content(path):
    with gzip.open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------- reading
def test_reads_images_and_labels_as_written(mnist_dir):
    images, labels = data.load_mnist_split("train", mnist_dir)
    expected_images, expected_labels = helpers.fake_digits(96, seed=0)
    assert images.shape == (96, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], expected_images)
    np.testing.assert_array_equal(labels, expected_labels)


def test_uncompressed_files_are_accepted(mnist_dir):
    for name in helpers.IDX_NAMES["test"]:
        gz = os.path.join(mnist_dir, name)
        with open(gz[:-3], "wb") as f:
            f.write(_content(gz))
        os.remove(gz)
    images, labels = data.load_mnist_split("test", mnist_dir)
    assert images.shape == (32, 28, 28, 1) and labels.shape == (32,)


def test_truncated_gzip_names_the_file(mnist_dir):
    path = _image_file(mnist_dir)
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load_mnist_split("train", mnist_dir)


def test_wrong_magic_names_the_file(mnist_dir):
    path = _image_file(mnist_dir)
    content = _content(path)
    _rewrite(path, struct.pack(">I", 1234) + content[4:])
    with pytest.raises(DataError, match="train-images.*magic number 1234"):
        data.load_mnist_split("train", mnist_dir)


def test_wrong_image_size_is_refused(mnist_dir):
    path = _image_file(mnist_dir)
    pixels = np.zeros((96, 27, 28), np.uint8)
    _rewrite(path, struct.pack(">IIII", 2051, 96, 27, 28) + pixels.tobytes())
    with pytest.raises(DataError, match="27x28 images"):
        data.load_mnist_split("train", mnist_dir)


def test_short_payload_is_not_zero_filled(mnist_dir):
    path = _image_file(mnist_dir)
    content = _content(path)
    _rewrite(path, content[:-100])
    with pytest.raises(DataError, match="promises 75264 bytes .* holds 75164"):
        data.load_mnist_split("train", mnist_dir)


def test_image_label_count_mismatch_names_both_files(mnist_dir):
    labels_path = os.path.join(mnist_dir, helpers.IDX_NAMES["train"][1])
    helpers.write_idx_labels(labels_path, np.zeros(95, np.uint8))
    with pytest.raises(DataError, match="96 images but .*train-labels.* has 95 labels"):
        data.load_mnist_split("train", mnist_dir)


def test_swapped_image_and_label_files_are_refused(mnist_dir):
    images_path = _image_file(mnist_dir)
    helpers.write_idx_labels(images_path, np.zeros(96, np.uint8))
    with pytest.raises(DataError, match="holds labels, not images"):
        data.load_mnist_split("train", mnist_dir)


def test_empty_missing_and_incomplete_folders(tmp_path, mnist_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="empty.*--mnist_dir"):
        data.load_mnist_split("train", str(empty))
    with pytest.raises(DataError, match="does not exist"):
        data.load_mnist_split("train", str(tmp_path / "nowhere"))
    os.remove(os.path.join(mnist_dir, helpers.IDX_NAMES["test"][1]))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is missing"):
        data.load_mnist_split("test", mnist_dir)


def test_environment_variable_is_the_fallback(mnist_dir, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, mnist_dir)
    assert data.resolve_mnist_dir(None) == mnist_dir
    assert data.resolve_mnist_dir("/explicit") == "/explicit"
    images, _ = data.load_mnist_split("test")
    assert len(images) == 32


def test_tfds_failure_becomes_a_one_paragraph_fix(monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data.socket, "create_connection", _connects)  # online, but...

    def no_network(*args, **kwargs):
        raise ConnectionError("Failed to establish a new connection")

    monkeypatch.setattr(tfds, "load", no_network)
    with pytest.raises(DataError) as info:
        data.load_mnist_split("train")
    message = str(info.value)
    assert "ConnectionError" in message and "--mnist_dir" in message
    assert "--tfds_data_dir" in message and "\n" not in message


class _Connection:
    def close(self):
        pass


def _connects(address, timeout=None):
    return _Connection()


def _unreachable(address, timeout=None):
    raise OSError(101, "Network is unreachable")


def _tree(root):
    return sorted(
        os.path.relpath(os.path.join(d, n), root)
        for d, dirs, files in os.walk(root)
        for n in dirs + files
    )


def test_offline_tfds_fails_in_seconds_naming_every_fix_and_writes_nothing(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data.socket, "create_connection", _unreachable)
    monkeypatch.setattr(tfds, "load", lambda *a, **k: pytest.fail("tfds.load was called"))
    (tmp_path / "other_dataset").mkdir()
    before = _tree(tmp_path)
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        data.load_mnist_split("train", tfds_data_dir=str(tmp_path / "tfds"))
    assert time.monotonic() - start < 10
    message = str(info.value)
    for option in ("--mnist_dir", data.ENV_VAR, "--tfds_data_dir"):
        assert option in message
    assert (
        "storage.googleapis.com:443 is unreachable (OSError: [Errno 101] Network is unreachable)"
        in message
        and "\n" not in message
    )
    assert message.endswith("on a connected machine).")  # whole, not cut mid-word
    assert _tree(tmp_path) == before


def test_a_hanging_name_lookup_is_cut_off(monkeypatch):
    """socket timeouts do not cover DNS: the probe gives up on its own clock."""
    monkeypatch.setattr(data, "PROBE_TIMEOUT", 0.2)

    def hanging_lookup(address, timeout=None):
        time.sleep(2)
        raise OSError("name lookup gave up")

    monkeypatch.setattr(data.socket, "create_connection", hanging_lookup)
    start = time.monotonic()
    with pytest.raises(DataError, match=r"unreachable \(TimeoutError: no answer within 0.2 s\)"):
        data._require_download_reachable("/nowhere")
    assert time.monotonic() - start < 1.0


def test_a_failed_download_removes_only_what_it_created(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data.socket, "create_connection", _connects)
    root = tmp_path / "tfds"
    (root / "downloads").mkdir(parents=True)
    (root / "downloads" / "kept.zip").write_bytes(b"x")
    (root / "fashion_mnist").mkdir()

    def partial_download(*args, **kwargs):
        (root / "downloads" / "mnist.tmp.123").write_bytes(b"partial")
        (root / "mnist" / "3.0.1.incomplete").mkdir(parents=True)
        raise ConnectionError("Read timed out. " + "word " * 100)

    monkeypatch.setattr(tfds, "load", partial_download)
    shortened = r"\(ConnectionError: Read timed out\. word .*word \.\.\.\)\. Pass --mnist_dir"
    with pytest.raises(DataError, match=shortened):
        data.load_mnist_split("test", tfds_data_dir=str(root))
    assert _tree(root) == ["downloads", "downloads/kept.zip", "fashion_mnist"]


def test_a_prepared_tfds_copy_needs_no_network(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data.socket, "create_connection", _unreachable)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    images, labels = helpers.fake_digits(8, seed=2)
    calls = []

    def load(name, split, data_dir, batch_size, as_supervised):
        calls.append((name, split, data_dir))
        return images[..., None], labels

    monkeypatch.setattr(tfds, "load", load)
    monkeypatch.setattr(tfds, "as_numpy", lambda x: x)
    got_images, got_labels = data.load_mnist_split("test", tfds_data_dir=str(tmp_path))
    assert calls == [("mnist", "test", str(tmp_path))]
    np.testing.assert_array_equal(got_images[..., 0], images)
    assert got_labels.dtype == np.int64 and list(got_labels) == list(labels)


# ---------------------------------------------------------------- the authors' training set
def test_binarize_is_pixel_greater_than_zero():
    np.testing.assert_array_equal(data.binarize(np.array([0, 1, 127, 255], np.uint8)), [0, 1, 1, 1])


def test_training_images_are_train_then_test_binarized(mnist_dir):
    images = data.load_training_images(mnist_dir)
    train, _ = helpers.fake_digits(96, seed=0)
    test, _ = helpers.fake_digits(32, seed=1)
    expected = np.concatenate([train, test])[..., None] > 0
    assert images.shape == (128, 28, 28, 1)
    np.testing.assert_array_equal(images, expected.astype(np.uint8))


# ---------------------------------------------------------------- the stream
def _stream(images, batch_size, seed, start_step, n_batches):
    ds = data.make_training_dataset(images, batch_size, seed, start_step=start_step)
    return np.stack([b.numpy() for b in ds.take(n_batches)])


def _numbered_images(n):
    """Every pixel of image i is i, so a batch shows which images it holds."""
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 28, 28, 1)).copy()


def test_each_epoch_is_a_permutation_with_the_remainder_dropped():
    images = _numbered_images(70)
    batches = _stream(images, 16, seed=3, start_step=0, n_batches=8)  # 4 per epoch (64 of 70)
    ids = batches[:, :, 0, 0, 0].astype(int)
    for epoch in range(2):
        epoch_ids = ids[4 * epoch : 4 * epoch + 4].ravel()
        assert len(set(epoch_ids)) == 64  # no repeats within an epoch
    assert not np.array_equal(ids[:4], ids[4:8])  # a fresh order each epoch
    assert batches.dtype == np.float32


def test_stream_is_fixed_by_seed_and_resumes_at_any_step():
    images = _numbered_images(70)
    full = _stream(images, 16, seed=5, start_step=0, n_batches=10)
    np.testing.assert_array_equal(full, _stream(images, 16, seed=5, start_step=0, n_batches=10))
    np.testing.assert_array_equal(full[6:], _stream(images, 16, seed=5, start_step=6, n_batches=4))
    assert not np.array_equal(full, _stream(images, 16, seed=6, start_step=0, n_batches=10))


def test_steps_per_epoch_matches_the_authors():
    assert data.steps_per_epoch(70000, 64) == 1093  # 70,000 // 64, remainder dropped


@pytest.mark.skipif(not os.path.isdir(SHARED_MNIST), reason="real MNIST not beside the repo")
def test_real_mnist_has_the_expected_size_and_density():
    images = data.load_training_images(SHARED_MNIST)
    assert images.shape == (70000, 28, 28, 1)
    assert 0.18 < images.mean() < 0.20  # binarized MNIST: about 19% of pixels are on
