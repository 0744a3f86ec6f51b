"""What a run trains on: the `--dataset` sources and the `--binarize` rule, as binary images.

`--dataset` (docs/datasets.md):
- `mnist` (the default): the paper's data, MNIST train + test merged (data.py), pixel > 0;
- `tfds:NAME`: a TFDS image dataset (`fashion_mnist`, `emnist/letters`, `omniglot`), its
  train and test splits merged like MNIST's (train alone, or every split, when it lacks one),
  read offline from `--tfds_data_dir` (data.read_tfds: it cannot hang on a download);
- `folder:PATH`: every PNG, JPEG or BMP file under PATH (subfolders included, hidden ones
  not), in the order of their sorted paths, converted to 8-bit grayscale by PIL (ITU-R 601-2
  luma; alpha is dropped). PIL (Pillow) comes with matplotlib, a dependency;
- `npy:FILE` / `npz:FILE`: an array N x H x W or N x H x W x 1 of numbers or bools (an .npz
  holding one array, or several with one named `images`).

Binarization is explicit (`--binarize`). With none, the data must already be binary: bools,
or numbers that are all 0 or 1, or all 0 or the type's maximum (255 for uint8, as a 1-bit
image reads in grayscale); MNIST's rule is `nonzero`. `nonzero`: value > 0 (the authors'
rule, paper Sec. 4.1 and their load_mnist_to_sa.py `trX > 0`). A threshold T in [0, 1):
value / scale > T, where scale is 255 for uint8 data (the images of a folder and of most TFDS
datasets), 65535 for uint16, and 1 otherwise (floats, other integers), whose values must then
lie in [0, 1]. "On" is bright: dark strokes on a light page come out as a light page.

Bad data is refused with one DataError line naming the file or the folder: a corrupt image
fails the whole folder (nothing is skipped silently), images of mixed sizes, values that are
not binary with no rule, an empty source. `check`/`parse_binarize` read nothing and need no
TensorFlow (config.validate runs them before TensorFlow loads); `load_images` reads.
"""

import dataclasses
import hashlib
import math
import os
import zipfile

import numpy as np

from binarygan_tf.errors import DataError, UserError
from binarygan_tf.training import data

MNIST = "mnist"
KINDS = ("tfds", "folder", "npy", "npz")  # the prefixes of --dataset=KIND:WHERE
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
NONZERO = "nonzero"
# 8- and 16-bit integers are scaled to [0, 1] by their maximum before a threshold; the other
# types are taken as they are.
SCALE = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}
# PIL's modes of more than 8 bits per pixel, which its "L" conversion would clip.
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_SPEC_HELP = "mnist, tfds:NAME, folder:PATH, npy:FILE or npz:FILE"
_BINARIZE_HELP = (
    "--binarize=nonzero (value > 0, the authors' rule) or --binarize=T (value scaled to "
    "[0, 1] above T, e.g. 0.5; docs/datasets.md)"
)


@dataclasses.dataclass(frozen=True)
class Source:
    kind: str  # "mnist" or one of KINDS
    where: str = ""  # the TFDS name, the folder or the file

    def __str__(self):
        return self.kind if self.kind == MNIST else f"{self.kind}:{self.where}"


# ---------------------------------------------------------------- the flags, unread
def parse(spec):
    """The Source of a --dataset value; a UserError for a bad one. Paths become absolute, so a
    run's config.json says which data it means from any working directory."""
    spec = (spec or "").strip()
    if spec == MNIST:
        return Source(MNIST)
    kind, sep, where = spec.partition(":")
    kind = kind.lower()
    if not sep or kind not in KINDS:
        raise UserError(f"--dataset={spec!r} is not one of {_SPEC_HELP}.")
    if not where:
        raise UserError(f"--dataset={spec!r} names no {'dataset' if kind == 'tfds' else kind}.")
    if kind != "tfds":
        where = os.path.abspath(os.path.expanduser(where))
    return Source(kind, where)


def canonical(spec):
    """The --dataset value as config.json records it (a bad one as given: validate refuses it)."""
    try:
        return str(parse(spec))
    except UserError:
        return spec


def check(spec):
    """parse(spec), and the folder or file it names exists: no data is read."""
    source = parse(spec)
    if source.kind == "folder" and not os.path.isdir(source.where):
        what = "is not a folder" if os.path.exists(source.where) else "does not exist"
        raise UserError(f"--dataset=folder:{source.where}: {source.where} {what}.")
    if source.kind in ("npy", "npz") and not os.path.isfile(source.where):
        what = "is not a file" if os.path.exists(source.where) else "does not exist"
        raise UserError(f"--dataset={source}: {source.where} {what}.")
    return source


