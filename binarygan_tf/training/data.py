"""Binarized MNIST, from TFDS or straight from the four IDX files, as a resumable tf.data stream.

The other data `--dataset` offers are read by datasets.py; this module keeps what they share
with MNIST: reading TFDS without hanging offline (`read_tfds`) and the training stream, which
takes any binary images [N, H, W, 1].

The authors train on MNIST train + test merged (70,000 images), binarized as `pixel > 0`
(`training_data/load_mnist_to_sa.py --merge --binary`), and draw each epoch as a fresh
permutation cut into 70,000 // 64 = 1,093 batches with the remainder dropped
(`bgan/mnist/models.py`: `np.random.choice(len(x), (num_batch, 64), replace=False)`).

Resumability is designed in: epoch `e`'s order depends only on `(seed, e)` (a stateless
shuffle), so batch number `b` of the whole run is always the same batch, and a run resumed at
generator step `s` simply starts the stream at batch `s` (one batch per generator step). No
iterator state has to be checkpointed.
"""

import contextlib
import gzip
import logging as std_logging
import os
import shutil
import socket
import struct
import textwrap
import threading
import urllib.parse
import urllib.request
import zlib

import numpy as np

from binarygan_tf.errors import DataError, UserError
from binarygan_tf.model import seeds

ENV_VAR = "BINARYGAN_MNIST_DIR"
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # IDX: 0x00000803 (ubyte, 3 dims), 0x00000801 (1 dim)
_ALL_FILES = ", ".join(name for pair in MNIST_FILES.values() for name in pair)
_HOW_TO_FIX = (
    f"Pass --mnist_dir DIR (or set {ENV_VAR}) pointing at a folder with the four "
    f"MNIST IDX files ({_ALL_FILES}; .gz or uncompressed)."
)


def resolve_mnist_dir(mnist_dir=None):
    """The --mnist_dir flag, else $BINARYGAN_MNIST_DIR, else None (meaning TFDS)."""
    return mnist_dir or os.environ.get(ENV_VAR) or None


def find_idx_file(mnist_dir, filename):
    """Path of `filename` (the .gz name) in `mnist_dir`, accepting the uncompressed twin."""
    if not os.path.isdir(mnist_dir):
        raise DataError(f"MNIST folder {mnist_dir} does not exist. {_HOW_TO_FIX}")
    if not os.listdir(mnist_dir):
        raise DataError(f"MNIST folder {mnist_dir} is empty. {_HOW_TO_FIX}")
    raw = filename[:-3] if filename.endswith(".gz") else filename
    for candidate in (filename, raw):
        path = os.path.join(mnist_dir, candidate)
        if os.path.isfile(path):
            return path
    raise DataError(f"{os.path.join(mnist_dir, filename)} is missing. {_HOW_TO_FIX}")


def read_idx(path):
    """An IDX file (gzipped or raw) as a uint8 array shaped by its header, validated."""
    if not os.path.isfile(path):
        raise DataError(f"{path} does not exist. {_HOW_TO_FIX}")
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                content = f.read()
        else:
            with open(path, "rb") as f:
                content = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DataError(
            f"{path} is not a readable gzip file ({e}); it may be truncated. Download it again."
        ) from None
    if len(content) < 8:
        raise DataError(f"{path} is too short to be an IDX file ({len(content)} bytes).")
    magic, count = struct.unpack(">II", content[:8])
    if magic == IMAGE_MAGIC:
        if len(content) < 16:
            raise DataError(f"{path}: IDX image header is truncated.")
        rows, cols = struct.unpack(">II", content[8:16])
        shape, offset = (count, rows, cols), 16
        if (rows, cols) != (28, 28):
            raise DataError(f"{path} holds {rows}x{cols} images; MNIST images are 28x28.")
    elif magic == LABEL_MAGIC:
        shape, offset = (count,), 8
    else:
        raise DataError(
            f"{path} has IDX magic number {magic}, expected {IMAGE_MAGIC} "
            f"(images) or {LABEL_MAGIC} (labels): not an MNIST IDX file."
        )
    expected = int(np.prod(shape))
    payload = len(content) - offset
    if payload != expected:
        raise DataError(
            f"{path} header promises {expected} bytes of data for shape {shape} "
            f"but holds {payload}: the file is truncated or corrupt."
        )
    return np.frombuffer(content, np.uint8, offset=offset).reshape(shape)


