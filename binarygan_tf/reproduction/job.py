"""The paper's experiments as one resumable job: train what is missing, publish, evaluate, write
the page.

`reproduce.py` turns its flags into a `Job` (`plan_job`) and runs it (`run_job`). Whatever the
stage, the job first publishes the finished runs of its runs directory that are not yet in
`models/<profile>/` (publishing.py). Then, as far as `--stage` says:

    train     train each run that is neither finished in RUNS_DIR/<name>/ nor published, MLP
              first, CNN last; a cut-off run resumes from its checkpoint; each run is
              published as soon as it finishes
    evaluate  measure each published generator, cached in its metrics.json while the key
              (generator, sample count, seed, classifier, label) stays the same
    page      docs/results.md from every training budget that has published runs (quick and
              paper side by side), its tables and figures from `paper` when it has every run

`--stage=all` (the default) does all three, `train` and `evaluate` stop after theirs,
`publish` only publishes, and `page` builds the page without training. With
`--shard=INDEX/COUNT` a machine trains, publishes and evaluates only its share of the runs
(sharding.py) and writes no page: the shards' `models/<profile>/` folders are copied together
and one `--stage=page` run (or a plain rerun, which finds every run published) writes it.
"""

import dataclasses
import functools
import os

from binarygan_tf import formatting
from binarygan_tf.errors import UserError
from binarygan_tf.reproduction import experiments, progress, publishing, sharding
from binarygan_tf.reproduction.experiments import PROFILES, run_config
from binarygan_tf.training import run_directory

STAGES = ("all", "train", "publish", "evaluate", "page")
STAGE_STEPS = {  # beyond publishing the finished runs, which every stage does first
    "all": ("train", "evaluate", "page"),
    "train": ("train",),
    "publish": (),
    "evaluate": ("evaluate",),
    "page": ("evaluate", "page"),
}
MODELS_ROOT = "models"  # published generators: MODELS_ROOT/<profile>/<run>/


def default_runs_dir(profile):
    return os.path.join("runs", "repro", profile.name)


@dataclasses.dataclass(frozen=True)
class Job:
    profile: experiments.Profile
    specs: tuple  # the runs of the page (all, or those named by --only)
    runs_dir: str
    models_root: str  # holds one folder per profile
    stage: str = "all"
    shard: sharding.Shard | None = None
    mnist_dir: str | None = None
    tfds_data_dir: str | None = None
    cache_dir: str | None = None
    results: str = "docs/results.md"
    figures_dir: str = "docs/figures/results"
    command: str = ""
    eval_seed: int = 0
    # The authors'-code runs (experiments.AUTHORS_RUNS) are published from `authors_runs_dir`
    # (compare_authors.py's default --out_dir parent) into their budget's models folder and
    # shown beside ours, by a job whose page has their budget (plan_job), not by a shard.
    with_authors: bool = False
    authors_runs_dir: str = "runs"
    progress_mode: str = "line"  # each run's TrainConfig.progress

    @functools.cached_property
    def own_specs(self):
        """The runs this machine trains and evaluates: its shard's share, or all of them."""
        if not self.shard:
            return self.specs
        return sharding.share(
            self.specs,
            self.shard,
            lambda spec: progress.PRIOR_SECONDS_PER_STEP[
                run_config(spec, self.profile, self.runs_dir).arch
            ],
        )

    def models_dir(self, profile_name=None):
        return os.path.join(self.models_root, profile_name or self.profile.name)

    def published(self, spec, profile_name=None):
        return os.path.join(self.models_dir(profile_name), spec.name)

    def does(self, step):
        return step in STAGE_STEPS[self.stage] and not (step == "page" and self.shard)


