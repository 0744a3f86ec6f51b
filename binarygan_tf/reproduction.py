"""The paper's four experiments as one resumable job: which runs, in which profile, and their state.

`reproduce.py` drives this module. The runs are the experiment flagfiles under `flags/` (one
source of truth for each configuration), trained in the order MLP first, CNN last, so that an
interrupted job already has whole experiments to look at. Each run lives in
`RUNS_DIR/<name>/`, a normal `train.py` run directory, so a finished run is reused, a cut-off
run resumes from its last checkpoint, and any run can also be inspected or continued by hand.
"""

import dataclasses
import json
import os
import types
import typing

from binarygan_tf import data
from binarygan_tf.errors import UserError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS_DIR = os.path.join(REPO_ROOT, "flags")
TIMING_FILE = "reproduce_timing.json"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    name: str  # run folder name (and flagfile name, unless `config` is given)
    experiment: str  # "I", "II", "III", "IV" or "extra"
    label: str  # row label in tables and figures
    seed: int = 0
    config: str | None = None  # flagfile name when it differs from `name` (seed repeats)

    @property
    def flagfile(self):
        return os.path.join(FLAGS_DIR, (self.config or self.name) + ".cfg")


# The paper's Sec. 4.3-4.6 (Exp. I-IV), plus the row the issue asks for beyond the paper.
RUNS = (
    RunSpec("exp1_mlp_dbn", "I", "MLP DBN, WGAN-GP"),
    RunSpec("exp1_mlp_sbn", "I", "MLP SBN, WGAN-GP"),
    RunSpec("exp2_mlp_real", "II", "MLP real-valued, WGAN-GP"),
    RunSpec("exp3_mlp_dbn_wgan", "III", "MLP DBN, WGAN"),
    RunSpec("exp3_mlp_sbn_wgan", "III", "MLP SBN, WGAN"),
    RunSpec("exp3_mlp_dbn_gan", "III", "MLP DBN, GAN"),
    RunSpec("exp3_mlp_sbn_gan", "III", "MLP SBN, GAN"),
    RunSpec("extra_mlp_dbn_paperbn", "extra", "MLP DBN, WGAN-GP, paper's batch norm"),
    # Exp. I repeated with two more seeds: its claims compare two configurations, and a
    # difference means something only against the spread between seeds.
    *(RunSpec(f"{c}_seed{s}", "I", f"{label}, seed {s}", seed=s, config=c)
      for c, label in (("exp1_mlp_dbn", "MLP DBN, WGAN-GP"), ("exp1_mlp_sbn", "MLP SBN, WGAN-GP"))
      for s in (1, 2)),
    RunSpec("exp4_cnn_dbn", "IV", "CNN DBN, WGAN-GP"),
    RunSpec("exp4_cnn_sbn", "IV", "CNN SBN, WGAN-GP"),
    RunSpec("exp4_cnn_real", "IV", "CNN real-valued, WGAN-GP"),
)


@dataclasses.dataclass(frozen=True)
class Profile:
    """How long each run trains, and how many samples each evaluation draws."""

    name: str
    epochs: int
    num_samples: int
    max_steps: int | None = None
    overrides: tuple = ()  # extra TrainConfig settings, (name, value) pairs
    note: str = ""


PROFILES = {
    # The paper's schedule: 20 epochs of 70,000 images (code: config.py num_epoch=20).
    "paper": Profile("paper", epochs=20, num_samples=10000,
                     note="the paper's 20 epochs (about 21,860 generator steps per run)"),
    # Same schedule (critic warm-up, slope annealing per epoch), fewer epochs: sized so the
    # eleven runs finish on a 2-core CPU in about an hour (docs/results.md has the measured time).
    "quick": Profile("quick", epochs=3, num_samples=10000,
                     note="3 epochs (3,279 generator steps per run), same schedule"),
    # A pipeline check in seconds (the test uses it on tiny data); the numbers mean nothing.
    "smoke": Profile("smoke", epochs=1, num_samples=256, max_steps=2,
                     overrides=(("critic_warmup_until", 0), ("sample_every", 1)),
                     note="2 generator steps per run: checks the pipeline, not the paper"),
}