# ---------------------------------------------------------------- TFDS
# Offline, `tfds.load` retries its download for minutes, logs dozens of lines and leaves a
# partial data dir behind. So a missing dataset is first checked for locally, then the download
# host (or the HTTPS proxy) is probed with a short timeout, and whatever a failed attempt
# wrote into the data dir is removed.
TFDS_HOST = ("storage.googleapis.com", 443)  # where TFDS downloads MNIST from
PROBE_TIMEOUT = 3.0  # seconds
_TFDS_FIX = (
    "Or pass --tfds_data_dir DIR holding MNIST prepared by TFDS (`tfds.load('mnist', "
    "data_dir=DIR)` on a connected machine)."
)


def _load_tfds(split, tfds_data_dir):
    images, labels = read_tfds(
        "mnist",
        tfds_data_dir,
        lambda tfds, builder: tfds.as_numpy(
            tfds.load(
                "mnist", split=split, data_dir=tfds_data_dir, batch_size=-1, as_supervised=True
            )
        ),
        what="MNIST",
        fix=_HOW_TO_FIX,
        tfds_fix=_TFDS_FIX,
    )
    return np.asarray(images, np.uint8), np.asarray(labels, np.int64)


def read_tfds(name, tfds_data_dir, read, *, what, fix, tfds_fix=""):
    """`read(tfds, builder)` of the TFDS dataset `name`, where it cannot hang offline: a
    dataset not prepared in the data dir is only downloaded when the download host answers
    within PROBE_TIMEOUT, and what a failed download wrote is removed. Every failure is one
    DataError naming `what` and ending with the `fix` (and `tfds_fix`, for TFDS only)."""
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder(name, data_dir=tfds_data_dir)
        with _absl_warnings_off():  # is_prepared() logs a warning for every missing dataset
            prepared = builder.is_prepared()
    except Exception as e:  # a broken install, or a name TFDS does not know
        if type(e).__name__ == "DatasetNotFoundError":
            raise DataError(
                f"TFDS has no dataset {name!r} (`tfds.list_builders()` lists the ones it "
                f"knows), nor is one prepared under that name in "
                f"{tfds_data_dir or 'its default data dir'}."
            ) from None
        raise DataError(f"TFDS is not usable ({one_line(e)}). {fix}") from None
    # DATA_DIR/NAME[/CONFIG]/VERSION: as many levels up as NAME has parts, and the version.
    root = builder.data_dir
    for _ in range(name.split(":")[0].count("/") + 2):
        root = os.path.dirname(root)
    if not prepared:
        _require_download_reachable(root, what, f"{fix} {tfds_fix}".strip())
    local = "://" not in root  # gs://... data dirs are left to TFDS
    try:
        with _removed_on_failure(root) if local else contextlib.nullcontext():
            return read(tfds, builder)
    except DataError:
        raise
    except Exception as e:  # the download or the preparation failed
        raise DataError(
            f"TFDS could not load {what} ({one_line(e)}). {fix} {tfds_fix}".strip()
        ) from None


def _require_download_reachable(root, what="MNIST", fix=f"{_HOW_TO_FIX} {_TFDS_FIX}"):
    """A DataError within PROBE_TIMEOUT if the download's first hop cannot be connected to."""
    host, port = _download_endpoint()
    try:
        _connect_within((host, port), PROBE_TIMEOUT)
    except OSError as e:
        raise DataError(
            f"{what} is not in the TFDS data dir {root} and cannot be downloaded: {host}:{port} "
            f"is unreachable ({one_line(e)}). {fix}"
        ) from None


def _connect_within(address, timeout):
    """Open and close a TCP connection, or raise OSError, within `timeout` seconds in all:
    the socket's timeout does not cover the name lookup, which can hang when DNS is away."""
    outcome = []

    def attempt():
        try:
            socket.create_connection(address, timeout=timeout).close()
            outcome.append(None)
        except OSError as e:
            outcome.append(e)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"no answer within {timeout:g} s")
    if outcome[0] is not None:
        raise outcome[0]


def _download_endpoint():
    """(host, port) a download connects to first: the HTTPS proxy if one is set."""
    proxy = urllib.request.getproxies().get("https")
    if not proxy or urllib.request.proxy_bypass(TFDS_HOST[0]):
        return TFDS_HOST
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def one_line(error, width=200):
    """`Type: first line of the message`, shortened at a word boundary."""
    text = (str(error).strip().splitlines() or [""])[0]
    return textwrap.shorten(f"{type(error).__name__}: {text}", width, placeholder=" ...")


