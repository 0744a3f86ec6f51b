"""Draw samples from an exported generator, reproducibly: `binarygan sample` / `sample.py`.

`sample(generator_dir, num, seed)` returns [num, H, W, 1] float32 (0/1 for binary neurons;
with `preactivated=True` the sigmoid before binarization), H x W being the image shape the
generator's binarygan.json records (`contract.image_shape`: 28 x 28 for MNIST and for exports
that predate the record). One seed fixes the picture for
every neuron: z is N(0, I) from the root seed's `sample_z` stream (seeds.py), which is also
the fixed z of the grids a run seeded alike writes during training; an SBN's noise comes from
the SavedModel's `sample_seeded` signature keyed by the root seed's `sbn_noise` stream
(export.py), so it is stateless and the same on every call.

`write(path, images, ...)` writes a `.png` grid (near-square: 8x8 for 64 samples; binary
samples white on black, preactivated outputs colour-mapped with a colour bar, as the training
grids; each image drawn at MNIST's scale, 0.5 inch per 28 pixels) or a `.npy` array, chosen by
the extension. `check_request` validates a request
without TensorFlow, so the command line can refuse bad flags before TensorFlow loads.
"""

import math
import os

import numpy as np

from binarygan_tf import files
from binarygan_tf.errors import UserError
from binarygan_tf.model import contract, seeds
from binarygan_tf.model.contract import LATENT_DIM, SEEDED_SIGNATURE

MAX_NUM = 10_000  # one call draws them all (per-batch calls would repeat the SBN noise)
EXTENSIONS = (".png", ".npy")
DETERMINISTIC_NEURONS = ("dbn", "real")


def check_request(num, seed, outs=()):
    """Refuse a bad `num`, `seed` or output path with a one-line UserError (no TensorFlow)."""
    if not 1 <= num <= MAX_NUM:
        raise UserError(f"--num must be between 1 and {MAX_NUM}, got {num}.")
    if seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {seed}.")
    for path in outs:
        _kind(path)


def _kind(path):
    """'.png' or '.npy', from the extension of `path`."""
    kind = os.path.splitext(path)[1].lower()
    if kind not in EXTENSIONS:
        raise UserError(
            f"--out {path}: the extension must be .png (a grid) or .npy "
            f"(the array); repeat --out to write both."
        )
    return kind


def latent(num, seed):
    """z [num, 128] float32 ~ N(0, I) of the root seed's `sample_z` stream."""
    return seeds.rng(seed, "sample_z").standard_normal((num, LATENT_DIM)).astype(np.float32)


def noise_seed(seed):
    """The key `sample_seeded` gets for the root seed: its `sbn_noise` stream."""
    return seeds.derive(seed, "sbn_noise")


def sample(generator_dir, num, seed, preactivated=False):
    """[num, H, W, 1] float32 samples (or preactivated outputs) fixed by `seed`."""
    check_request(num, seed)
    generator, seeded = _load(generator_dir)
    return _draw(generator, seeded, num, seed, preactivated)


def sample_to_files(generator_dir, num, seed, outs, preactivated=False):
    """Draw once, write every path of `outs` (.png and/or .npy); returns the paths."""
    if not outs:
        raise UserError("--out is required: a .png grid and/or a .npy array.")
    check_request(num, seed, outs)
    generator, seeded = _load(generator_dir)
    images = _draw(generator, seeded, num, seed, preactivated)
    what = "preactivated outputs" if preactivated else "samples"
    title = f"{generator.label}: {num} {what}, seed {seed}"
    return [write(path, images, preactivated, title) for path in outs]


def _draw(generator, seeded, num, seed, preactivated):
    """[num, H, W, 1], H x W as the generator's metadata records (checked against what its
    signature returns, so a binarygan.json of another model is caught)."""
    import tensorflow as tf

    shape = image_shape(generator)
    z = tf.constant(latent(num, seed))
    out = (
        generator.signature(z=z)
        if seeded is None
        else seeded(z=z, seed=tf.constant(noise_seed(seed), tf.int64))
    )
    images = np.asarray(out["preactivated" if preactivated else "samples"], np.float32)
    if images.shape[1:] != shape:
        raise UserError(
            f"{generator.path}: its {contract.METADATA_FILE} says its images are "
            f"{list(shape)} but it draws {list(images.shape[1:])}; export it again."
        )
    return images


