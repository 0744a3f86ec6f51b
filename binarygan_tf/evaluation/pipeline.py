"""Evaluate exported generators: figures like the paper's, and metrics beside a real-data row.

Generators are loaded through the SavedModel contract only (`export.py`): signature
`serving_default`, input `z` [N, 128], outputs `samples` and `preactivated`. So a generator
exported anywhere, by anyone, can be measured. `binarygan.json` beside it, when present, says
what it is; without it a generator whose samples are not all 0/1 is treated as real-valued.

Every model is compared with the binarized MNIST test digits. The reference row does the same
for real held-out digits (binarized training digits), so each number has a yardstick.

Data other than the paper's (a generator trained with `--dataset`, or `evaluate.py
--dataset`) has no digit classifier: it is measured by `BinaryYardstick` against half of its
own images, with the measures that need none (binary_features.py), and the output names the
classifier's measures it skipped and why (docs/evaluation.md, "Data without a classifier").
"""

import dataclasses
import json
import os
import re

import numpy as np

from binarygan_tf import files, formatting
from binarygan_tf.errors import UserError
from binarygan_tf.evaluation import binary_features, metrics, plots
from binarygan_tf.evaluation import classifier as classifier_lib
from binarygan_tf.model import contract, seeds
from binarygan_tf.model.contract import LATENT_DIM, METADATA_FILE, SERVING_SIGNATURE
from binarygan_tf.training import data, datasets, run_directory

REFERENCE_LABEL = "real data (binarized MNIST train digits)"
HELD_OUT_LABEL = "real data (the other half of the images)"
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

    kind = "classifier"
    skipped = {}  # every measure applies

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


# What MNIST's evaluation has that data without a classifier cannot: {measure: why}.
CLASSIFIER_ONLY = {
    "FD (classifier features)": "needs a network trained on labelled images of this data",
    "classifier score": "needs p(y|x) from a classifier of this data",
    "class shares, KL to uniform": "need class labels predicted by a classifier",
    "precision, recall (classifier features)": "replaced by the pyramid-feature ones",
}


class BinaryYardstick:
    """Data without a classifier: one half of its images is the reference every sample set
    is compared with (binary_features: pyramid-feature precision, recall and FD, with pixel
    density and stray pixels beside the data's), the other half is the real-data row."""

    kind = "binary"
    skipped = CLASSIFIER_ONLY

    def __init__(self, reference, held_out, description):
        self.reference = reference
        self.held_out = held_out
        self.description = description
        self.data_density = metrics.pixel_density(reference)
        self.classifier = None

    @property
    def num_samples(self):
        """How many samples each generator draws: as many as the reference holds (the
        k-NN precision and recall compare sets of one size)."""
        return len(self.reference)

    @property
    def image_shape(self):
        return tuple(self.reference.shape[1:])

    def measure(self, images):
        return binary_features.data_agnostic_measures(self.reference, images)


def dataset_of(generators, dataset=None, binarize=None):
    """(--dataset, --binarize) to measure `generators` against: the flags when given, else
    the data the generators say they were trained on (binarygan.json; MNIST when it does not
    say). Generators trained on different data cannot share one table: a UserError."""
    if dataset is not None:
        return datasets.canonical(dataset), binarize
    trained_on = {
        (g.metadata.get("dataset", datasets.MNIST), g.metadata.get("binarize")) for g in generators
    }
    if len(trained_on) > 1:
        raise UserError(
            "the generators were trained on different data ("
            + "; ".join(f"{d} {b or ''}".strip() for d, b in sorted(trained_on, key=str))
            + "); evaluate them separately, or name one with --dataset."
        )
    return trained_on.pop() if trained_on else (datasets.MNIST, None)


def has_classifier(dataset, binarize):
    """The digit classifier knows the paper's data only: MNIST binarized as pixel > 0."""
    return datasets.canonical(dataset) == datasets.MNIST and binarize in (
        None,
        datasets.NONZERO,
    )


