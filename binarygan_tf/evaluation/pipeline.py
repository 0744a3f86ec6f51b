"""Evaluate exported generators: figures like the paper's, and metrics beside a real-data row.

Generators are loaded through the SavedModel contract only (`export.py`): signature
`serving_default`, input `z` [N, 128], outputs `samples` and `preactivated`. So a generator
exported anywhere, by anyone, can be measured. `binarygan.json` beside it, when present, says
what it is; without it a generator whose samples are not all 0/1 is treated as real-valued.

Every model is compared with the binarized MNIST test digits. The reference row does the same
for real held-out digits (binarized training digits), so each number has a yardstick.
"""

import dataclasses
import json
import os
import re

import numpy as np

from binarygan_tf import files, formatting
from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import classifier as classifier_lib
from binarygan_tf.evaluation import metrics, plots
from binarygan_tf.model import seeds
from binarygan_tf.model.contract import LATENT_DIM, METADATA_FILE, SERVING_SIGNATURE
from binarygan_tf.training import data, run_directory

REFERENCE_LABEL = "real data (binarized MNIST train digits)"
# Which measures a stored result holds: part of a cached result's key (reproduce.py), so
# adding or changing a measure re-measures every published generator instead of mixing
# results with and without it. 2: stray pixels added.
MEASURES_VERSION = 2


@dataclasses.dataclass
class LoadedGenerator:
    path: str
    label: str
    metadata: dict
    signature: object
    signatures: dict = dataclasses.field(default_factory=dict)  # every signature, by name

    def __call__(self, z):
        import tensorflow as tf

        out = self.signature(z=tf.constant(z, tf.float32))
        return np.asarray(out["samples"]), np.asarray(out["preactivated"])


def load_generator(path, label=None):
    """Load and check a generator SavedModel; a UserError says what is wrong with `path`."""
    import tensorflow as tf

    if not os.path.exists(path):
        raise UserError(
            f"generator {path} does not exist. Pass the generator/ folder of a "
            f"finished run (RUN_DIR/generator)."
        )
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        hint = (
            f" It looks like a run directory: pass its {run_directory.GENERATOR_DIR}/ folder."
            if os.path.isfile(os.path.join(path, run_directory.CONFIG_FILE))
            else ""
        )
        raise UserError(f"{path} is not a SavedModel (no saved_model.pb in it).{hint}")
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # corrupt or incompatible files: say so in one line
        raise UserError(
            f"{path} could not be loaded as a SavedModel: "
            f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        ) from None
    signatures = getattr(loaded, "signatures", {})
    if SERVING_SIGNATURE not in signatures:
        raise UserError(
            f"{path} has no serving_default signature (it has: "
            f"{', '.join(signatures) or 'none'}); a BinaryGAN generator exported "
            f"by binarygan_tf/model/export.py has one."
        )
    signature = signatures[SERVING_SIGNATURE]
    _, inputs = signature.structured_input_signature
    spec = inputs.get("z")
    if spec is None or spec.shape.rank != 2 or spec.shape[1] != LATENT_DIM:
        raise UserError(
            f"{path}: serving_default must take z of shape [N, {LATENT_DIM}]; it "
            f"takes {', '.join(f'{k} {v.shape}' for k, v in inputs.items())}."
        )
    outputs = signature.structured_outputs
    missing = {"samples", "preactivated"} - set(outputs)
    if missing:
        raise UserError(
            f"{path}: serving_default lacks the output(s) {', '.join(sorted(missing))}"
            f" (it returns {', '.join(outputs)})."
        )
    metadata = {}
    meta_path = os.path.join(path, METADATA_FILE)
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            metadata = json.load(f)
    return LoadedGenerator(
        os.path.abspath(path),
        label or default_label(path, metadata),
        metadata,
        signature,
        dict(signatures),
    )


def default_label(path, metadata):
    if {"arch", "neuron", "objective"} <= set(metadata):
        label = (
            f"{metadata['arch'].upper()} {metadata['neuron'].upper()}, "
            f"{metadata['objective'].upper()}"
        )
        if metadata.get("trained_by") == "authors_code":
            label += " (authors' code)"
        return label
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return parent or os.path.basename(os.path.abspath(path))


def slug(label):
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def generate(generator, num_samples, seed, batch_size=1000):
    """Samples and preactivated outputs for z ~ N(0, I) drawn with `seed`."""
    z = (
        seeds.rng(seed, "evaluation_z")
        .standard_normal((num_samples, LATENT_DIM))
        .astype(np.float32)
    )
    parts = [generator(z[i : i + batch_size]) for i in range(0, num_samples, batch_size)]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def is_real_valued(generator, samples):
    if "neuron" in generator.metadata:
        return generator.metadata["neuron"] == "real"
    return metrics.binary_fraction(samples) < 1.0