def image_shape(generator):
    """(H, W, 1) of a loaded generator (evaluation.LoadedGenerator), from its metadata."""
    try:
        return contract.image_shape(generator.metadata)
    except ValueError as e:
        raise UserError(f"{generator.path}/{contract.METADATA_FILE}: {e}.") from None


def _load(generator_dir):
    """(evaluation.LoadedGenerator, its `sample_seeded` signature or None if not needed)."""
    from binarygan_tf.evaluation import pipeline as evaluation

    generator = evaluation.load_generator(generator_dir)  # the contract's checks, one-line errors
    signatures = generator.signatures
    if SEEDED_SIGNATURE in signatures:
        seeded = signatures[SEEDED_SIGNATURE]
        _, inputs = seeded.structured_input_signature
        seed_spec = inputs.get("seed")
        if (
            set(inputs) != {"z", "seed"}
            or seed_spec.shape.rank != 0
            or not seed_spec.dtype.is_integer
        ):
            taken = ", ".join(f"{k} {v.dtype.name} {v.shape}" for k, v in inputs.items())
            raise UserError(
                f"{generator_dir}: {SEEDED_SIGNATURE} must take z [N, "
                f"{LATENT_DIM}] and an integer scalar seed; it takes {taken}."
            )
        return generator, seeded
    if generator.metadata.get("neuron") in DETERMINISTIC_NEURONS:
        return generator, None  # no noise: serving_default is already reproducible
    raise UserError(
        f"{generator_dir} has no {SEEDED_SIGNATURE} signature, so a seed cannot fix "
        f"its samples (an SBN generator exported before seeded sampling existed?). "
        f"Export it again: python -m binarygan_tf export --run_dir RUN_DIR."
    )


def grid_shape(num):
    """(rows, cols) of the most square grid holding `num` images, wider than tall."""
    cols = math.ceil(math.sqrt(num))
    return math.ceil(num / cols), cols


def write(path, images, preactivated=False, title=""):
    """`images` [N, H, W, 1] to `path`: a .npy array or a .png grid; atomic."""
    kind = _kind(path)
    try:
        with files.atomic_file(path, "wb") as f:
            if kind == ".npy":
                np.save(f, np.asarray(images, np.float32))
            else:
                _save_grid(f, images, preactivated, title)
    except OSError as e:
        raise UserError(f"cannot write --out {path}: {e.strerror}.") from None
    return path


def _save_grid(file, images, preactivated, title):
    """The training grids' look (sample_grids / plots), for any number of images. A bare
    `Figure` (no pyplot) needs no backend and leaves no global state behind."""
    from matplotlib.figure import Figure

    from binarygan_tf.evaluation import plots
    from binarygan_tf.training import sample_grids

    rows, cols = grid_shape(len(images))
    _, height, width, _ = np.shape(images)
    # Inches per image: 0.5 for MNIST's 28 pixels, so 8x8 gives the training grids' 4-inch
    # square; other sizes at the same scale.
    cell_height, cell_width = 0.5 * height / 28, 0.5 * width / 28
    fig = Figure(
        figsize=(
            max(2.5, cols * cell_width) + (0.6 if preactivated else 0.0),
            max(2.5, rows * cell_height) + 0.3,
        ),
        dpi=100,
    )
    ax = fig.add_subplot()
    shown = ax.imshow(
        sample_grids.tile(np.asarray(images)[..., 0], (rows, cols)),
        cmap=plots.VIRIDIS if preactivated else plots.GRAY,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    if preactivated:
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03, ticks=[0, 0.25, 0.5, 0.75, 1])
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(file, format="png")
