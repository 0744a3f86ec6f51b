"""The paper's experiments as one resumable job: train what is missing, publish, evaluate, write
the page.

`reproduce.py` turns its flags into a `Job` (`plan_job`) and runs it (`run_job`). Whatever the
stage, the job first publishes the finished runs of its runs directory that are not yet in
`models/<profile>/` (publishing.py). Then, as far as `--stage` says:

    train     train each run that is neither finished in RUNS_DIR/<name>/ nor published, MLP
              first, CNN last (with --jobs above 1, longest first: below); a cut-off run
              resumes from its checkpoint; each run is published as soon as it finishes
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

With `--jobs=N` (N > 1) the train stage trains N runs at a time, each in a child
`reproduce.py --only=RUN --stage=train --jobs=1` pinned to its own share of the cores
(pinned_runs.py), its output in RUNS_DIR/<run>.log; the job goes on to evaluate and write the
page once they are done. The order differs from one run at a time: there, MLP first, CNN last,
so that an interrupted job already has whole experiments to look at; side by side, longest
expected run first (LPT), so that no slot is left with a long CNN run to finish alone while
the others are idle, which keeps the set's wall time (the ETA it prints: progress.makespan)
short. A child that fails is reported with its log and the others go on; the job then
ends "failed" instead of going on to evaluate. With `--shard`, the shard's own runs are the
queue.
"""

import dataclasses
import functools
import os
import sys
import time

from binarygan_tf import formatting
from binarygan_tf.errors import UserError
from binarygan_tf.reproduction import (
    evaluations,
    experiments,
    models_readme,
    pinned_runs,
    progress,
    publishing,
    sharding,
    wgan_markers,
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
    jobs: int = 1  # runs trained at a time (--jobs): above 1, in pinned child processes

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


# Runs side by side by default (--jobs): on 2 cores two runs pinned to one core each did
# 1.15-1.32x the generator steps per second of one run on both (the eleven configurations),
# and the sweep's wall time derived from those rates fell from 3.92 h to 3.23 h
# (bench/concurrent_runs.py, docs/performance.md). Measured on 2 cores only, so the default
# stays at 2 on larger machines.
DEFAULT_JOBS = 2


def default_jobs(profile_name):
    """--jobs when not given: DEFAULT_JOBS where the cores allow, for a profile whose runs
    are worth a child each (Profile.side_by_side)."""
    if not PROFILES[profile_name].side_by_side:
        return 1
    return max(1, min(DEFAULT_JOBS, len(pinned_runs.usable_cores())))


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
    jobs=None,
):
    """A Job from the command line's values, defaults filled in; a UserError names a bad one.

    Published generators go to `models_dir` (default `models/`, committed with the code) as
    `<models_dir>/<profile>/<run>/`; the smoke profile's default is inside its runs directory,
    so a pipeline check never writes into the repository's models/. Everything is checked
    here, before TensorFlow loads."""
    if stage not in STAGES:
        raise UserError(f"--stage={stage!r} is not one of {', '.join(STAGES)}.")
    flag_defs.check_classifier_flag(classifier)
    if jobs is None:
        jobs = default_jobs(profile)
    # before TensorFlow loads: a positive integer, at most the usable cores (a core per run)
    pinned_runs.check_jobs(jobs, "--jobs")
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
        jobs=jobs,
    )


@dataclasses.dataclass
class Outcome:
    status: str  # "completed", "interrupted" or "failed" (a run's child failed: --jobs)
    claim_rows: list | None = None  # claim_table.claim_rows of the page written, if any