def binarizations(samples, real_valued, seed):
    """{variant: images}: binary models as they are; the real-valued model's raw output and
    its two binarizations (paper Sec. 4.4: thresholding at 0.5, Bernoulli sampling)."""
    if not real_valued:
        return {"binary": samples}
    rng = seeds.rng(seed, "evaluation_binarize")
    return {
        "raw": samples,
        "threshold": (samples > 0.5).astype(np.float32),
        "bernoulli": (rng.random(samples.shape) < samples).astype(np.float32),
    }


class Yardstick:
    """The classifier and the real digits every sample set is measured against."""

    def __init__(self, classifier, test_images):
        self.classifier = classifier
        self.test_features, self.test_probs = classifier.features_and_probs(test_images)
        self.data_density = metrics.pixel_density(test_images)

    def measure(self, images):
        features, probs = self.classifier.features_and_probs(images)
        row = {
            "frechet_distance": metrics.frechet_distance(features, self.test_features),
            "classifier_score": metrics.classifier_score(probs),
        }
        row.update(metrics.class_distribution(probs))
        row.update(metrics.precision_recall(self.test_features, features))
        row.update(
            binary_fraction=metrics.binary_fraction(images),
            pixel_density=metrics.pixel_density(images),
            stray_pixel_share=metrics.stray_pixel_share(images),
        )
        return row


def make_yardstick(mnist_dir=None, tfds_data_dir=None, cache_dir=None, log=print, classifier=None):
    """The classifier `classifier` names (classifier.load: the published one by default) and
    the binarized MNIST test digits every sample set is compared with."""
    clf = classifier_lib.load(
        classifier or classifier_lib.PUBLISHED, mnist_dir, tfds_data_dir, cache_dir, log=log
    )
    if clf.test_accuracy < classifier_lib.REQUIRED_ACCURACY:
        log(
            f"warning: the evaluation classifier reaches only {clf.test_accuracy:.4f} test "
            f"accuracy (< {classifier_lib.REQUIRED_ACCURACY}); feature metrics are less "
            f"trustworthy."
        )
    test_images, _ = data.load_mnist_split("test", mnist_dir, tfds_data_dir)
    return Yardstick(clf, data.binarize(test_images).astype(np.float32))


def reference_row(yardstick, num_samples, seed, mnist_dir=None, tfds_data_dir=None):
    """Real held-out digits measured like a generator: binarized train digits vs test digits."""
    train_images, _ = data.load_mnist_split("train", mnist_dir, tfds_data_dir)
    rng = seeds.rng(seed, "evaluation_reference")
    pick = rng.choice(len(train_images), size=min(num_samples, len(train_images)), replace=False)
    return yardstick.measure(data.binarize(train_images[pick]).astype(np.float32))


def evaluate_generator(generator, yardstick, num_samples, seed, figure_dir=None):
    """Metrics (and, with `figure_dir`, figures) of one generator."""
    samples, preactivated = generate(generator, num_samples, seed)
    real_valued = is_real_valued(generator, samples)
    variants = binarizations(samples, real_valued, seed)
    result = {
        "label": generator.label,
        "path": generator.path,
        "metadata": generator.metadata,
        "real_valued": real_valued,
        "preactivation": metrics.preactivation_shape(preactivated),
        "variants": {name: yardstick.measure(images) for name, images in variants.items()},
    }
    if figure_dir:
        os.makedirs(figure_dir, exist_ok=True)
        name = slug(generator.label)
        figures = {
            "grids": plots.sample_and_preactivation_grids(
                os.path.join(figure_dir, f"{name}_samples.png"),
                variants["threshold" if real_valued else "binary"],
                preactivated,
                generator.label + (" (thresholded)" if real_valued else ""),
            )
        }
        if real_valued:
            figures["real_valued"] = plots.real_valued_variants(
                os.path.join(figure_dir, f"{name}_binarizations.png"),
                variants["raw"],
                variants["threshold"],
                variants["bernoulli"],
                generator.label,
            )
        result["figures"] = figures
    return result, preactivated, variants


# ---------------------------------------------------------------- the table
COLUMNS = (  # (key, header, format)
    ("frechet_distance", "FD", "{:.2f}"),
    ("classifier_score", "score", "{:.2f}"),
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
    ("min_class_share", "min class", "{:.3f}"),
    ("max_class_share", "max class", "{:.3f}"),
    ("kl_to_uniform", "KL(unif)", "{:.3f}"),
    ("binary_fraction", "binary", "{:.3f}"),
    ("pixel_density", "density", "{:.3f}"),
    ("stray_pixel_share", "stray", "{:.3f}"),
)
SHAPE_COLUMNS = (
    ("end_mass", "end mass", "{:.3f}"),
    ("notch_ratio", "notch", "{:.2f}"),
    ("narrow_notch_ratio", "notch (narrow)", "{:.2f}"),
)


