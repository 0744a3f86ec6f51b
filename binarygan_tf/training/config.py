"""Every training setting in one place: its default, its allowed values, its source, its group.

`TrainConfig` is the single source of truth (the ml_collections idea): `flag_defs` builds the
absl flags of `train.py` from its fields and reads them back (the experiment flagfiles of
`reproduce.py` too, through the same absl parser: `flag_defs.from_flagfile`), `--help` lists the fields grouped as below, and
`--resume` checks a command line against a run's stored `config.json` by each field's
`on_resume` rule. This module imports no TensorFlow, so a bad flag is refused in milliseconds,
before TensorFlow's start-up.

Sources: "paper" = Dong & Yang (2018); "code" = the authors' repository salu133445/binarygan
(`config.py`, `bgan/mnist/models.py`).
"""

import dataclasses
import math

from binarygan_tf.errors import UserError
from binarygan_tf.model.defaults import (
    CRITIC_STEPS,
    CRITIC_WARMUP_EVERY,
    CRITIC_WARMUP_STEPS,
    CRITIC_WARMUP_UNTIL,
    DEFAULT_FOLLOW,
    FOLLOW,
)
from binarygan_tf.training import datasets, run_directory

NEURONS = ("dbn", "sbn", "real")
OBJECTIVES = ("gan", "wgan", "wgan-gp")
ARCHS = ("mlp", "cnn")
PROGRESS_MODES = ("auto", "bar", "line", "off")
PRECISIONS = ("off", "mixed_float16", "mixed_bfloat16")
GROUPS = ("data", "model", "schedule", "output", "speed")

# Measured defaults (docs/performance.md).
# XLA or TensorFlow's own (oneDNN) kernels, per network and objective: whichever trained
# faster in an interleaved A/B on 2 cores (docs/performance.md, "XLA off for the MLP under
# WGAN-GP"). XLA:CPU runs the CNN's convolutions inside the critic tf.while_loop far slower
# than oneDNN. For the MLP, oneDNN's batch-64 products beat XLA:CPU's by 8-47%; under WGAN-GP
# that pays once Adam is one fused kernel (objectives.FusedAdam): +6% (DBN), +1% (SBN).
# Under WGAN (Keras' RMSProp and the clipping constraint: unfused ops outside XLA) and GAN,
# XLA still wins, +71% and +7%, so those keep it.
DEFAULT_JIT_COMPILE = {
    ("mlp", "wgan-gp"): False,
    ("mlp", "wgan"): True,
    ("mlp", "gan"): True,
    ("cnn", "wgan-gp"): False,
    ("cnn", "wgan"): False,
    ("cnn", "gan"): False,
}
# Generator steps per compiled call, per architecture. Interleaved A/B on the MLP DBN under
# WGAN-GP (docs/performance.md): with XLA, 25 per call +17%, 10 +13%, 50 +18%, i.e. 23.2 ms a
# step at 1 per call against 19.9 ms at 25: 3.3 ms a step spent outside the compiled step;
# without XLA (its default since the fused Adam kernel), 25 per call +5%. 25 divides the
# grids' steps 100, 200 and 500 in the first epoch and keeps a Ctrl-C within half a second.
# The CNN's 145 ms step gains 1-2%, inside the spread of its runs, so it keeps one per call.
DEFAULT_STEPS_PER_EXECUTION = {"mlp": 25, "cnn": 1}

# What --resume may take from the command line. Everything else shapes the model, the data
# stream or the schedule, so it comes from the run's config.json and a differing flag is refused.
MAY_CHANGE = "may_change"  # taken from the command line and recorded
FIXED = "fixed"  # must equal the stored value
RUN_CONTROL = "run_control"  # says how to start, not what the run is (--resume, --overwrite)


def setting(default, help, group, *, source=None, on_resume=FIXED, choices=None):
    """A TrainConfig field with what the flags, the help and --resume need to know."""
    if group not in GROUPS:
        raise ValueError(group)
    return dataclasses.field(
        default=default,
        metadata=dict(help=help, group=group, source=source, on_resume=on_resume, choices=choices),
    )


