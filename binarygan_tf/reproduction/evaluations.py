"""Measuring the published runs: each generator's metrics (cached in its metrics.json), and
everything the results page shows gathered into one `Evaluations`.

The job (job.py) decides when to evaluate; this module decides what an evaluation is: its
cache key (generator, sample count, seed, classifier, label, measures version), which
published runs of which budget are measured, the yardstick they are measured with, and which
budget fills the page's tables and figures (`main_budget`). The page reads only what is here.
"""

import dataclasses
import os

from binarygan_tf.errors import UserError
from binarygan_tf.reproduction import experiments, publishing
from binarygan_tf.reproduction.experiments import PROFILES, default_runs_dir, run_config
from binarygan_tf.training import run_directory


@dataclasses.dataclass
class EvaluatedRun:
    spec: experiments.RunSpec
    configuration: experiments.Configuration
    result: dict  # evaluation.evaluate_generator's metrics
    timing: dict  # wall_seconds, sessions, steps
    trained_by: str  # the commit that trained it
    training_time: tuple  # publishing.training_time: (wall time text, s / step text)
    samples: tuple | None = None  # (preactivated, variants) when the page draws its figures
    authors_commit: str | None = None  # their repository's commit, for the authors' code's runs
    losses: list = dataclasses.field(default_factory=list)  # publishing.read_losses


@dataclasses.dataclass
class Evaluations:
    """Everything the page shows: the evaluated runs of each training budget, and the yardstick."""

    main: experiments.Profile  # the budget whose runs fill the tables and figures
    budgets: dict  # profile name -> {run name: EvaluatedRun}, shortest budget first
    specs: tuple  # the runs the page is about
    reference: dict  # the real-data row
    classifier: dict
    data_density: float
    num_test_images: int
    authors: dict = dataclasses.field(default_factory=dict)  # AUTHORS_RUNS evaluated, by name

    @property
    def main_runs(self):
        return self.budgets[self.main.name]


def evaluate_run(spec, published, yardstick, num_samples, seed=0, with_samples=False, log=print):
    """(metrics, samples) of one published generator; the metrics are cached in its
    metrics.json and reused while the key matches, and `samples` (preactivated outputs and
    binarized variants, for figures; cheap to redraw, unlike the metrics) is None unless
    `with_samples`."""
    from binarygan_tf.evaluation import pipeline as evaluation

    generator_path = publishing.generator_dir(published)
    cache = os.path.join(published, publishing.METRICS_FILE)
    key = {
        "generator": publishing.generator_digest(generator_path),
        "generator_step": run_directory.exported_step(published),
        "num_samples": num_samples,
        "seed": seed,
        "classifier": yardstick.classifier.digest,  # the weights, not their training data
        "label": spec.label,
        "measures": evaluation.MEASURES_VERSION,
    }
    stored = publishing.read_json(cache)
    if stored and stored.get("key") == key:
        if not with_samples:
            return stored["result"], None
        generator = evaluation.load_generator(generator_path, spec.label)
        samples, preactivated = evaluation.generate(generator, num_samples, seed)
        variants = evaluation.binarizations(samples, stored["result"]["real_valued"], seed)
        return stored["result"], (preactivated, variants)
    log(f"evaluating {spec.name} ({num_samples} samples)")
    generator = evaluation.load_generator(generator_path, spec.label)
    result, preactivated, variants = evaluation.evaluate_generator(
        generator, yardstick, num_samples, seed
    )
    result["path"] = publishing.GENERATOR_DIR  # relative to metrics.json: the file is committed
    evaluation.write_json(cache, {"key": key, "result": result})
    return result, ((preactivated, variants) if with_samples else None)