def table_rows(results):
    """[(label, {header: text})] for the reference row and every model variant."""

    def fmt(fmt_, value):
        return formatting.number(value, fmt_)

    rows = [(REFERENCE_LABEL, {h: fmt(f, results["reference"].get(k)) for k, h, f in COLUMNS})]
    for h in (h for _, h, _ in SHAPE_COLUMNS):
        rows[0][1][h] = formatting.MISSING
    for model in results["models"]:
        for variant, values in model["variants"].items():
            label = model["label"] + ("" if variant == "binary" else f" [{variant}]")
            cells = {h: fmt(f, values.get(k)) for k, h, f in COLUMNS}
            cells.update({h: fmt(f, model["preactivation"].get(k)) for k, h, f in SHAPE_COLUMNS})
            rows.append((label, cells))
    return rows


def markdown_table(results):
    headers = ["model"] + [h for _, h, _ in COLUMNS + SHAPE_COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for label, cells in table_rows(results):
        lines.append("| " + " | ".join([label] + [cells[h] for h in headers[1:]]) + " |")
    return "\n".join(lines)


def text_table(results):
    headers = ["model"] + [h for _, h, _ in COLUMNS + SHAPE_COLUMNS]
    rows = [[label] + [cells[h] for h in headers[1:]] for label, cells in table_rows(results)]
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]

    def line(r):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


# ---------------------------------------------------------------- the whole evaluation
def evaluate(
    generator_paths,
    out_dir,
    labels=None,
    num_samples=10000,
    seed=0,
    mnist_dir=None,
    tfds_data_dir=None,
    cache_dir=None,
    log=print,
    classifier=None,
):
    """Evaluate several generators together; writes metrics.json, metrics.md and figures.
    `classifier`: classifier.load's source (default: the published classifier)."""
    if not generator_paths:
        raise UserError("no --generator given; pass one or more RUN_DIR/generator folders.")
    if labels and len(labels) != len(generator_paths):
        raise UserError(
            f"{len(labels)} --label flag(s) for {len(generator_paths)} "
            f"--generator flag(s); give one label per generator or none."
        )
    if num_samples < 64:
        raise UserError(f"--num_samples must be at least 64 (one 8x8 grid), got {num_samples}.")
    labels = labels or [None] * len(generator_paths)
    # Check every generator before any slow work, so a typo in the last path fails at once.
    generators = [
        load_generator(path, label) for path, label in zip(generator_paths, labels, strict=True)
    ]
    _check_writable(out_dir)
    yardstick = make_yardstick(mnist_dir, tfds_data_dir, cache_dir, log=log, classifier=classifier)
    results = {
        "num_samples": num_samples,
        "seed": seed,
        "classifier": {k: v for k, v in yardstick.classifier.info.items()},
        "data_density": yardstick.data_density,
        "reference": reference_row(yardstick, num_samples, seed, mnist_dir, tfds_data_dir),
        "models": [],
    }
    histogram_series, grids = [], []
    for i, generator in enumerate(generators, 1):
        log(f"[{i}/{len(generators)}] evaluating {generator.label} ({num_samples} samples)")
        result, preactivated, variants = evaluate_generator(
            generator, yardstick, num_samples, seed, out_dir
        )
        results["models"].append(result)
        histogram_series.append((generator.label, preactivated))
        grids.append((generator.label, variants.get("binary", variants.get("threshold"))))
    figures = {
        "histogram": plots.preactivation_histograms(
            os.path.join(out_dir, "preactivation_histogram.png"), histogram_series
        )
    }
    if len(grids) > 1:
        figures["samples"] = plots.samples_side_by_side(
            os.path.join(out_dir, "samples_side_by_side.png"), grids, "8x8 samples per model"
        )
    results["figures"] = figures
    write_json(os.path.join(out_dir, "metrics.json"), results)
    with open(os.path.join(out_dir, "metrics.md"), "w") as f:
        f.write(markdown_table(results) + "\n")
    return results


def _check_writable(out_dir):
    try:
        files.probe_writable(out_dir, size=1)
    except OSError as e:
        raise UserError(f"cannot write to --out_dir {out_dir}: {e.strerror}.") from None


def write_json(path, obj):
    """Atomic write; NaN (e.g. a notch ratio with empty neighbours) becomes null."""
    with files.atomic_file(path) as f:
        json.dump(_clean(obj), f, indent=2, allow_nan=False)


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
