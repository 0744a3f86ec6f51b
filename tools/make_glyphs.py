"""A second binary data set that needs no download: letters rendered from the fonts matplotlib
ships, jittered and binarized (issue #26's worked example).

    python tools/make_glyphs.py --out=glyphs.npz                      # 20,000 letters, 28 x 28
    python tools/make_glyphs.py --out=glyphs.npz --preview=docs/figures/glyphs/real_glyphs.png
    python tools/make_glyphs.py --out=digits.npz --chars=0123456789 --size=32 --num=5000

Each image is one character of `--chars` (A-Z by default) in one of eight font styles (DejaVu
Sans, DejaVu Serif, DejaVu Sans Mono and STIX General, regular and bold: stroke weight by font
weight), drawn by matplotlib (its TextPath, filled by the Agg renderer) at 4x the output
resolution, then moved, turned and scaled at random, reduced to `--size` by averaging and
binarized at a random coverage threshold (a finer stroke-weight jitter). The jitter makes the
data a continuous distribution around each glyph rather than a few hundred point masses.

Writes an .npz with `images` (uint8 N x size x size, 0/1), `labels` (int64, the index of the
character in `--chars`), `styles` (int64, the index of the font style) and `info` (a JSON
string: characters, styles, jitter ranges, seed, matplotlib and FreeType versions). The same
flags give the same bytes on the same matplotlib and FreeType (the archive's time stamps are
fixed); the font files are read from matplotlib's own data folder, never from the system.
`--preview` draws an 8 x 8 grid of the first 64 images, like a training run's sample grids.
"""

import io
import json
import os
import time
import zipfile

import matplotlib
import numpy as np
from absl import flags
from scipy import ndimage

from binarygan_tf import files
from binarygan_tf.commands import cli
from binarygan_tf.errors import UserError


def define_flags():
    """The tool's flags, defined when it runs as a program, not on import: tests import
    several tools into one process, and absl refuses a flag name defined twice."""
    flags.DEFINE_string("out", None, "Write the .npz here.")
    flags.DEFINE_string("preview", None, "Write an 8 x 8 grid of the first 64 images here (PNG).")
    flags.DEFINE_integer("num", 20000, "Number of images.")
    flags.DEFINE_integer("size", 28, "Image height and width in pixels (28: MNIST's).")
    flags.DEFINE_integer("seed", 0, "Seed of the choice of glyphs and of every jitter.")
    flags.DEFINE_string("chars", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "The characters to draw.")


# Font files shipped in matplotlib's mpl-data/fonts/ttf (the same on every installation of a
# matplotlib version): four families, a regular and a bold weight each.
STYLES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
)
# Each glyph's larger side fills 20/28 of the image before jitter, as MNIST's digits were
# size-normalized to a 20 x 20 box in the 28 x 28 image (LeCun et al., the MNIST page).
BOX_FRACTION = 20 / 28
# Glyphs are filled at 4 x 4 points per output pixel, then averaged: the output pixel's ink
# coverage in 1/16 steps before the threshold. The random move, turn and scale are applied at
# half that resolution (2 x 2 per pixel), 4x cheaper, from a 4x rendering averaged down.
RENDER_SUPERSAMPLE = 4
JITTER_SUPERSAMPLE = 2
# The jitter, uniform in each range. Moves of up to 2 pixels at 28 x 28: MNIST centres each
# digit by its centre of mass, not its box, which moves boxes about that much. Turns and
# scales small enough that a glyph stays legible and inside the image: a 20 x 20 box turned
# by 12 degrees spans 20 (cos 12 + sin 12) = 23.7 pixels, plus 2 each way: 27.7 < 28.
SHIFT_FRACTION = 2 / 28  # of the image side, each axis
ROTATION_DEGREES = (-12.0, 12.0)
SCALE = (0.8, 1.0)
# An output pixel is on where the glyph covers more than this share of it: low thresholds
# thicken strokes, high ones thin them (0.5 is the unbiased rounding).
THRESHOLD = (0.3, 0.6)
# Zip entries carry a time stamp; a fixed one (zip's earliest) keeps the bytes reproducible.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def font_path(name):
    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)