def parse_binarize(value):
    """None (no rule: the data must be binary), NONZERO, or a threshold float in [0, 1)."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text == NONZERO:
        return NONZERO
    try:
        threshold = float(text)
    except ValueError:
        threshold = math.nan
    if not 0.0 <= threshold < 1.0:
        raise UserError(
            f"--binarize={value!r} is neither 'nonzero' nor a threshold in [0, 1) such as 0.5."
        )
    return threshold


def canonical_binarize(value, spec):
    """The --binarize value as config.json records it: MNIST's default rule spelled out
    (`nonzero`), a threshold as a float's shortest spelling ("0.50" -> "0.5")."""
    try:
        rule = parse_binarize(value)
    except UserError:
        return value
    if rule is None:
        return NONZERO if canonical(spec) == MNIST else None
    return rule if rule == NONZERO else repr(rule)


# ---------------------------------------------------------------- reading
def load_images(spec=MNIST, binarize=None, mnist_dir=None, tfds_data_dir=None):
    """The images of `spec` (a --dataset value) binarized by `binarize` (a --binarize value):
    uint8 [N, H, W, 1] of 0 and 1. `mnist_dir` and `tfds_data_dir` as the flags. Every
    problem with the data is one DataError (a UserError) line."""
    source = check(spec)
    rule = parse_binarize(binarize)
    if source.kind == MNIST:
        if rule in (None, NONZERO):
            return data.load_training_images(mnist_dir, tfds_data_dir)  # the paper's, as ever
        splits = [data.load_mnist_split(s, mnist_dir, tfds_data_dir)[0] for s in ("train", "test")]
        return binarize_images(np.concatenate(splits)[..., 0], rule, "MNIST")
    if source.kind == "tfds":
        raw, what = _read_tfds(source.where, tfds_data_dir), f"TFDS dataset {source.where}"
    elif source.kind == "folder":
        raw, what = _read_folder(source.where), f"folder {source.where}"
    else:
        raw, what = _read_array(source.kind, source.where), source.where
    return binarize_images(raw, rule, what)


def binarize_images(raw, rule, what):
    """uint8 [N, H, W, 1] of 0 and 1 from `raw` [N, H, W] by `rule` (parse_binarize's), as the
    module doc defines it; `what` names the data in errors."""
    raw = np.asarray(raw)
    if raw.dtype.kind == "f" and np.isnan(raw).any():
        raise DataError(f"{what} holds NaN values.")
    if rule is None:
        if not _is_binary(raw):
            low, high = raw.min(), raw.max()
            raise DataError(
                f"{what} holds values from {low} to {high}, not only 0 and 1: binarize them "
                f"with {_BINARIZE_HELP}."
            )
        on = raw > 0
    elif rule == NONZERO:
        on = raw > 0
    else:
        on = _above(raw, rule, what)
    return on.astype(np.uint8)[..., None]


def _is_binary(raw):
    if raw.dtype == np.bool_:
        return True
    if ((raw == 0) | (raw == 1)).all():
        return True
    top = SCALE.get(raw.dtype)
    return top is not None and bool(((raw == 0) | (raw == top)).all())


def _above(raw, threshold, what):
    """raw / scale > threshold (module doc)."""
    if raw.dtype == np.bool_:  # 0 or 1, and a threshold is below 1
        return raw
    scale = SCALE.get(raw.dtype)
    if scale is not None:  # a lookup table: exact, and no float copy of the data
        table = np.arange(scale + 1, dtype=np.float64) / scale > threshold
        return table[raw]
    low, high = raw.min(), raw.max()
    if low < 0 or high > 1:
        raise DataError(
            f"{what} holds {raw.dtype} values from {low} to {high}; a threshold applies to "
            f"values in [0, 1] (uint8 data is divided by 255, uint16 by 65535): rescale "
            f"them, or use --binarize=nonzero."
        )
    return np.greater(raw, np.float64(threshold))


def as_images(array, what):
    """[N, H, W] of an array N x H x W or N x H x W x 1 of numbers or bools; else a DataError."""
    array = np.asarray(array)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 4 and array.shape[-1] in (3, 4):
        raise DataError(
            f"{what} holds colour images {_shape(array.shape)}; binary images are one "
            f"channel: N x H x W or N x H x W x 1."
        )
    if array.ndim != 3:
        raise DataError(
            f"{what} holds an array {_shape(array.shape)}; expected N x H x W or N x H x W x 1."
        )
    if array.dtype.kind not in "biuf":
        raise DataError(f"{what} holds {array.dtype} values; expected numbers or bools.")
    if min(array.shape) == 0:
        raise DataError(f"{what} holds no images (its shape is {_shape(array.shape)}).")
    return array


def _shape(shape):
    return " x ".join(str(side) for side in shape)


def fingerprint(images):
    """{"images": N, "sha256": ...} of binary images: config.json records it, so a resumed run
    can tell that its data is the data it started with."""
    images = np.ascontiguousarray(images, np.uint8)
    digest = hashlib.sha256(str(images.shape).encode())
    digest.update(images.tobytes())
    return {"images": int(images.shape[0]), "sha256": digest.hexdigest()}