def _published_runs(job, profile, specs, num_images):
    """[(spec, config, published folder)] of the `specs` published for `profile`."""
    runs_dir = job.runs_dir if profile.name == job.profile.name else default_runs_dir(profile)
    out = []
    for spec in specs:
        config = run_config(spec, profile, runs_dir, job.mnist_dir, job.tfds_data_dir)
        published = job.published(spec, profile.name)
        if publishing.is_published(
            published, config, run_directory.target_steps(config, num_images)
        ):
            out.append((spec, config, published))
    return out


def _make_yardstick(job, log):
    from binarygan_tf.evaluation import pipeline as evaluation

    return evaluation.make_yardstick(
        job.mnist_dir, job.tfds_data_dir, job.cache_dir, log=log, classifier=job.classifier
    )


def _evaluate(found, yardstick, profile, seed, with_samples, log):
    runs = {}
    for spec, config, published in found:
        result, samples = evaluate_run(
            spec, published, yardstick, profile.num_samples, seed, with_samples, log
        )
        runs[spec.name] = EvaluatedRun(
            spec,
            experiments.configuration(spec, config),
            result,
            publishing.read_timing(published),
            publishing.trained_by(published),
            publishing.training_time(published),
            samples,
            publishing.authors_commit(published),
            publishing.read_losses(published),
        )
    return runs


def evaluate_profile(job, profile, specs, num_images, log=print):
    """Evaluate the published runs among `specs` (metrics.json only); {name: EvaluatedRun}."""
    found = _published_runs(job, profile, specs, num_images)
    if not found:
        log(
            f"no published run of profile {profile.name} to evaluate in "
            f"{job.models_dir(profile.name)}"
        )
        return {}
    return _evaluate(found, _make_yardstick(job, log), profile, job.eval_seed, False, log)


def evaluate_authors(job, num_images, num_samples, with_samples, log=print, yardstick=None):
    """{name: EvaluatedRun} of the published authors'-code runs, measured like ours."""
    found = []
    for spec in experiments.AUTHORS_RUNS:
        published = job.published(spec, experiments.AUTHORS_PROFILE)
        target = run_directory.target_steps(spec, num_images)
        if publishing.is_published(published, spec, target, trained_by=spec.trained_by):
            found.append((spec, spec, published))
    if not found:
        return {}
    yardstick = yardstick or _make_yardstick(job, log)
    profile = dataclasses.replace(job.profile, num_samples=num_samples)
    return _evaluate(found, yardstick, profile, job.eval_seed, with_samples, log)


def main_budget(profile, published_counts, num_runs):
    """The profile whose runs fill the page's tables and figures: `paper` once it has every
    run of the page (the paper's own budget), else the profile the job was run with."""
    if published_counts.get("paper", 0) == num_runs:
        return PROFILES["paper"]
    return profile


def gather_evaluations(job, num_images, log=print):
    """The Evaluations of every budget of the page that has published runs."""
    from binarygan_tf.evaluation import pipeline as evaluation

    available = {}
    for name in experiments.page_budgets(job.profile):
        found = _published_runs(job, PROFILES[name], job.specs, num_images)
        if found:
            available[name] = found
    main = main_budget(
        job.profile, {name: len(found) for name, found in available.items()}, len(job.specs)
    )
    if main.name not in available:
        raise UserError(
            f"no finished run of profile {main.name}: {job.models_dir(main.name)} "
            f"and {job.runs_dir} hold none. Train first (--stage=all or train)."
        )
    yardstick = _make_yardstick(job, log)
    budgets = {
        name: _evaluate(found, yardstick, PROFILES[name], job.eval_seed, name == main.name, log)
        for name, found in available.items()
    }
    authors = (
        evaluate_authors(job, num_images, main.num_samples, True, log, yardstick)
        if job.with_authors
        else {}
    )
    reference = evaluation.reference_row(
        yardstick, main.num_samples, job.eval_seed, job.mnist_dir, job.tfds_data_dir
    )
    return Evaluations(
        main,
        budgets,
        job.specs,
        reference,
        yardstick.classifier.info,
        yardstick.data_density,
        len(yardstick.test_features),
        authors,
    )
