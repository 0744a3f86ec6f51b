"""datasets.py: the --dataset sources and --binarize, bad data refused in one line before the
run directory is touched, the settings recorded and held on resume, and an MLP trained,
exported and sampled at 16x20. All data is made here; nothing needs the network."""

import hashlib
import json
import os
import time

import numpy as np
import pytest
from PIL import Image

from binarygan_tf.errors import DataError, UserError
from binarygan_tf.training import config, data, datasets
from tests import helpers

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "mnist")
SHAPE = (16, 20)  # H x W of the made-up data: not square, not MNIST's


def _glyphs(n, seed=0, shape=SHAPE):
    """[n, H, W] bool: a random bar per image, so no two images are alike."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, *shape), bool)
    for i in range(n):
        top, left = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 6)
        out[i, top : top + 4, left : left + 6] = True
        out[i, rng.integers(0, shape[0]), :] = True
    return out


def _write_pngs(folder, images, names=None):
    """Each [H, W] uint8 or bool image as a PNG (bool: a 1-bit PNG); returns the folder."""
    os.makedirs(folder, exist_ok=True)
    for i, image in enumerate(images):
        image = np.asarray(image)
        pil = Image.fromarray(image) if image.dtype != bool else Image.fromarray(image).convert("1")
        pil.save(os.path.join(folder, names[i] if names else f"{i:03d}.png"))
    return str(folder)


def _refused(error, match, call):
    with pytest.raises(error, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


def _digest(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# ---------------------------------------------------------------- the --dataset spec
def test_specs_parse_and_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert datasets.parse("mnist") == datasets.Source("mnist")
    assert datasets.parse("tfds:emnist/letters") == datasets.Source("tfds", "emnist/letters")
    assert datasets.parse("folder:glyphs") == datasets.Source("folder", str(tmp_path / "glyphs"))
    assert datasets.canonical("npy:x.npy") == f"npy:{tmp_path / 'x.npy'}"
    assert config.TrainConfig(dataset="folder:glyphs").dataset == f"folder:{tmp_path / 'glyphs'}"


@pytest.mark.parametrize(
    "spec,match",
    [
        ("cifar10", r"is not one of mnist, tfds:NAME, folder:PATH, npy:FILE or npz:FILE"),
        ("png:glyphs", r"is not one of mnist, tfds:NAME"),
        ("tfds:", r"names no dataset"),
        ("folder:", r"names no folder"),
        ("folder:nowhere", r"nowhere does not exist"),
        ("npy:missing.npy", r"missing.npy does not exist"),
        ("npz:.", r"is not a file"),
    ],
)
def test_a_bad_spec_is_one_line_before_anything_is_read(tmp_path, monkeypatch, spec, match):
    monkeypatch.chdir(tmp_path)
    _refused(UserError, match, lambda: config.TrainConfig(dataset=spec).validate())


def test_binarize_values_parse_and_are_recorded_canonically():
    assert datasets.parse_binarize(None) is None
    assert datasets.parse_binarize("NonZero") == "nonzero"
    assert datasets.parse_binarize("0.50") == 0.5
    for bad in ("1", "-0.1", "half", "nan"):
        _refused(
            UserError,
            "neither 'nonzero' nor a threshold in",
            lambda b=bad: config.TrainConfig(binarize=b).validate(),
        )
    # MNIST's default rule is spelled out; other data has none unless given.
    assert config.TrainConfig().binarize == "nonzero"
    assert config.TrainConfig(binarize="0.50").binarize == "0.5"
    assert config.TrainConfig(dataset="npy:x.npy").binarize is None


# ---------------------------------------------------------------- MNIST, bit for bit
# Digests of what the code before --dataset gave (data.py at 6ecf520) on the fake MNIST of
# tests/helpers.py: the binarized images, and 20 batches of 16 from generator steps 0 and 5.
FAKE_MNIST_IMAGES = "c4314d1d13ffb436867b45dfd1f1ae7a65e65253689161dc8e0d003759fb662a"
FAKE_MNIST_STREAM = {
    0: "80dd89db14f1b670e772acd51da76b0e5615de6acfeb546fd15e73d788a256cc",
    5: "58235237b2bec5c3b4c5f5751144ef9bfb4699eaed279a233079d105c9e14477",
}
# The same for the real MNIST (70,000 images; three batches of 64, seed 0).
REAL_MNIST_IMAGES = "66e264dcff22c3f39c0d050695cd03663907235e8af1fbcd3ef997f5260248c7"
REAL_MNIST_STREAM = "b64f13e44c29d36cbd2ea4b4d3a9eb2d3f052c85371df3333583ebac5091d5a5"


def _stream(images, batch_size, seed, start_step, n):
    ds = data.make_training_dataset(images, batch_size, seed, start_step=start_step)
    return np.stack([b.numpy() for b in ds.take(n)])


def test_the_mnist_default_is_the_images_and_stream_of_before(tmp_path):
    mnist = helpers.write_fake_mnist(tmp_path / "mnist")
    images = datasets.load_images("mnist", None, mnist)
    assert _digest(images) == FAKE_MNIST_IMAGES
    np.testing.assert_array_equal(images, datasets.load_images("mnist", "nonzero", mnist))
    for start, expected in FAKE_MNIST_STREAM.items():
        assert _digest(_stream(images, 16, 1, start, 20)) == expected


@pytest.mark.skipif(not os.path.isdir(SHARED_MNIST), reason="real MNIST not beside the repo")
def test_the_real_mnist_default_is_the_images_and_stream_of_before():
    images = datasets.load_images("mnist", None, SHARED_MNIST)
    assert images.shape == (70000, 28, 28, 1) and _digest(images) == REAL_MNIST_IMAGES
    assert _digest(_stream(images, 64, 0, 0, 3)) == REAL_MNIST_STREAM


def test_mnist_takes_a_threshold_too(tmp_path):
    mnist = helpers.write_fake_mnist(tmp_path / "mnist")
    raw = np.concatenate([data.load_mnist_split(s, mnist)[0] for s in ("train", "test")])
    images = datasets.load_images("mnist", "0.5", mnist)
    np.testing.assert_array_equal(images, (raw > 127.5).astype(np.uint8))


# ---------------------------------------------------------------- binarization
def test_already_binary_data_needs_no_rule():
    bars = _glyphs(3)
    for raw in (bars, bars.astype(np.uint8), bars.astype(np.float32), bars * np.uint8(255)):
        out = datasets.binarize_images(raw, None, "x")
        assert out.dtype == np.uint8 and out.shape == (3, *SHAPE, 1)
        np.testing.assert_array_equal(out[..., 0], bars)


def test_non_binary_data_without_a_rule_is_refused_naming_the_fix():
    message = _refused(
        DataError,
        r"^x.npy holds values from 0 to 200, not only 0 and 1: binarize them with "
        r"--binarize=nonzero .* or --binarize=T",
        lambda: datasets.binarize_images(np.array([[[0, 1, 200]]], np.uint8), None, "x.npy"),
    )
    assert "docs/datasets.md" in message


def test_nonzero_and_threshold_semantics():
    uint8 = np.array([[[0, 1, 127, 128, 255]]], np.uint8)
    rule = datasets.parse_binarize
    assert datasets.binarize_images(uint8, rule("nonzero"), "x").ravel().tolist() == [0, 1, 1, 1, 1]
    # 0.5: value / 255 > 0.5, so 127 (0.498) is off and 128 (0.502) on
    assert datasets.binarize_images(uint8, rule("0.5"), "x").ravel().tolist() == [0, 0, 0, 1, 1]
    # 0.2 exactly: 51 / 255 == 0.2 is not above it
    assert datasets.binarize_images(
        np.array([[[51, 52]]], np.uint8), 0.2, "x"
    ).ravel().tolist() == [0, 1]
    uint16 = np.array([[[0, 32767, 32768, 65535]]], np.uint16)
    assert datasets.binarize_images(uint16, 0.5, "x").ravel().tolist() == [0, 0, 1, 1]
    floats = np.array([[[0.0, 0.25, 0.5, 0.75, 1.0]]], np.float32)
    assert datasets.binarize_images(floats, 0.5, "x").ravel().tolist() == [0, 0, 0, 1, 1]
    assert datasets.binarize_images(floats, 0.0, "x").ravel().tolist() == [0, 1, 1, 1, 1]
    _refused(
        DataError,
        r"holds int64 values from 0 to 255; a threshold applies to values in \[0, 1\]",
        lambda: datasets.binarize_images(np.array([[[0, 255]]]), 0.5, "x"),
    )
    _refused(DataError, "holds NaN", lambda: datasets.binarize_images(floats * np.nan, 0.5, "x"))


# ---------------------------------------------------------------- a folder of images
def test_a_folder_of_pngs_reads_in_sorted_path_order_and_grayscale(tmp_path):
    bars = _glyphs(5)
    folder = tmp_path / "glyphs"
    _write_pngs(folder, bars[:2], ["b.png", "a.PNG"])
    _write_pngs(folder / "sub", bars[2:3], ["0.png"])
    Image.fromarray(np.stack([bars[3] * np.uint8(255)] * 3, -1)).save(folder / "c.bmp")  # RGB
    _write_pngs(folder / ".hidden", bars[4:], ["x.png"])  # hidden: skipped
    (folder / "notes.txt").write_text("not an image")  # not an image extension: skipped
    images = datasets.load_images(f"folder:{folder}")
    assert images.shape == (4, *SHAPE, 1)
    # a.PNG, b.png, c.bmp, sub/0.png
    np.testing.assert_array_equal(images[..., 0], bars[[1, 0, 3, 2]])


def test_a_jpeg_folder_needs_a_threshold(tmp_path):
    bars = _glyphs(2)
    folder = tmp_path / "jpegs"
    folder.mkdir()
    for i, bar in enumerate(bars):
        Image.fromarray(bar * np.uint8(255)).save(folder / f"{i}.jpg", quality=90)
    _refused(DataError, "not only 0 and 1", lambda: datasets.load_images(f"folder:{folder}"))
    images = datasets.load_images(f"folder:{folder}", "0.5")
    assert np.mean(images[..., 0] != bars) < 0.01  # JPEG's ringing stays below the threshold


def test_an_empty_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    _refused(
        DataError,
        r"folder .*empty holds no PNG, JPEG or BMP images \(nothing\)",
        lambda: datasets.load_images(f"folder:{tmp_path / 'empty'}"),
    )
    (tmp_path / "empty" / "a.gif").write_bytes(b"GIF89a")
    _refused(
        DataError,
        r"holds no PNG, JPEG or BMP images \(only 1 other files, e.g. a.gif\)",
        lambda: datasets.load_images(f"folder:{tmp_path / 'empty'}"),
    )


def test_images_of_mixed_sizes_are_one_line_naming_two(tmp_path):
    folder = _write_pngs(tmp_path / "mixed", list(_glyphs(2)) + [_glyphs(1, shape=(20, 16))[0]])
    _refused(
        DataError,
        r"the images of folder .*mixed differ in size: .*000.png is 16x20 \(HxW\), "
        r".*002.png is 20x16; resize them",
        lambda: datasets.load_images(f"folder:{folder}"),
    )


@pytest.mark.parametrize("damage", ["not_an_image", "truncated"])
def test_a_corrupt_file_fails_the_folder_naming_it(tmp_path, damage):
    folder = _write_pngs(tmp_path / "glyphs", _glyphs(3))
    path = os.path.join(folder, "001.png")
    if damage == "not_an_image":
        content = b"this is no PNG"
    else:
        with open(path, "rb") as f:
            content = f.read()[:60]
    with open(path, "wb") as f:
        f.write(content)
    _refused(
        DataError,
        r"001.png is not a readable image \(.*\); remove or replace it",
        lambda: datasets.load_images(f"folder:{folder}"),
    )


def test_sixteen_bit_images_are_refused_not_clipped(tmp_path):
    folder = tmp_path / "wide"
    folder.mkdir()
    Image.fromarray(np.full(SHAPE, 40000, np.uint16)).save(folder / "a.png")
    _refused(DataError, r"a.png has I;16 pixels", lambda: datasets.load_images(f"folder:{folder}"))


# ---------------------------------------------------------------- arrays
def test_npy_and_npz_arrays(tmp_path):
    bars = _glyphs(4)
    np.save(tmp_path / "bool.npy", bars)
    np.save(tmp_path / "channel.npy", bars.astype(np.uint8)[..., None])
    np.savez(tmp_path / "one.npz", whatever=bars)
    np.savez_compressed(tmp_path / "named.npz", labels=np.arange(4), images=bars.astype(np.float64))
    for spec in ("npy:bool.npy", "npy:channel.npy", "npz:one.npz", "npz:named.npz"):
        images = datasets.load_images(spec.replace(":", f":{tmp_path}/"))
        assert images.shape == (4, *SHAPE, 1) and images.dtype == np.uint8, spec
        np.testing.assert_array_equal(images[..., 0], bars)


@pytest.mark.parametrize(
    "make,spec,match",
    [
        (
            lambda p: np.save(p / "a.npy", np.zeros((4, 16, 20, 3))),
            "npy:a.npy",
            r"colour images 4 x 16 x 20 x 3",
        ),
        (
            lambda p: np.save(p / "a.npy", np.zeros((16, 20))),
            "npy:a.npy",
            r"an array 16 x 20; expected N x H x W",
        ),
        (lambda p: np.save(p / "a.npy", np.zeros((0, 16, 20))), "npy:a.npy", r"holds no images"),
        (
            lambda p: np.save(p / "a.npy", np.array([["a"]] * 2)[None]),
            "npy:a.npy",
            r"<U1 values; expected numbers",
        ),
        (
            lambda p: np.save(p / "a.npy", np.array([None] * 2)),
            "npy:a.npy",
            r"not a readable .npy file",
        ),
        (
            lambda p: (p / "a.npy").write_bytes(b"\x93NUMPY garbage"),
            "npy:a.npy",
            r"not a readable .npy file",
        ),
        (
            lambda p: np.savez(p / "a.npz", x=np.zeros((2, 3, 3)), y=np.zeros(2)),
            "npz:a.npz",
            r"holds the arrays x, y: save the images alone",
        ),
        (
            lambda p: np.savez(p / "a.npz", x=np.zeros((2, 3, 3))),
            "npy:a.npz",
            r"is an .npz archive: use --dataset=npz:",
        ),
        (
            lambda p: np.save(p / "a.npy", np.zeros((2, 3, 3))),
            "npz:a.npy",
            r"is an .npy array: use --dataset=npy:",
        ),
    ],
)
def test_a_bad_array_is_one_line(tmp_path, make, spec, match):
    make(tmp_path)
    _refused(DataError, match, lambda: datasets.load_images(spec.replace(":", f":{tmp_path}/")))


# ---------------------------------------------------------------- TFDS
def _tiny_tfds_builder():
    """A TFDS dataset of 16x20 RGB images (train 12, test 4), unregistered: once prepared,
    TFDS finds it in its data dir by name, as a dataset prepared elsewhere and copied."""
    import tensorflow_datasets as tfds

    with tfds.core.registered.skip_registration():

        class TinyGlyphs(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")

            def _info(self):
                return tfds.core.DatasetInfo(
                    builder=self,
                    features=tfds.features.FeaturesDict(
                        {
                            "image": tfds.features.Image(shape=(*SHAPE, 3)),
                            "label": tfds.features.ClassLabel(num_classes=2),
                        }
                    ),
                )

            def _split_generators(self, dl_manager):
                return {
                    "train": self._generate_examples(0, 12),
                    "test": self._generate_examples(1, 4),
                }

            def _generate_examples(self, seed, n):
                for i, bar in enumerate(_glyphs(n, seed)):
                    yield i, {"image": np.stack([bar * np.uint8(255)] * 3, -1), "label": i % 2}

    return TinyGlyphs


def _offline(monkeypatch):
    def unreachable(address, timeout=None):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(data.socket, "create_connection", unreachable)


def test_a_tfds_dataset_prepared_elsewhere_reads_offline(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    root = tmp_path / "tfds"
    _tiny_tfds_builder()(data_dir=str(root)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            compute_stats=tfds.download.ComputeStatsMode.SKIP
        )
    )
    _offline(monkeypatch)
    images = datasets.load_images("tfds:tiny_glyphs", tfds_data_dir=str(root))
    assert images.shape == (16, *SHAPE, 1)  # train and test merged
    expected = np.concatenate([_glyphs(12, 0), _glyphs(4, 1)])
    assert sorted(map(_digest, images[..., 0])) == sorted(map(_digest, expected))


def test_rgb_becomes_grayscale_as_pil_makes_it():
    rgb = np.random.default_rng(0).integers(0, 256, (5, *SHAPE, 3), dtype=np.uint8)
    pil = np.stack([np.asarray(Image.fromarray(image).convert("L")) for image in rgb])
    np.testing.assert_array_equal(datasets.grayscale(rgb), pil)


def test_a_tfds_name_not_prepared_offline_is_one_line_saying_how(tmp_path, monkeypatch):
    _offline(monkeypatch)
    start = time.monotonic()
    message = _refused(
        DataError,
        r"^TFDS dataset fashion_mnist is not in the TFDS data dir .* and cannot be downloaded",
        lambda: datasets.load_images("tfds:fashion_mnist", tfds_data_dir=str(tmp_path / "t")),
    )
    assert time.monotonic() - start < 10
    assert "`tfds build fashion_mnist --data_dir=DIR`" in message
    assert message.endswith("then pass --tfds_data_dir=DIR.")
    assert not (tmp_path / "t").exists()  # nothing written
    _refused(
        DataError,
        r"TFDS has no dataset 'no_such_glyphs'",
        lambda: datasets.load_images("tfds:no_such_glyphs", tfds_data_dir=str(tmp_path)),
    )


# ---------------------------------------------------------------- training on it
def _config(tmp_path, dataset, **overrides):
    base = dict(
        dataset=dataset,
        mnist_dir=None,
        out_dir=str(tmp_path / "run"),
        jit_compile=False,
        max_steps=2,
        critic_warmup_steps=1,
        critic_warmup_until=0,
        batch_size=8,
    )
    return helpers.tiny_config(tmp_path, **{**base, **overrides})


@pytest.mark.parametrize(
    "case,match",
    [
        ("empty", r"holds no PNG, JPEG or BMP images"),
        ("mixed", r"differ in size"),
        ("corrupt", r"001.png is not a readable image"),
        ("non_binary", r"not only 0 and 1: binarize them"),
        ("few", r"the data set has 3 images, fewer than one batch of 8; lower --batch_size"),
        ("cnn", r"the paper's CNN is built for 28x28 images .* these are 16x20: use --arch=mlp"),
        ("tfds", r"TFDS dataset fashion_mnist is not in the TFDS data dir"),
    ],
)
def test_bad_data_leaves_no_run_directory(tmp_path, monkeypatch, case, match):
    from binarygan_tf.training import train_lib

    folder = tmp_path / "data"
    folder.mkdir()
    overrides = {"dataset": f"folder:{folder}"}
    if case == "mixed":
        _write_pngs(folder, list(_glyphs(8)) + [_glyphs(1, shape=(20, 16))[0]])
    elif case == "corrupt":
        _write_pngs(folder, _glyphs(9))
        (folder / "001.png").write_bytes(b"garbage")
    elif case == "non_binary":
        _write_pngs(folder, [np.full(SHAPE, 100, np.uint8)] * 9)
    elif case == "few":
        _write_pngs(folder, _glyphs(3))
    elif case == "cnn":
        _write_pngs(folder, _glyphs(9))
        overrides["arch"] = "cnn"
    elif case == "tfds":
        _offline(monkeypatch)
        overrides = dict(dataset="tfds:fashion_mnist", tfds_data_dir=str(tmp_path / "t"))
    run_config = _config(tmp_path, **overrides)
    _refused(UserError, match, lambda: train_lib.run_training(run_config, log=lambda *_: None))
    assert not (tmp_path / "run").exists()


def test_a_resumed_run_keeps_its_data_settings():
    """A run of config.json before --dataset existed is MNIST, pixel > 0."""
    old = {
        k: v
        for k, v in config.TrainConfig(out_dir="r").to_json().items()
        if k not in ("dataset", "binarize")
    }
    resumed, changes = config.reconcile_resume(
        old, {"dataset": "mnist", "binarize": "nonzero", "epochs": 3}
    )
    assert (resumed.dataset, resumed.binarize, changes) == ("mnist", "nonzero", {"epochs": (20, 3)})
    assert config.reconcile_resume(old, {"binarize": None})[0].binarize == "nonzero"
    for given, shown in [
        ({"binarize": "0.5"}, "--binarize=0.5"),
        ({"dataset": "npy:/x.npy"}, "--dataset=npy:/x.npy"),
    ]:
        _refused(
            UserError,
            f"^{shown} conflicts with the run being resumed",
            lambda g=given: config.reconcile_resume(old, g),
        )


@pytest.mark.slow
def test_an_mlp_trains_exports_samples_and_resumes_at_16x20(tmp_path):
    from binarygan_tf.evaluation import sampling
    from binarygan_tf.training import train_lib

    folder = _write_pngs(tmp_path / "glyphs", _glyphs(20))
    result = train_lib.run_training(_config(tmp_path, f"folder:{folder}"), log=lambda *_: None)
    assert result.status == "completed" and result.generator_step == 2
    run = tmp_path / "run"
    stored = json.loads((run / "config.json").read_text())
    assert stored["dataset"] == f"folder:{folder}" and stored["binarize"] is None
    assert stored["image_shape"] == [*SHAPE, 1] and stored["data"]["images"] == 20
    meta = json.loads((run / "generator" / "binarygan.json").read_text())
    assert meta["image_shape"] == [*SHAPE, 1] and meta["dataset"] == f"folder:{folder}"
    samples = sampling.sample(result.generator_path, 9, seed=0)
    assert samples.shape == (9, *SHAPE, 1) and np.isin(samples, [0.0, 1.0]).all()
    assert os.path.isfile(run / "samples" / "step_000000.png")

    # Another dataset, or other images under the same spec, is refused with nothing rewritten.
    before = (run / "config.json").read_text()
    resume = dict(resume=True, max_steps=3)
    _refused(
        UserError,
        "--dataset=mnist conflicts with the run being resumed",
        lambda: train_lib.run_training(_config(tmp_path, "mnist", **resume)),
    )
    _write_pngs(folder, _glyphs(1, seed=9), ["zzz.png"])
    _refused(
        DataError,
        r"the images of --dataset=folder:.* changed since the run .* \(20 of 16x20 then, 21 of "
        r"16x20 now, fingerprint .*\): a resumed run trains on the images it started with",
        lambda: train_lib.run_training(_config(tmp_path, f"folder:{folder}", **resume)),
    )
    assert (run / "config.json").read_text() == before
    os.remove(os.path.join(folder, "zzz.png"))
    resumed = train_lib.run_training(
        _config(tmp_path, f"folder:{folder}", **resume), log=lambda *_: None
    )
    assert resumed.generator_step == 3
    # export again from the checkpoint: the shape comes from config.json
    path = train_lib.export_run(str(run))
    assert json.loads((run / "generator" / "binarygan.json").read_text())["generator_step"] == 3
    assert sampling.sample(path, 4, seed=1).shape == (4, *SHAPE, 1)


@pytest.mark.slow
def test_the_command_line_refuses_bad_data_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for spec, needle in [
        ("folder:empty", "holds no PNG, JPEG or BMP images"),
        ("png:empty", "is not one of mnist, tfds:NAME"),
    ]:
        proc = helpers.run_script(
            "train.py", [f"--dataset={spec}", "--out_dir=run", "--max_steps=1"], tmp_path
        )
        assert proc.returncode == 2, proc.stderr[-2000:]
        errors = proc.stderr.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith("error: ") and needle in errors[0]
        assert not (tmp_path / "run").exists()