# ---------------------------------------------------------------- the sources
def _read_array(kind, path):
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path} is not a readable .{kind} file ({data.one_line(e)}).") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if kind == "npy":
                raise DataError(f"{path} is an .npz archive: use --dataset=npz:{path}.")
            names = list(loaded.files)
            if len(names) != 1 and "images" not in names:
                raise DataError(
                    f"{path} holds the arrays {', '.join(names) or 'none'}: save the images "
                    f"alone, or under the name 'images'."
                )
            name = names[0] if len(names) == 1 else "images"
            try:
                array = loaded[name]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
                raise DataError(
                    f"{path}: its array {name!r} does not read ({data.one_line(e)})."
                ) from None
    else:
        if kind == "npz":
            raise DataError(f"{path} is an .npy array: use --dataset=npy:{path}.")
        array = loaded
    return as_images(array, path)


def image_files(folder):
    """The image files under `folder` (module doc), sorted by their path inside it."""
    found = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            os.path.join(parent, n)
            for n in names
            if not n.startswith(".") and n.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return sorted(found, key=lambda p: os.path.relpath(p, folder).split(os.sep))


def _read_folder(folder):
    from PIL import Image

    paths = image_files(folder)
    if not paths:
        others = [n for _, _, names in os.walk(folder) for n in names if not n.startswith(".")]
        held = f"only {len(others)} other files, e.g. {others[0]}" if others else "nothing"
        raise DataError(
            f"folder {folder} holds no PNG, JPEG or BMP images ({held}); --dataset=folder:PATH "
            f"reads those."
        )
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                if image.mode in WIDE_MODES:
                    raise DataError(
                        f"{path} has {image.mode} pixels (more than 8 bits); save the images "
                        f"as 8-bit grayscale or colour."
                    )
                pixels = np.asarray(image.convert("L"))
        except DataError:
            raise
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(
                f"{path} is not a readable image ({data.one_line(e)}); remove or replace it "
                f"(a corrupt file stops the whole folder, docs/datasets.md)."
            ) from None
        if images and pixels.shape != images[0].shape:
            (h0, w0), (h, w) = images[0].shape, pixels.shape
            raise DataError(
                f"the images of folder {folder} differ in size: {paths[0]} is {h0}x{w0} "
                f"(HxW), {path} is {h}x{w}; resize them to one size."
            )
        images.append(pixels)
    return np.stack(images)


def _read_tfds(name, tfds_data_dir):
    fix = (
        f"Prepare it on a connected machine (`tfds build {name} --data_dir=DIR`, or "
        f"`tfds.load('{name}', data_dir=DIR)`), then pass --tfds_data_dir=DIR."
    )

    def read(tfds, builder):
        if not builder.is_prepared():
            builder.download_and_prepare()
        key = _image_feature(name, builder.info.features, tfds)
        batch = tfds.as_numpy(builder.as_dataset(split=tfds_split(builder), batch_size=-1))
        return batch[key]

    images = data.read_tfds(name, tfds_data_dir, read, what=f"TFDS dataset {name}", fix=fix)
    return as_images(grayscale(images), f"TFDS dataset {name}")


def tfds_split(builder):
    """Train and test merged, as the authors merge MNIST's; train alone, or every split, when
    the dataset lacks one of them."""
    splits = list(builder.info.splits)
    if "train" in splits and "test" in splits:
        return "train+test"
    if "train" in splits:
        return "train"
    return "+".join(sorted(splits))


def _image_feature(name, features, tfds):
    """The key of the dataset's image: the only Image feature, or the one named 'image'."""
    keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    key = keys[0] if len(keys) == 1 else "image" if "image" in keys else None
    if key is None:
        raise DataError(
            f"TFDS dataset {name} has {len(keys) or 'no'} image features "
            f"({', '.join(keys) or ', '.join(features)}); --dataset=tfds:NAME needs one image."
        )
    if None in features[key].shape[:2]:
        raise DataError(f"TFDS dataset {name}'s images differ in size; they must be one size.")
    return key


def grayscale(images):
    """[N, H, W] of images [N, H, W, C]: one channel as it is (C = 1, or 2 with alpha), RGB
    (C = 3, or 4 with alpha) as PIL's "L" conversion computes it for 8-bit pixels, so a TFDS
    dataset and a folder of the same images agree: (19595 R + 38470 G + 7471 B + 2**15) >> 16
    (ITU-R 601-2 luma in 16-bit fixed point; Pillow src/libImaging/Convert.c, L24)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] in (1, 2):
        return images[..., 0] if images.ndim == 4 else images
    if images.dtype != np.uint8:
        weights = np.array([0.299, 0.587, 0.114])
        return (images[..., :3] @ weights).astype(images.dtype)
    out = np.empty(images.shape[:3], np.uint8)
    for start in range(0, len(images), 1024):  # bounded memory for large datasets
        rgb = images[start : start + 1024, ..., :3].astype(np.uint32)
        luma = rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000
        out[start : start + 1024] = luma >> 16
    return out