def run_job(job, log=print):
    """Publish, then train / evaluate / write the page as `job.stage` says."""
    from binarygan_tf.reproduction import page
    from binarygan_tf.training import data

    num_images = len(data.load_training_images(job.mnist_dir, job.tfds_data_dir))
    if job.does("train"):
        status = train_missing(job, num_images, log)
        if status != "completed":
            return Outcome(status)
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
    markers = wgan_markers.load_records(
        os.path.join(job.models_dir(experiments.AUTHORS_PROFILE), wgan_markers.MARKERS_FOLDER)
    )
    rows = page.write_page(job.results, evals, job.command, job.figures_dir, markers)
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
    it finishes: in this process one after another (`job.jobs` 1), or in child processes
    `job.jobs` at a time (`train_side_by_side`). Returns "completed", "interrupted" or
    "failed"."""
    if job.jobs > 1:
        return train_side_by_side(job, num_images, log)
    specs = job.own_specs
    configs = _configs(job, specs)
    clock = progress.EtaClock()
    for index, (spec, config) in enumerate(zip(specs, configs, strict=True), 1):
        head = _head(index, specs, spec)
        if _reuse(job, spec, config, head, num_images, log):
            continue
        pending = [
            (c.arch, _steps_left(c, num_images))
            for s, c in zip(specs[index - 1 :], configs[index - 1 :], strict=True)
            if not _finished(job, s, c, num_images)
        ]
        if _train_here(job, spec, config, head, num_images, clock, pending, log) == "interrupted":
            return "interrupted"
    return "completed"


def _head(index, specs, spec):
    return f"[{index}/{len(specs)}] {spec.name} ({spec.label})"


def _finished(job, spec, config, num_images):
    return run_directory.state(config, num_images) == "done" or _is_published(
        job, spec, config, num_images
    )


def _steps_left(config, num_images):
    return run_directory.target_steps(config, num_images) - run_directory.trained_step(
        config.run_dir
    )


def _reuse(job, spec, config, head, num_images, log):
    """Whether the run needs no training: finished in its run directory (then published, if
    it is not yet) or published; says so."""
    if run_directory.state(config, num_images) == "done":
        published = publishing.publish(config.run_dir, job.published(spec))
        log(
            f"{head}: finished earlier, reused"
            + (f"; published to {job.published(spec)}" if published else "")
        )
        return True
    if _is_published(job, spec, config, num_images):
        log(f"{head}: published in {job.published(spec)}, reused")
        return True
    return False


def _locked_message(head, holder):
    # Another machine's or shell's job (an overlapping job array, a second reproduce.py) is
    # training it: leave it to that one and go on with the rest.
    return (
        f"{head}: being trained by another process ({holder}); skipped. Once it has "
        f"finished, rerunning this command publishes it."
    )


def _train_here(job, spec, config, head, num_images, clock, pending, log):
    """Train one run in this process and publish it; "completed", "skipped" (another process
    trains it) or "interrupted". `pending` [(arch, steps left)] is what the ETA covers."""
    import keras

    from binarygan_tf.training import train_lib

    state = run_directory.state(config, num_images)
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
        log(_locked_message(head, e.holder))
        return "skipped"
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


# ---------------------------------------------------------------- runs side by side
def train_side_by_side(job, num_images, log=print):
    """`--jobs=N`, N > 1: each run to train goes to a child `reproduce.py --only=RUN
    --stage=train --jobs=1` (which trains and publishes it as a job of one run does), N at a
    time, each child pinned to its share of the cores (pinned_runs), its output in
    RUNS_DIR/<run>.log; longest expected first. Returns "completed", "interrupted" (the
    children were passed the Ctrl-C and have written their checkpoints) or "failed" (a child
    failed; the others went on)."""

    def log(line, log=log):  # flushed: the lines come hours apart, often into a file
        log(line)
        sys.stdout.flush()

    specs = job.own_specs
    configs = _configs(job, specs)
    todo = []
    for index, (spec, config) in enumerate(zip(specs, configs, strict=True), 1):
        head = _head(index, specs, spec)
        if _reuse(job, spec, config, head, num_images, log):
            continue
        holder = _held_elsewhere(config.run_dir)
        if holder:
            log(_locked_message(head, holder))
            continue
        todo.append(_pending(spec, config, head, num_images))
    if not todo:
        return "completed"
    # Every child of a profile whose page shows the authors' runs publishes them too (its
    # run_job): published here first, each child finds them published and writes nothing.
    publish_authors(job, num_images, log)
    slots = min(job.jobs, len(todo))  # fewer runs than jobs: larger shares
    clock = progress.EtaClock(slots)
    todo = progress.longest_first(todo, lambda p: clock.cost(p.config.arch, p.steps))
    queued = list(todo)
    running = {}  # run name -> (_Pending, start time)
    failed = []

    def eta():
        now = time.time()
        busy = [
            max(clock.cost(p.config.arch, p.steps) - (now - started), 0.0)
            for p, started in running.values()
        ]
        costs = [clock.cost(p.config.arch, p.steps) for p in queued]
        return (
            f"ETA for the remaining {len(running) + len(queued)} run(s), {slots} at a time: "
            f"{formatting.duration(progress.makespan(costs, slots, busy))}"
        )

    log(
        f"training {len(todo)} run(s) {slots} at a time in child processes, longest "
        f"expected first ({', '.join(p.spec.name for p in todo)}), each one's output in "
        f"{os.path.join(job.runs_dir, '<run>.log')}; {eta()}"
    )

    def started(child, share):
        pending = child.data
        queued.remove(pending)
        running[pending.spec.name] = (pending, time.time())
        state = "resuming" if pending.start_step else "starting"
        log(
            f"{pending.head}: {state} on {pinned_runs.cores_text(share)}, log "
            f"{child.log_path}; {eta()}"
        )

    def finished(result):
        pending = result.child.data
        del running[pending.spec.name]
        minutes = f"{result.minutes:.1f} min"
        if result.outcome == pinned_runs.DONE:
            if run_directory.state(pending.config, num_images) == "done":
                _measure(clock, pending)
                publishing.publish(pending.config.run_dir, job.published(pending.spec))
                log(
                    f"{pending.head}: published to {job.published(pending.spec)} ({minutes})"
                    + (f"; {eta()}" if running or queued else "")
                )
            else:  # its child found it held by another process (RunLocked), as it says
                log(
                    f"{pending.head}: not trained by its child ({minutes}; see "
                    f"{result.child.log_path}): another process is training it. Once it has "
                    f"finished, rerunning this command publishes it."
                )
        elif result.outcome == pinned_runs.INTERRUPTED:
            log(f"{pending.head}: stopped after {minutes}; its checkpoint is kept.")
        else:
            failed.append(pending.spec.name)
            log(
                f"{pending.head}: FAILED (exit status {result.returncode}) after {minutes}; "
                f"see {result.child.log_path}. Going on with the others."
            )

    children = [
        pinned_runs.Child(
            p.spec.name,
            _child_command(job, p.spec),
            os.path.join(job.runs_dir, f"{p.spec.name}.log"),
            env={"PYTHONPATH": _python_path()},
            data=p,
        )
        for p in todo
    ]
    outcome = pinned_runs.run_queue(children, slots, on_start=started, on_finish=finished)
    if outcome == pinned_runs.INTERRUPTED:
        return "interrupted"
    if failed:
        log(f"failed: {', '.join(failed)} (their logs are named above); the others went on.")
        return "failed"
    return "completed"


@dataclasses.dataclass(eq=False)
class _Pending:
    """A run a child trains: what it is, its line head, and where it stood before the child."""

    spec: experiments.RunSpec
    config: object
    head: str
    steps: int  # generator steps left
    start_step: int  # of its latest checkpoint (0: a new run)
    timing: dict  # its timing.json


def _pending(spec, config, head, num_images):
    return _Pending(
        spec,
        config,
        head,
        _steps_left(config, num_images),
        run_directory.trained_step(config.run_dir),
        run_directory.read_timing(config.run_dir),
    )


def _measure(clock, pending):
    """Record the seconds per step the child's session took (timing.json's wall seconds and the
    steps it trained), unless that session also counted an earlier cut-off one."""
    before, after = pending.timing, run_directory.read_timing(pending.config.run_dir)
    if after.get("sessions", 0) - before.get("sessions", 0) != 1:
        return
    if after.get("cut_sessions", 0) != before.get("cut_sessions", 0):
        return
    steps = run_directory.exported_step(pending.config.run_dir) - pending.start_step
    clock.record(pending.config.arch, steps, after["wall_seconds"] - before["wall_seconds"])


def _held_elsewhere(run_dir):
    """The holder of the run directory's lock if another process holds it, else None."""
    try:
        with run_directory.hold(run_dir):
            return None
    except run_directory.RunLocked as e:
        return e.holder


def _python_path():
    """PYTHONPATH for a child that imports this very package (a checkout not installed)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)


def _child_command(job, spec):
    """`reproduce.py` for one run of this job: its profile, folders, data and classifier, only
    this run, only training (it publishes what it trains; no evaluation, no page)."""
    command = [
        sys.executable,
        "-m",
        "binarygan_tf",
        "reproduce",
        f"--profile={job.profile.name}",
        f"--only={spec.name}",
        "--stage=train",
        "--jobs=1",
        f"--runs_dir={job.runs_dir}",
        f"--models_dir={job.models_root}",
        f"--authors_runs_dir={job.authors_runs_dir}",
        f"--progress={job.progress_mode}",
        f"--classifier={job.classifier}",
    ]
    for name in ("mnist_dir", "tfds_data_dir", "cache_dir"):
        if getattr(job, name):
            command.append(f"--{name}={getattr(job, name)}")
    return command
