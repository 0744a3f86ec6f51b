"""Do the classifier-free measures (binarygan_tf/evaluation/binary_features.py) say what they
should? Real images against other real images, and against sets spoiled in known ways, each
measured like a generator's samples against held-out data.

    python tools/validate_binary_features.py --mnist_dir=../shared/mnist            # ~7 min
    python tools/validate_binary_features.py --mnist_dir=../shared/mnist --num=2000 --noraw
    python tools/validate_binary_features.py --data=npz:glyphs.npz                  # any N x H x W

The data set A is `--num` images: binarized MNIST digits (`pixel > 0`, train then test
digits, shuffled) or those of an .npz/.npy file (`images`, and `labels` when it has them).
Every row is a set of the same size measured against A: A itself, B (`--num` other images),
B spoiled (pixels flipped, moved, thickened, shuffled), and sets drawn from elsewhere (only
the lower half of the labels; independent pixels with B's pixel means). Expected: A near
perfect, B the floor a perfect generator would score at this size, the spoiled sets graded
by how spoiled they are, and dropping half the classes lowering recall but not precision.

With `--raw` (the default) each row is also measured on raw pixels, the alternative the docs
argue against: precision and recall with Hamming k-NN balls (the squared distance of 0/1
vectors is their Hamming distance) and the Frechet distance of the pixels. Prints a Markdown
table (docs/evaluation.md quotes it) and the time the data-agnostic measures took per row.
"""

import os
import time

import numpy as np
from absl import flags
from scipy import ndimage

from binarygan_tf.commands import cli
from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import binary_features, metrics


def define_flags():
    """The tool's flags, defined when it runs as a program, not on import: tests import
    several tools into one process, and absl refuses a flag name defined twice."""
    flags.DEFINE_string("data", "mnist", "'mnist', or npz:FILE / npy:FILE holding N x H x W 0/1.")
    flags.DEFINE_string("mnist_dir", None, "Folder with the MNIST IDX files (else TFDS).")
    flags.DEFINE_integer("num", 10000, "Images per set (A, B and every spoiled set).")
    flags.DEFINE_integer("seed", 0, "Seed of the split and of every spoiling.")
    flags.DEFINE_bool("raw", True, "Also measure on raw pixels (Hamming k-NN, pixel FD).")


# Pixel flip rates of the graded rows: 2% is about 16 specks on a 28 x 28 image (a digit has
# about 150 'on' pixels), 10% is noise as loud as a thin digit.
FLIP_RATES = (0.02, 0.05, 0.10)


def flip(images, rate, rng):
    """Each pixel inverted with probability `rate` (specks on the background, holes in the
    strokes): the density moves towards 0.5."""
    return images ^ (rng.random(images.shape) < rate).astype(images.dtype)


def move(images, pixels, rng):
    """Each image moved by `pixels` up, down, left or right (one chosen per image), with no
    ink coming in from beyond the border."""
    out = np.zeros_like(images)
    height, width = images.shape[1:]
    p = pixels
    for i, direction in enumerate(rng.integers(0, 4, len(images))):
        if direction == 0:
            out[i, :, p:] = images[i, :, : width - p]
        elif direction == 1:
            out[i, :, : width - p] = images[i, :, p:]
        elif direction == 2:
            out[i, p:] = images[i, : height - p]
        else:
            out[i, : height - p] = images[i, p:]
    return out


def thicken(images):
    """Strokes grown by one pixel each way (3 x 3 dilation): the same shapes, another pen."""
    return ndimage.binary_dilation(images, structure=np.ones((1, 3, 3), bool)).astype(images.dtype)


def shuffle_pixels(images, rng):
    """Each image's pixels permuted (a permutation of its own): every image keeps its exact
    number of 'on' pixels, so the density is B's, but no stroke is left."""
    flat = images.reshape(len(images), -1)
    order = np.argsort(rng.random(flat.shape), axis=1)
    return np.take_along_axis(flat, order, axis=1).reshape(images.shape)


def independent_pixels(images, rng):
    """Each pixel drawn on its own with B's probability for that pixel: the right mean image
    and density, none of the correlations that make strokes."""
    return (rng.random(images.shape) < images.mean(axis=0)).astype(images.dtype)


def load(source, mnist_dir):
    """(images uint8 [N, H, W] 0/1, labels int64 [N] or None, a name for them)."""
    if source == "mnist":
        from binarygan_tf.training import data

        parts = [data.load_mnist_split(split, mnist_dir) for split in ("train", "test")]
        images = data.binarize(np.concatenate([p[0] for p in parts]))[..., 0]
        return images, np.concatenate([p[1] for p in parts]), "binarized MNIST digits"
    kind, _, path = source.partition(":")
    if kind not in ("npz", "npy") or not path:
        raise UserError(f"--data={source}: expected mnist, npz:FILE or npy:FILE.")
    try:
        stored = np.load(path, allow_pickle=False)
        arrays = {"images": stored} if kind == "npy" else {k: stored[k] for k in stored.files}
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    images = np.asarray(arrays.get("images"))
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or not np.isin(images, (0, 1)).all():
        raise UserError(f"{path}: 'images' must be N x H x W of 0/1 values.")
    labels = arrays.get("labels")
    return images.astype(np.uint8), labels, f"images of {os.path.basename(path)}"