@dataclasses.dataclass
class TrainConfig:
    # -- data
    dataset: str = setting(
        datasets.MNIST,
        "What to train on: mnist (the paper's: train + test merged, 70,000 images), "
        "tfds:NAME (a TFDS image dataset, e.g. tfds:fashion_mnist; offline from "
        "--tfds_data_dir), folder:PATH (PNG, JPEG or BMP images, made grayscale) or npy:FILE / "
        "npz:FILE (an array N x H x W [x 1]). Any H x W for --arch=mlp, 28 x 28 for the "
        "paper's CNN (docs/datasets.md).",
        "data",
    )
    binarize: str | None = setting(
        None,
        "How pixels become 0/1: 'nonzero' (value > 0, the authors' rule and MNIST's default) "
        "or a threshold T in [0, 1) (value > T, uint8 values divided by 255 first). Default: "
        "MNIST's rule for mnist; other data must already be binary (0/1, bools, or 0 and 255).",
        "data",
    )
    mnist_dir: str | None = setting(
        None,
        "Folder with the four MNIST IDX files (.gz or raw). Falls back to env "
        "BINARYGAN_MNIST_DIR, then to TFDS (which needs a download or --tfds_data_dir).",
        "data",
        on_resume=MAY_CHANGE,
    )
    tfds_data_dir: str | None = setting(
        None, "Passed to tfds.load(data_dir=...).", "data", on_resume=MAY_CHANGE
    )
    # -- model
    neuron: str = setting(
        "dbn",
        "Generator output neuron: deterministic binary (paper Sec. 2.2, eq. 6), "
        "stochastic binary (Sec. 2.2, eq. 7), or the real-valued sigmoid baseline (Sec. 4.4).",
        "model",
        choices=NEURONS,
    )
    objective: str = setting(
        "wgan-gp",
        "GAN (non-saturating), WGAN (weight clipping) or WGAN-GP (the paper's default, Sec. 4.2).",
        "model",
        choices=OBJECTIVES,
    )
    arch: str = setting(
        "mlp",
        "Network preset (paper Tables 1-2 MLP, 3-4 CNN; code presets).",
        "model",
        choices=ARCHS,
    )
    follow: str = setting(
        DEFAULT_FOLLOW,
        "Where the paper's text and the authors' code disagree, follow "
        "'code' (what their code ran: inference-mode batch norm, i.e. a learned affine; the "
        "neurons' slope unused; TF1 RMSProp accumulator starting at 1) or 'paper' (real batch "
        "norm, the annealed slope in the neurons, Keras RMSProp). Default 'code', measured to "
        "reproduce the published results better (docs/authors_code.md). Replaces --bn_mode.",
        "model",
        choices=FOLLOW,
    )
    discriminator_batch_norm: bool | None = setting(
        None,
        "Batch norm in D. Default: the objective's, as the paper has it (Sec. 4.5: with "
        "--objective=gan, yes; WGAN and WGAN-GP, no). The authors' committed config.py trains "
        "the GAN objective with D preset `mlp`, without it: --nodiscriminator_batch_norm.",
        "model",
    )
    seed: int = setting(
        0,
        "Root seed: weights, z, data order, SBN noise and interpolation "
        "weights each get an independent stream of it (seeds.py).",
        "model",
    )
    # -- schedule
    epochs: int = setting(
        20, "Training epochs (code: config.py num_epoch=20).", "schedule", on_resume=MAY_CHANGE
    )
    max_steps: int | None = setting(
        None, "Stop after this many generator steps (smoke runs).", "schedule", on_resume=MAY_CHANGE
    )
    batch_size: int = setting(64, "Batch size (code: config.py batch_size=64).", "schedule")
    critic_steps: int = setting(
        CRITIC_STEPS, "Critic updates per generator step (code: 5).", "schedule"
    )
    critic_warmup_steps: int = setting(
        CRITIC_WARMUP_STEPS,
        "Critic updates per generator step during warm-up (code: 100).",
        "schedule",
    )
    critic_warmup_until: int = setting(
        CRITIC_WARMUP_UNTIL,
        "Generator steps that use the warm-up critic count (code: 25).",
        "schedule",
    )
    critic_warmup_every: int = setting(
        CRITIC_WARMUP_EVERY,
        "Every n-th generator step uses the warm-up count again (code: 500).",
        "schedule",
    )
    slope_annealing_rate: float = setting(
        1.1,
        "Multiply the neurons' sigmoid slope by this after each epoch but the last "
        "(paper Sec. 4.2 and code config.py: 1.1; 1.0 turns annealing off).",
        "schedule",
    )
    # -- output
    out_dir: str | None = setting(
        None,
        "Run directory. Default: runs/<arch>_<neuron>_<objective>, plus _paper with "
        "--follow=paper.",
        "output",
        on_resume=RUN_CONTROL,
    )
    resume: bool = setting(
        False,
        "Continue the run in --out_dir from its latest checkpoint; "
        "its settings come from its config.json.",
        "output",
        on_resume=RUN_CONTROL,
    )
    overwrite: bool = setting(
        False, "Delete an existing --out_dir and start afresh.", "output", on_resume=RUN_CONTROL
    )
    sample_every: int = setting(
        500,
        "Write sample grids every n generator steps, plus steps 100 and 200 (code: "
        "counter % 500 == 0 or counter < 300 and counter % 100 == 0).",
        "output",
        on_resume=MAY_CHANGE,
    )
    checkpoint_every: int = setting(
        500,
        "Also checkpoint every n generator steps besides each epoch end, so a kill "
        "loses at most that much work (the last few are kept).",
        "output",
        on_resume=MAY_CHANGE,
    )
    tensorboard: bool = setting(
        True, "Write TensorBoard logs to RUN_DIR/logs.", "output", on_resume=MAY_CHANGE
    )
    scalars_every: int = setting(
        100, "Log losses to TensorBoard every n generator steps.", "output", on_resume=MAY_CHANGE
    )
    progress: str = setting(
        "auto",
        "A live bar, one line per epoch (for log files), or "
        "none; auto = bar on a terminal, line otherwise.",
        "output",
        on_resume=MAY_CHANGE,
        choices=PROGRESS_MODES,
    )
    # -- speed
    jit_compile: bool | None = setting(
        None,
        "Compile the training step with XLA. Default: whichever trained faster on 2 CPU "
        "cores (docs/performance.md): on for the MLP under WGAN and GAN, off for the MLP "
        "under WGAN-GP (on before 2026-12-07) and for the CNN. XLA draws other (equally "
        "distributed) random numbers for the same seed.",
        "speed",
        on_resume=MAY_CHANGE,
    )
    steps_per_execution: int | None = setting(
        None,
        "Generator steps per compiled call. Default: 25 for --arch=mlp, 1 for --arch=cnn "
        "(docs/performance.md). The same steps and weights; epochs keep their length. "
        "Callbacks run once per call, so a grid, checkpoint or TensorBoard point lands at "
        "the first call end at or after its step, and Ctrl-C or a NaN stops a run there.",
        "speed",
        on_resume=MAY_CHANGE,
    )
    mixed_precision: str = setting(
        "off",
        "Keras dtype policy; losses, gradient penalty and neuron math stay float32.",
        "speed",
        choices=PRECISIONS,
    )

    def __post_init__(self):
        # As config.json records them, so a resumed run compares like with like: a folder's
        # absolute path, MNIST's default rule spelled out (datasets.canonical_binarize).
        self.binarize = datasets.canonical_binarize(self.binarize, self.dataset)
        self.dataset = datasets.canonical(self.dataset)

    # ------------------------------------------------------------ construction
    @classmethod
    def fields(cls):
        return dataclasses.fields(cls)

    @classmethod
    def from_dict(cls, stored):
        """From a stored config.json (older runs wrote `bn_mode` for `follow`)."""
        stored = dict(stored)
        if "follow" not in stored and "bn_mode" in stored:
            stored["follow"] = stored["bn_mode"]
        names = {f.name for f in cls.fields()}
        return cls(**{k: v for k, v in stored.items() if k in names})

    @classmethod
    def load(cls, run_dir):
        stored = run_directory.read_stored(run_dir)
        config = cls.from_dict(stored)
        config.out_dir = run_dir
        return config

    # ------------------------------------------------------------ resolved values
    @property
    def run_dir(self):
        return self.out_dir or run_directory.default_run_dir(
            self.arch, self.neuron, self.objective, self.follow
        )

    @property
    def resolved_jit_compile(self):
        if self.jit_compile is None:
            return DEFAULT_JIT_COMPILE[self.arch, self.objective]
        return self.jit_compile

    @property
    def resolved_steps_per_execution(self):
        if self.steps_per_execution is None:
            return DEFAULT_STEPS_PER_EXECUTION[self.arch]
        return self.steps_per_execution

    def validate(self):
        """Raise UserError naming the first bad setting and how to fix it."""
        for f in self.fields():
            choices = f.metadata["choices"]
            if choices and getattr(self, f.name) not in choices:
                raise UserError(
                    f"--{f.name}={getattr(self, f.name)!r} is not one of {', '.join(choices)}."
                )
        positive = [
            "epochs",
            "batch_size",
            "critic_steps",
            "critic_warmup_steps",
            "critic_warmup_every",
            "sample_every",
            "checkpoint_every",
            "scalars_every",
        ]
        for name in positive + ["max_steps", "steps_per_execution"]:
            value = getattr(self, name)
            if (value is not None or name in positive) and (value is None or value < 1):
                raise UserError(f"--{name} must be a positive integer, got {value}.")
        if self.critic_warmup_until < 0:
            raise UserError(f"--critic_warmup_until must be >= 0, got {self.critic_warmup_until}.")
        if not (self.slope_annealing_rate > 0 and math.isfinite(self.slope_annealing_rate)):
            raise UserError(
                f"--slope_annealing_rate must be a positive number (1.0 turns "
                f"annealing off), got {self.slope_annealing_rate}."
            )
        if self.resume and self.overwrite:
            raise UserError("--resume and --overwrite contradict each other; pick one.")
        datasets.check(self.dataset)  # the spec and its path; the data is read by train_lib
        datasets.parse_binarize(self.binarize)

    def to_json(self):
        return dict(
            dataclasses.asdict(self),
            run_dir=self.run_dir,
            jit_compile=self.resolved_jit_compile,
            steps_per_execution=self.resolved_steps_per_execution,
        )