def read_flagfile(path):
    """The `--name=value` lines of an absl flagfile as typed TrainConfig settings."""
    from binarygan_tf.train_lib import TrainConfig

    types_by_name = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    settings = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, value = line.lstrip("-").partition("=")
            if name not in types_by_name:
                raise UserError(f"{path}: unknown flag --{name}.")
            settings[name] = _typed(value, types_by_name[name])
    return settings


def _typed(value, annotation):
    if isinstance(annotation, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if annotation is bool:
        return value.lower() in ("1", "true", "yes")
    return annotation(value)


def run_config(spec, profile, runs_dir, mnist_dir=None, tfds_data_dir=None):
    """The TrainConfig of one run in one profile (resume/overwrite decided by `run_state`)."""
    from binarygan_tf.train_lib import TrainConfig

    settings = read_flagfile(spec.flagfile)
    settings.update(seed=spec.seed, epochs=profile.epochs, max_steps=profile.max_steps,
                    progress="line",
                    out_dir=os.path.join(runs_dir, spec.name), mnist_dir=mnist_dir,
                    tfds_data_dir=tfds_data_dir)
    settings.update(dict(profile.overrides))
    return TrainConfig(**settings)


def target_steps(config, num_images):
    total = data.steps_per_epoch(num_images, config.batch_size) * config.epochs
    return min(total, config.max_steps) if config.max_steps else total


def exported_step(run_dir):
    """Generator step of the exported generator in `run_dir`, or None if there is none."""
    path = os.path.join(run_dir, "generator", "binarygan.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f).get("generator_step")


def run_state(config, num_images):
    """"done", "resume" or "new" for the run directory of `config`."""
    import tensorflow as tf

    target = target_steps(config, num_images)
    step = exported_step(config.run_dir)
    if step is not None and step >= target:
        if step > target:
            raise UserError(f"{config.run_dir} was trained for {step} generator steps, more "
                            f"than this profile's {target}; use another --runs_dir.")
        return "done"
    if tf.train.latest_checkpoint(os.path.join(config.run_dir, "checkpoints")):
        return "resume"
    return "new"


def read_timing(run_dir):
    path = os.path.join(run_dir, TIMING_FILE)
    if not os.path.isfile(path):
        return {"wall_seconds": 0.0, "sessions": 0}
    with open(path) as f:
        return json.load(f)


def add_timing(run_dir, seconds):
    timing = read_timing(run_dir)
    timing["wall_seconds"] += seconds
    timing["sessions"] += 1
    tmp = os.path.join(run_dir, TIMING_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(timing, f)
    os.replace(tmp, os.path.join(run_dir, TIMING_FILE))


# Prior seconds per generator step on a 2-core CPU, used for the ETA until this job has timed a
# run of the same architecture itself. Measured: the quick-profile runs took 0.032-0.062 s
# (MLP) and 0.24-0.34 s (CNN) per step, warm-up included (docs/results.md, wall time table).
PRIOR_SECONDS_PER_STEP = {"mlp": 0.05, "cnn": 0.25}


class EtaClock:
    """ETA of the remaining runs from the seconds per step measured so far, per architecture."""

    def __init__(self):
        self.measured = {}

    def record(self, arch, steps, seconds):
        if steps > 0:
            total_steps, total_seconds = self.measured.get(arch, (0, 0.0))
            self.measured[arch] = (total_steps + steps, total_seconds + seconds)

    def seconds_per_step(self, arch):
        if arch in self.measured:
            steps, seconds = self.measured[arch]
            return seconds / steps
        return PRIOR_SECONDS_PER_STEP[arch]

    def eta(self, pending):
        """`pending`: [(arch, steps_left)]."""
        return sum(self.seconds_per_step(arch) * steps for arch, steps in pending)


def format_duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def current_step(run_dir):
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def train_all(profile, runs_dir, mnist_dir=None, tfds_data_dir=None, specs=RUNS, log=print):
    """Train every run of `profile` that is not finished. Returns "completed" or "interrupted"."""
    import keras

    from binarygan_tf import train_lib

    num_images = len(data.load_training_images(mnist_dir, tfds_data_dir))
    configs = [run_config(s, profile, runs_dir, mnist_dir, tfds_data_dir) for s in specs]
    clock = EtaClock()
    for index, (spec, config) in enumerate(zip(specs, configs), 1):
        state = run_state(config, num_images)
        head = f"[{index}/{len(specs)}] {spec.name} ({spec.label})"
        if state == "done":
            log(f"{head}: finished earlier, reused")
            continue
        pending = [(c.arch, target_steps(c, num_images) - current_step(c.run_dir))
                   for c in configs[index - 1:] if run_state(c, num_images) != "done"]
        log(f"{head}: {'resuming' if state == 'resume' else 'starting'}; "
            f"ETA for the remaining {len(pending)} run(s): "
            f"{format_duration(clock.eta(pending))}")
        config.resume = state == "resume"
        config.overwrite = state == "new" and os.path.exists(config.run_dir)
        start_step = current_step(config.run_dir) if config.resume else 0
        keras.backend.clear_session()
        result = train_lib.run_training(config, log=log)
        add_timing(config.run_dir, result.wall_seconds)
        clock.record(config.arch, result.generator_step - start_step, result.wall_seconds)
        if result.status != "completed":
            log(f"{head}: interrupted at generator step {result.generator_step}; rerun the "
                f"same command to continue.")
            return "interrupted"
    return "completed"


# ---------------------------------------------------------------- evaluation of the runs
EVAL_DIR = "evaluation"  # inside each run directory: metrics.json and figures of that run


def evaluate_run(spec, run_dir, yardstick, num_samples, seed=0, log=print):
    """Metrics and figures of one finished run, cached in RUN_DIR/evaluation/ and reused while
    the generator, the sample count, the seed and the classifier stay the same."""
    from binarygan_tf import evaluation

    out = os.path.join(run_dir, EVAL_DIR)
    cache = os.path.join(out, "metrics.json")
    key = {"generator_step": exported_step(run_dir), "num_samples": num_samples, "seed": seed,
           "classifier": yardstick.classifier.info["fingerprint"], "label": spec.label}
    generator = evaluation.load_generator(os.path.join(run_dir, "generator"), spec.label)
    if os.path.isfile(cache):
        with open(cache) as f:
            stored = json.load(f)
        if stored.get("key") == key:
            # figures are cheap to redraw, the metrics are not: regenerate samples only
            samples, preactivated = evaluation.generate(generator, num_samples, seed)
            variants = evaluation.binarizations(samples, stored["result"]["real_valued"], seed)
            return stored["result"], preactivated, variants
    log(f"evaluating {spec.name} ({num_samples} samples)")
    result, preactivated, variants = evaluation.evaluate_generator(
        generator, yardstick, num_samples, seed, figure_dir=out)
    evaluation.write_json(cache, {"key": key, "result": result})
    return result, preactivated, variants


def evaluate_all(profile, runs_dir, mnist_dir=None, tfds_data_dir=None, cache_dir=None,
                 specs=RUNS, seed=0, log=print):
    """{run name: (result, preactivated, variants)} plus the reference row and classifier."""
    from binarygan_tf import evaluation

    yardstick = evaluation.make_yardstick(mnist_dir, tfds_data_dir, cache_dir, log=log)
    reference = evaluation.reference_row(yardstick, profile.num_samples, seed, mnist_dir,
                                         tfds_data_dir)
    runs = {}
    for spec in specs:
        run_dir = os.path.join(runs_dir, spec.name)
        runs[spec.name] = evaluate_run(spec, run_dir, yardstick, profile.num_samples, seed,
                                       log=log)
    return {"reference": reference, "classifier": yardstick.classifier.info,
            "data_density": yardstick.data_density,
            "num_test_images": len(yardstick.test_features), "runs": runs}


def timings(runs_dir, specs=RUNS):
    """{run name: {wall_seconds, sessions, steps}} of the runs that have a generator."""
    out = {}
    for spec in specs:
        run_dir = os.path.join(runs_dir, spec.name)
        step = exported_step(run_dir)
        if step is not None:
            out[spec.name] = dict(read_timing(run_dir), steps=step)
    return out
