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
              (evaluations.py)
    page      docs/results.md from every training budget that has published runs (quick and
              paper side by side), its tables and figures from `paper` when it has every run
              (page.py)

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
from binarygan_tf.reproduction import (
    evaluations,
    experiments,
    models_readme,
    progress,
    publishing,
    sharding,
)
from binarygan_tf.reproduction.experiments import PROFILES, default_runs_dir, run_config
from binarygan_tf.training import flag_defs, run_directory

STAGES = ("all", "train", "publish", "evaluate", "page")
STAGE_STEPS = {  # beyond publishing the finished runs, which every stage does first
    "all": ("train", "evaluate", "page"),
    "train": ("train",),
    "publish": (),
    "evaluate": ("evaluate",),
    "page": ("evaluate", "page"),
}
MODELS_ROOT = "models"  # published generators: MODELS_ROOT/<profile>/<run>/


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
    classifier: str = "published"  # evaluation.classifier.load's source (--classifier)

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
    classifier="published",
):
    """A Job from the command line's values, defaults filled in; a UserError names a bad one.

    Published generators go to `models_dir` (default `models/`, committed with the code) as
    `<models_dir>/<profile>/<run>/`; the smoke profile's default is inside its runs directory,
    so a pipeline check never writes into the repository's models/. Everything is checked
    here, before TensorFlow loads."""
    if stage not in STAGES:
        raise UserError(f"--stage={stage!r} is not one of {', '.join(STAGES)}.")
    flag_defs.check_classifier_flag(classifier)
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
        classifier=classifier,
    )


@dataclasses.dataclass
class Outcome:
    status: str  # "completed" or "interrupted"
    claim_rows: list | None = None  # claim_table.claim_rows of the page written, if any


def run_job(job, log=print):
    """Publish, then train / evaluate / write the page as `job.stage` says."""
    from binarygan_tf.reproduction import page
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
        evaluations.evaluate_profile(job, job.profile, job.own_specs, num_images, log)
        if job.with_authors:
            evaluations.evaluate_authors(job, num_images, job.profile.num_samples, False, log)
        write_index(job, job.profile)
        if job.shard:
            log(
                f"shard {job.shard} finished. Once every shard has: copy their "
                f"{job.models_dir()}/* into one folder and run reproduce.py "
                f"--profile={job.profile.name} --stage=page --models_dir=<its parent>."
            )
        return Outcome("completed")
    evals = evaluations.gather_evaluations(job, num_images, log)
    for name in evals.budgets:
        write_index(job, PROFILES[name])
    rows = page.write_page(job.results, evals, job.command, job.figures_dir)
    return Outcome("completed", rows)


def write_index(job, profile):
    """models/<profile>/README.md, listing the runs published there (none: no file)."""
    specs = experiments.RUNS
    if job.with_authors and profile.name == experiments.AUTHORS_PROFILE:
        specs += experiments.AUTHORS_RUNS
    models_dir = job.models_dir(profile.name)
    text = models_readme.text(models_dir, profile, specs)
    if text is not None:
        publishing.write_index(models_dir, text)


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