def sets(images, labels, num, seed):
    """(A, [(row label, images)]): A, B and the spoiled sets, all of `num` images."""
    order = np.random.default_rng([seed, 0]).permutation(len(images))
    if len(order) < 2 * num:
        raise UserError(f"--num={num} is too large: A and B need {2 * num} of {len(order)}.")
    a, b, rest = order[:num], order[num : 2 * num], order[2 * num :]
    real_a, real_b = images[a], images[b]
    rows = [("the same images (A)", real_a), ("other real images (B)", real_b)]
    rows += [
        (f"B, {rate:.0%} of pixels flipped", flip(real_b, rate, np.random.default_rng([seed, i])))
        for i, rate in enumerate(FLIP_RATES, start=1)
    ]
    rows += [
        ("B, moved 1 pixel", move(real_b, 1, np.random.default_rng([seed, 4]))),
        ("B, moved 2 pixels", move(real_b, 2, np.random.default_rng([seed, 5]))),
        ("B, strokes 1 pixel thicker", thicken(real_b)),
    ]
    if labels is not None:
        classes = np.unique(labels)
        lower = classes[: len(classes) // 2]
        picked = rest[np.isin(labels[rest], lower)][:num]
        if len(picked) < num:
            raise UserError(
                f"--num={num} is too large: {len(picked)} images of the lower half of the "
                f"labels are left beside A and B."
            )
        rows.append((f"labels {lower[0]}-{lower[-1]} only (half the classes)", images[picked]))
    rows += [
        (
            "independent pixels, B's pixel means",
            independent_pixels(real_b, np.random.default_rng([seed, 6])),
        ),
        (
            "B, each image's pixels shuffled",
            shuffle_pixels(real_b, np.random.default_rng([seed, 7])),
        ),
    ]
    return real_a, rows


def measure(real_a, rows, raw):
    """One dict per row: the data-agnostic measures, their wall time, and the raw-pixel ones."""
    out = []
    for label, images in rows:
        started, cpu = time.time(), time.process_time()
        row = binary_features.data_agnostic_measures(real_a, images)
        row.update(
            label=label, seconds=time.time() - started, cpu_seconds=time.process_time() - cpu
        )
        if raw:
            a, s = (x.reshape(len(x), -1).astype(np.float32) for x in (real_a, images))
            pr = metrics.precision_recall(a, s)
            row.update(
                raw_precision=pr["precision"],
                raw_recall=pr["recall"],
                raw_fd=metrics.frechet_distance(a, s),
            )
        out.append(row)
    return out


def table(rows, raw):
    head = "| set (measured against A) | density | stray | precision | recall | pyramid FD |"
    rule = "| --- | --- | --- | --- | --- | --- |"
    if raw:
        head += " raw precision | raw recall | pixel FD |"
        rule += " --- | --- | --- |"
    lines = [head, rule]
    for r in rows:
        line = (
            f"| {r['label']} | {r['pixel_density']:.3f} | {r['stray_pixel_share']:.3f} | "
            f"{r['pyramid_precision']:.3f} | "
            f"{r['pyramid_recall']:.3f} | {r['pyramid_fd']:.3f} |"
        )
        if raw:
            line += f" {r['raw_precision']:.3f} | {r['raw_recall']:.3f} | {r['raw_fd']:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def main():
    f = flags.FLAGS
    if f.num < 4:  # k = 3 neighbours besides the point itself
        raise UserError(f"--num must be at least 4, got {f.num}.")
    started = time.time()
    images, labels, name = load(f.data, f.mnist_dir)
    real_a, rows = sets(images, labels, f.num, f.seed)
    results = measure(real_a, rows, f.raw)
    density = metrics.pixel_density(real_a)
    size = f"{real_a.shape[1]} x {real_a.shape[2]}"
    print(f"A: {f.num} {name} ({size}, density {density:.3f}); seed {f.seed}")
    print(table(results, f.raw))
    wall = [r["seconds"] for r in results]
    cpu = [r["cpu_seconds"] for r in results]
    print(
        f"(data-agnostic measures per row: median {np.median(wall):.1f} s wall, "
        f"{np.median(cpu):.1f} s CPU (all threads), max {max(wall):.1f} s wall; "
        f"load average at the end {os.getloadavg()[0]:.1f}; "
        f"whole run {time.time() - started:.0f} s)"
    )


if __name__ == "__main__":
    define_flags()
    cli.run(main, doc=__doc__)