def plan_job(
    profile="quick",
    only=None,
    runs_dir=None,
    models_dir=None,
    stage="all",
    shard=None,
    mnist_dir=None,
    tfds_data_dir=None,
    cache_dir=None,
    results="docs/results.md",
    figures_dir=None,
    command="",
    authors_runs_dir="runs",
    progress_mode="line",
):
    """A Job from the command line's values, defaults filled in; a UserError names a bad one.

    Published generators go to `models_dir` (default `models/`, committed with the code) as
    `<models_dir>/<profile>/<run>/`; the smoke profile's default is inside its runs directory,
    so a pipeline check never writes into the repository's models/. Everything is checked
    here, before TensorFlow loads."""
    if stage not in STAGES:
        raise UserError(f"--stage={stage!r} is not one of {', '.join(STAGES)}.")
    profile = PROFILES[profile]
    specs = experiments.select_runs(only)
    shard = sharding.parse(shard) if shard is not None else None
    if shard:
        sharding.check(shard, len(specs))
    if shard and stage == "page":
        raise UserError(
            "--stage=page builds the page from every run, so it takes no --shard; "
            "run it once, without --shard, after the shards have published."
        )
    runs_dir = runs_dir or default_runs_dir(profile)
    if models_dir is None:
        models_dir = os.path.join(runs_dir, "models") if profile.name == "smoke" else MODELS_ROOT
    figures_dir = figures_dir or os.path.join(os.path.dirname(results) or ".", "figures", "results")
    return Job(
        profile,
        specs,
        runs_dir,
        models_dir,
        stage,
        shard,
        mnist_dir,
        tfds_data_dir,
        cache_dir,
        results,
        figures_dir,
        command,
        with_authors=experiments.AUTHORS_PROFILE in experiments.page_budgets(profile) and not shard,
        authors_runs_dir=authors_runs_dir,
        progress_mode=progress_mode,
    )


@dataclasses.dataclass
class Outcome:
    status: str  # "completed" or "interrupted"
    claim_rows: list | None = None  # results_page.claim_rows of the page written, if any


def run_job(job, log=print):
    """Publish, then train / evaluate / write the page as `job.stage` says."""
    from binarygan_tf.reproduction import page as results_page
    from binarygan_tf.training import data

    num_images = len(data.load_training_images(job.mnist_dir, job.tfds_data_dir))
    if job.does("train"):
        if train_missing(job, num_images, log) != "completed":
            return Outcome("interrupted")
    else:
        publish_finished(job, num_images, log)
    publish_authors(job, num_images, log)
    write_index(job, job.profile)
    if job.with_authors:
        write_index(job, PROFILES[experiments.AUTHORS_PROFILE])
    if not job.does("evaluate"):
        return Outcome("completed")
    if not job.does("page"):
        evaluate_profile(job, job.profile, job.own_specs, num_images, log)
        if job.with_authors:
            evaluate_authors(job, num_images, job.profile.num_samples, False, log)
        write_index(job, job.profile)
        if job.shard:
            log(
                f"shard {job.shard} finished. Once every shard has: copy their "
                f"{job.models_dir()}/* into one folder and run reproduce.py "
                f"--profile={job.profile.name} --stage=page --models_dir=<its parent>."
            )
        return Outcome("completed")
    evals = gather_evaluations(job, num_images, log)
    for name in evals.budgets:
        write_index(job, PROFILES[name])
    rows = results_page.write_page(job.results, evals, job.command, job.figures_dir)
    return Outcome("completed", rows)


def write_index(job, profile):
    specs = experiments.RUNS
    if job.with_authors and profile.name == experiments.AUTHORS_PROFILE:
        specs += experiments.AUTHORS_RUNS
    publishing.write_index(job.models_dir(profile.name), profile, specs)


# ---------------------------------------------------------------- training and publishing
def _configs(job, specs):
    return [
        run_config(
            s, job.profile, job.runs_dir, job.mnist_dir, job.tfds_data_dir, job.progress_mode
        )
        for s in specs
    ]


def _is_published(job, spec, config, num_images):
    return publishing.is_published(
        job.published(spec), config, run_directory.target_steps(config, num_images)
    )