def make_binary_yardstick(
    dataset, binarize, num_samples, seed, mnist_dir=None, tfds_data_dir=None, log=print
):
    """A BinaryYardstick on `dataset`: its images shuffled with `seed`, split in two halves of
    at most `num_samples` each."""
    images = datasets.load_images(dataset, binarize, mnist_dir, tfds_data_dir)
    half = min(num_samples, len(images) // 2)
    if half <= binary_features.K_NEAREST:
        raise UserError(
            f"{dataset} holds {len(images)} images: too few to measure (each half must hold "
            f"more than {binary_features.K_NEAREST})."
        )
    if half < num_samples:
        log(f"{dataset} holds {len(images)} images: measuring {half} samples against {half}")
    order = seeds.rng(seed, "evaluation_split").permutation(len(images))
    pick = images.astype(np.float32)
    return BinaryYardstick(
        pick[order[:half]], pick[order[half : 2 * half]], f"{dataset} ({len(images)} images)"
    )


def reference_row(yardstick, num_samples, seed, mnist_dir=None, tfds_data_dir=None):
    """Real held-out digits measured like a generator: binarized train digits vs test digits
    (for data without a classifier: the half of its images that is not the reference)."""
    if yardstick.kind == "binary":
        return yardstick.measure(yardstick.held_out)
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
# Data without a classifier (BinaryYardstick): the pyramid-feature measures and the pixels'.
BINARY_COLUMNS = (
    ("pyramid_fd", "FD (pyramid)", "{:.3f}"),
    ("pyramid_precision", "precision", "{:.3f}"),
    ("pyramid_recall", "recall", "{:.3f}"),
    ("binary_fraction", "binary", "{:.3f}"),
    ("pixel_density", "density", "{:.3f}"),
    ("stray_pixel_share", "stray", "{:.3f}"),
)
SHAPE_COLUMNS = (
    ("end_mass", "end mass", "{:.3f}"),
    ("notch_ratio", "notch", "{:.2f}"),
    ("narrow_notch_ratio", "notch (narrow)", "{:.2f}"),
)


def columns(results):
    """The measure columns of `results`: the classifier's, or those of data without one."""
    return BINARY_COLUMNS if results.get("measures") == BinaryYardstick.kind else COLUMNS


def table_rows(results):
    """[(label, {header: text})] for the reference row and every model variant."""

    def fmt(fmt_, value):
        return formatting.number(value, fmt_)

    measure_columns = columns(results)
    reference_label = (
        HELD_OUT_LABEL if results.get("measures") == BinaryYardstick.kind else REFERENCE_LABEL
    )
    rows = [
        (reference_label, {h: fmt(f, results["reference"].get(k)) for k, h, f in measure_columns})
    ]
    for h in (h for _, h, _ in SHAPE_COLUMNS):
        rows[0][1][h] = formatting.MISSING
    for model in results["models"]:
        for variant, values in model["variants"].items():
            label = model["label"] + ("" if variant == "binary" else f" [{variant}]")
            cells = {h: fmt(f, values.get(k)) for k, h, f in measure_columns}
            cells.update({h: fmt(f, model["preactivation"].get(k)) for k, h, f in SHAPE_COLUMNS})
            rows.append((label, cells))
    return rows


def markdown_table(results):
    headers = ["model"] + [h for _, h, _ in columns(results) + SHAPE_COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for label, cells in table_rows(results):
        lines.append("| " + " | ".join([label] + [cells[h] for h in headers[1:]]) + " |")
    return "\n".join(lines)


def text_table(results):
    headers = ["model"] + [h for _, h, _ in columns(results) + SHAPE_COLUMNS]
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
    dataset=None,
    binarize=None,
):
    """Evaluate several generators together; writes metrics.json, metrics.md and figures.
    `classifier`: classifier.load's source (default: the published classifier). `dataset`,
    `binarize`: the data to measure against (default: what the generators were trained on);
    only MNIST binarized as pixel > 0 has the digit classifier, other data is measured with
    BinaryYardstick."""
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
    dataset, binarize = dataset_of(generators, dataset, binarize)
    if has_classifier(dataset, binarize):
        yardstick = make_yardstick(
            mnist_dir, tfds_data_dir, cache_dir, log=log, classifier=classifier
        )
    else:
        yardstick = make_binary_yardstick(
            dataset, binarize, num_samples, seed, mnist_dir, tfds_data_dir, log=log
        )
        num_samples = yardstick.num_samples
        _check_image_shapes(generators, yardstick.image_shape, dataset)
    results = {
        "num_samples": num_samples,
        "seed": seed,
        "dataset": dataset,
        "binarize": binarize,
        "measures": yardstick.kind,
        "skipped": dict(yardstick.skipped),
        "classifier": dict(yardstick.classifier.info) if yardstick.classifier else None,
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
        for line in skipped_lines(results):
            f.write(f"\n{line}")
    return results


def skipped_lines(results):
    """One line per MNIST measure that could not be taken, and why (none for MNIST)."""
    if not results.get("skipped"):
        return []
    return [f"Skipped for {results['dataset']} (no classifier of this data):"] + [
        f"- {measure}: {why}" for measure, why in results["skipped"].items()
    ]


def _check_image_shapes(generators, shape, dataset):
    for generator in generators:
        drawn = contract.image_shape(generator.metadata)
        if tuple(drawn[:2]) != tuple(shape[:2]):
            raise UserError(
                f"{generator.label} draws {drawn[0]} x {drawn[1]} images but {dataset} holds "
                f"{shape[0]} x {shape[1]}; evaluate it against the data it was trained on."
            )


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