@contextlib.contextmanager
def _absl_warnings_off():
    logger = std_logging.getLogger("absl")
    level = logger.level
    logger.setLevel(std_logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _removed_on_failure(root):
    """On an exception, delete what was created under `root` (two levels deep, where TFDS
    puts `downloads/...` and `mnist/VERSION...`), or the new folders above it; keep the rest."""
    created = _topmost_missing(root)
    before = set() if created else _entries(root)
    try:
        yield
    except BaseException:
        if created:
            shutil.rmtree(created, ignore_errors=True)
        else:
            new = _entries(root) - before
            for path in new:
                if os.path.dirname(path) not in new:
                    _remove(path)
        raise


def _topmost_missing(path):
    """The highest folder of `path` that does not exist yet, or None if `path` exists."""
    path, missing = os.path.abspath(path), None
    while not os.path.exists(path) and path != os.path.dirname(path):
        missing, path = path, os.path.dirname(path)
    return missing


def _entries(root):
    entries = set()
    for name in os.listdir(root):
        path = os.path.join(root, name)
        entries.add(path)
        if os.path.isdir(path) and not os.path.islink(path):
            entries.update(os.path.join(path, child) for child in os.listdir(path))
    return entries


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def load_mnist_split(split, mnist_dir=None, tfds_data_dir=None):
    """(images uint8 [N,28,28,1] in 0..255, labels int64 [N]) of MNIST's `split`."""
    if split not in MNIST_FILES:
        raise UserError(f"unknown MNIST split {split!r}; expected 'train' or 'test'.")
    mnist_dir = resolve_mnist_dir(mnist_dir)
    if mnist_dir is None:
        return _load_tfds(split, tfds_data_dir)
    image_file, label_file = (find_idx_file(mnist_dir, name) for name in MNIST_FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3:
        raise DataError(f"{image_file} holds labels, not images.")
    if labels.ndim != 1:
        raise DataError(f"{label_file} holds images, not labels.")
    if len(images) != len(labels):
        raise DataError(
            f"{image_file} has {len(images)} images but {label_file} has "
            f"{len(labels)} labels; the files do not belong together."
        )
    if len(images) == 0:
        raise DataError(f"{image_file} holds no images.")
    return images[..., None], labels.astype(np.int64)


def binarize(images):
    """1 where a pixel is non-zero (paper Sec. 4.1; code load_mnist_to_sa.py `trX > 0`)."""
    return (np.asarray(images) > 0).astype(np.uint8)


def load_training_images(mnist_dir=None, tfds_data_dir=None):
    """The authors' training set: train then test images, binarized, uint8 [70000,28,28,1]."""
    parts = [load_mnist_split(split, mnist_dir, tfds_data_dir)[0] for split in ("train", "test")]
    return binarize(np.concatenate(parts))


def steps_per_epoch(num_images, batch_size):
    steps = num_images // batch_size
    if steps == 0:
        raise UserError(
            f"the data set has {num_images} images, fewer than one batch of "
            f"{batch_size}; lower --batch_size."
        )
    return steps


def make_training_dataset(images, batch_size, seed, start_step=0):
    """Infinite float32 batches [batch_size, H, W, 1] of `images` [N, H, W, 1] (0/1); batch
    `b` = batch `b % spe` of epoch `b // spe`, each epoch a permutation fixed by (the run's
    data-order stream of `seed`, epoch). Starts at `start_step`."""
    import tensorflow as tf  # here, so that reading the data needs no TensorFlow start-up

    order_seed = seeds.derive(seed, "data_order")
    images = tf.constant(np.asarray(images, np.uint8))
    n = int(images.shape[0])
    spe = steps_per_epoch(n, batch_size)
    start_epoch, offset = divmod(int(start_step), spe)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(order_seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order[: spe * batch_size]).batch(
            batch_size, drop_remainder=True
        )

    ds = tf.data.Dataset.range(start_epoch, np.iinfo(np.int64).max).flat_map(epoch_batches)
    ds = ds.skip(offset)
    ds = ds.map(
        lambda idx: tf.cast(tf.gather(images, idx), tf.float32),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.prefetch(tf.data.AUTOTUNE)