def publish_finished(job, num_images, log=print):
    """Publish this machine's finished runs that are not yet published (or changed since);
    train nothing."""
    unfinished = []
    for spec, config in zip(job.own_specs, _configs(job, job.own_specs), strict=True):
        if run_directory.state(config, num_images) == "done":
            if publishing.publish(config.run_dir, job.published(spec)):
                log(f"published {spec.name} to {job.published(spec)}")
        elif not _is_published(job, spec, config, num_images):
            unfinished.append(spec.name)
    if unfinished:
        log(f"not finished, so not published: {', '.join(unfinished)}")


def publish_authors(job, num_images, log=print):
    """Publish the finished authors'-code runs (compare_authors.py's default run folders)
    beside ours. They are never trained here: the command that trains one is in the page."""
    if not job.with_authors:
        return
    for spec in experiments.AUTHORS_RUNS:
        run_dir = os.path.join(job.authors_runs_dir, os.path.basename(spec.run_dir))
        step = run_directory.exported_step(run_dir)
        if step is None:
            continue
        if step != run_directory.target_steps(spec, num_images):
            log(f"{run_dir}: trained for {step} generator steps, not the paper's; not published")
            continue
        published = job.published(spec, experiments.AUTHORS_PROFILE)
        if publishing.publish(run_dir, published):
            log(f"published {spec.name} (the authors' code) to {published}")


def train_missing(job, num_images, log=print):
    """Train this machine's runs that are neither finished nor published, publishing each as
    it finishes. Returns "completed" or "interrupted"."""
    import keras

    from binarygan_tf.training import train_lib

    specs = job.own_specs
    configs = _configs(job, specs)

    def finished(spec, config):
        return run_directory.state(config, num_images) == "done" or _is_published(
            job, spec, config, num_images
        )

    clock = progress.EtaClock()
    for index, (spec, config) in enumerate(zip(specs, configs, strict=True), 1):
        head = f"[{index}/{len(specs)}] {spec.name} ({spec.label})"
        state = run_directory.state(config, num_images)
        if state == "done":
            published = publishing.publish(config.run_dir, job.published(spec))
            log(
                f"{head}: finished earlier, reused"
                + (f"; published to {job.published(spec)}" if published else "")
            )
            continue
        if _is_published(job, spec, config, num_images):
            log(f"{head}: published in {job.published(spec)}, reused")
            continue
        pending = [
            (
                c.arch,
                run_directory.target_steps(c, num_images) - run_directory.trained_step(c.run_dir),
            )
            for s, c in zip(specs[index - 1 :], configs[index - 1 :], strict=True)
            if not finished(s, c)
        ]
        log(
            f"{head}: {'resuming' if state == 'resume' else 'starting'}; "
            f"ETA for the remaining {len(pending)} run(s): "
            f"{formatting.duration(clock.eta(pending))}"
        )
        config.resume = state == "resume"
        config.overwrite = state == "new" and os.path.exists(config.run_dir)
        start_step = run_directory.trained_step(config.run_dir) if config.resume else 0
        keras.backend.clear_session()
        try:
            result = train_lib.run_training(config, log=log)  # times its session (run_state)
        except run_directory.RunLocked as e:
            # Another machine's or shell's job (an overlapping job array, a second
            # reproduce.py) is training it: leave it to that one and go on with the rest.
            log(
                f"{head}: being trained by another process ({e.holder}); skipped. Once "
                f"it has finished, rerunning this command publishes it."
            )
            continue
        clock.record(config.arch, result.generator_step - start_step, result.wall_seconds)
        if result.status != "completed":
            log(
                f"{head}: interrupted at generator step {result.generator_step}; rerun the "
                f"same command to continue."
            )
            return "interrupted"
        publishing.publish(config.run_dir, job.published(spec))
        log(f"{head}: published to {job.published(spec)}")
    return "completed"


# ---------------------------------------------------------------- evaluation
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
        "classifier": yardstick.classifier.info["fingerprint"],
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

    return evaluation.make_yardstick(job.mnist_dir, job.tfds_data_dir, job.cache_dir, log=log)


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