def reconcile_resume(stored, given):
    """The config of a resumed run: its stored settings, plus the `given` ones (name -> value,
    what the command line set explicitly) that may change on resume.

    A given setting that shapes the model, data or schedule and differs from the stored one
    is refused with one line: continuing an SBN run as a DBN, or an MLP checkpoint as a CNN,
    would silently train something else or fail deep inside TensorFlow. Returns
    (config, changes) where `changes` maps the settings that differ from the stored run to
    (old, new).
    """
    base = TrainConfig.from_dict(stored)
    by_name = {f.name: f for f in TrainConfig.fields()}
    # The given values as the stored ones are spelled (TrainConfig.__post_init__).
    given = {name: getattr(dataclasses.replace(base, **given), name) for name in given}
    changes = {}
    for name, value in given.items():
        rule = by_name[name].metadata["on_resume"]
        old = getattr(base, name)
        if rule == FIXED and value != old:
            raise UserError(
                f"--{name}={_flag_value(value)} conflicts with the run being resumed, which "
                f"has --{name}={_flag_value(old)}; a resumed run keeps its settings (drop "
                f"the flag, or start a new run with another --out_dir)."
            )
        if rule == MAY_CHANGE and value != old:
            changes[name] = (old, value)
        setattr(base, name, value)
    base.resume = True
    base.overwrite = False
    return base, changes


def check_against_run_dir(config):
    """What is already in `config.run_dir` against what `config` asks, checked before anything
    is written there (run_directory.check_start: a new run must not land on an old one unless
    --overwrite, a resumed one needs a checkpoint), and a resumed run keeps its stored
    settings. Returns the config to train (for --resume: the stored settings plus what may
    change) and the changes {setting: (old, new)} a resume makes. TensorFlow-free, so it
    fails before TensorFlow's start-up; training_session checks the folder again once held."""
    run_dir = config.run_dir
    run_directory.check_start(run_dir, resume=config.resume, overwrite=config.overwrite)
    if not config.resume:
        return config, {}
    given = {
        f.name: getattr(config, f.name)
        for f in TrainConfig.fields()
        if f.metadata["on_resume"] != RUN_CONTROL
    }
    resumed, changes = reconcile_resume(run_directory.read_stored(run_dir), given)
    resumed.out_dir = run_dir
    return resumed, changes


def resume_rule(name):
    return next(f.metadata["on_resume"] for f in TrainConfig.fields() if f.name == name)


def _flag_value(value):
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    return value