def render(chars, size):
    """[styles, chars, h, h] float32 ink coverage in [0, 1], h = size * JITTER_SUPERSAMPLE:
    each glyph centred by its box, its larger side BOX_FRACTION of the image."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    fine = size * RENDER_SUPERSAMPLE
    factor = RENDER_SUPERSAMPLE // JITTER_SUPERSAMPLE
    out = np.zeros((len(STYLES), len(chars), size * JITTER_SUPERSAMPLE, size * JITTER_SUPERSAMPLE))
    for s, style in enumerate(STYLES):
        prop = FontProperties(fname=font_path(style))
        for c, char in enumerate(chars):
            path = TextPath((0, 0), char, size=1.0, prop=prop)
            box = path.get_extents()
            if box.width <= 0 or box.height <= 0:
                raise UserError(f"{char!r} draws nothing in {style}; pick visible --chars.")
            to_pixels = (
                Affine2D()
                .translate(-(box.x0 + box.x1) / 2, -(box.y0 + box.y1) / 2)
                .scale(BOX_FRACTION * fine / max(box.width, box.height))
                .translate(fine / 2, fine / 2)
            )
            renderer = RendererAgg(fine, fine, 72)
            gc = renderer.new_gc()
            gc.set_linewidth(0)  # the glyph's fill only: no outline thickening it
            renderer.draw_path(gc, path, to_pixels, (1.0, 1.0, 1.0, 1.0))
            gc.restore()
            alpha = np.asarray(renderer.buffer_rgba())[..., 3] / 255.0  # coverage, antialiased
            h = fine // factor
            out[s, c] = alpha.reshape(h, factor, h, factor).mean(axis=(1, 3))
    return out.astype(np.float32)


def _jittered(base, angle, scale, shift):
    """`base` turned by `angle` (radians) and scaled by `scale` about its centre, then moved
    by `shift` (rows, columns; pixels of `base`), with no ink coming in from outside."""
    centre = (np.array(base.shape) - 1) / 2.0
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    # affine_transform maps each output pixel o to the input pixel M o + offset: the inverse
    # of o = centre + shift + scale * R (i - centre).
    inverse = rotation.T / scale
    offset = centre - inverse @ (centre + shift)
    return ndimage.affine_transform(base, inverse, offset=offset, order=1, mode="constant")


def make_glyphs(num, size=28, seed=0, chars="ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
    """{"images": uint8 [num, size, size] 0/1, "labels": int64 [num], "styles": int64 [num],
    "info": dict}: `num` jittered, binarized glyphs, the same for the same arguments."""
    if num < 1:
        raise UserError(f"--num must be at least 1, got {num}.")
    if size < 8:  # below that a letter is a few pixels of noise
        raise UserError(f"--size must be at least 8, got {size}.")
    if not chars or len(set(chars)) != len(chars) or any(c.isspace() for c in chars):
        raise UserError(f"--chars must be distinct visible characters, got {chars!r}.")
    bases = render(chars, size)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(chars), num)
    styles = rng.integers(0, len(STYLES), num)
    angles = np.deg2rad(rng.uniform(*ROTATION_DEGREES, num))
    scales = rng.uniform(*SCALE, num)
    fine = size * JITTER_SUPERSAMPLE
    shifts = rng.uniform(-SHIFT_FRACTION, SHIFT_FRACTION, (num, 2)) * fine
    thresholds = rng.uniform(*THRESHOLD, num)
    images = np.empty((num, size, size), np.uint8)
    k = JITTER_SUPERSAMPLE
    for i in range(num):
        moved = _jittered(bases[styles[i], labels[i]], angles[i], scales[i], shifts[i])
        coverage = moved.reshape(size, k, size, k).mean(axis=(1, 3))
        images[i] = coverage > thresholds[i]
    from matplotlib import ft2font

    info = {
        "source": "tools/make_glyphs.py",
        "chars": chars,
        "styles": list(STYLES),
        "num": num,
        "size": size,
        "seed": seed,
        "box_fraction": BOX_FRACTION,
        "shift_fraction": SHIFT_FRACTION,
        "rotation_degrees": list(ROTATION_DEGREES),
        "scale": list(SCALE),
        "threshold": list(THRESHOLD),
        "matplotlib": matplotlib.__version__,
        "freetype": ft2font.__freetype_version__,
    }
    return {"images": images, "labels": labels, "styles": styles, "info": info}


def write_npz(path, glyphs):
    """The arrays as an .npz numpy.load reads (allow_pickle=False is enough: `info` is a
    string), written atomically and with fixed time stamps, so the bytes are reproducible."""
    arrays = {
        "images": glyphs["images"],
        "labels": glyphs["labels"].astype(np.int64),
        "styles": glyphs["styles"].astype(np.int64),
        "info": np.array(json.dumps(glyphs["info"], sort_keys=True)),
    }
    with (
        files.atomic_file(path, "wb") as f,
        zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            archive.writestr(entry, buffer.getvalue())


def write_preview(path, images, title):
    """An 8 x 8 grid of the first 64 images, drawn as training draws its sample grids."""
    from binarygan_tf.training import sample_grids

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sample_grids.save_sample_grid(path, images.astype(np.float32), title)


def main():
    f = flags.FLAGS
    if not f.out and not f.preview:
        raise UserError("nothing to write: pass --out=FILE.npz and/or --preview=FILE.png.")
    started = time.time()
    glyphs = make_glyphs(f.num, f.size, f.seed, f.chars)
    images = glyphs["images"]
    if f.out:
        write_npz(f.out, glyphs)
    if f.preview:
        write_preview(f.preview, images, f"glyphs ({len(f.chars)} characters, seed {f.seed})")
    print(
        f"{len(images)} glyphs of {f.size} x {f.size} ({len(f.chars)} characters x "
        f"{len(STYLES)} font styles), pixel density {images.mean():.3f}, in "
        f"{time.time() - started:.1f} s" + (f" -> {f.out}" if f.out else "")
    )


if __name__ == "__main__":
    define_flags()
    cli.run(main, doc=__doc__)
