"""The command-line flags of every entry point, with their defaults and groups for --help.

Training flags are not written here: they are built from `config.TrainConfig`, where each
setting has its default, allowed values, source and group, so a flag and the library's
default cannot drift apart. Evaluation and reproduction flags, which have no library config
object of their own, are defined below. Every flag gets a help group (`GROUP_OF`), so
`--help` lists them under data, model, schedule, output and speed instead of absl's
key-flags-only listing.

Reading them is here too: `from_command_line` (train.py's config, --experiment and --resume
included) and `from_flagfile` (a paper experiment's config, as reproduce.py reads it), so
`config` stays the settings schema and never imports absl.

Sources cited below: "paper" = Dong & Yang (2018), "code" = the authors' repository
salu133445/binarygan (`config.py`, `bgan/mnist/models.py`).
"""

import os
import types
import typing

from absl import flags

from binarygan_tf import locations
from binarygan_tf.errors import UserError
from binarygan_tf.training import config, run_directory

NEURONS, OBJECTIVES, ARCHS = config.NEURONS, config.OBJECTIVES, config.ARCHS
PROGRESS_MODES = config.PROGRESS_MODES

GROUP_OF = {}  # flag name -> help group


def _define(flag_values, group, kind, name, default, help, **kwargs):
    GROUP_OF[name] = group
    getattr(flags, f"DEFINE_{kind}")(name, default, help=help, flag_values=flag_values, **kwargs)


def _define_setting(flag_values, field):
    meta = field.metadata
    kind, _ = flag_type(field)
    if meta["choices"]:
        _define(
            flag_values,
            meta["group"],
            "enum",
            field.name,
            field.default,
            meta["help"],
            enum_values=list(meta["choices"]),
        )
    else:
        name = {bool: "boolean", int: "integer", float: "float", str: "string"}[kind]
        _define(flag_values, meta["group"], name, field.name, field.default, meta["help"])


def define_data_flags(flag_values=flags.FLAGS):
    by_name = {f.name: f for f in config.TrainConfig.fields()}
    for name in ("mnist_dir", "tfds_data_dir"):
        _define_setting(flag_values, by_name[name])


def define_dataset_flags(flag_values=flags.FLAGS):
    """--dataset and --binarize as train.py has them (datasets.py), for another command that
    reads a run's kind of data; define_data_flags gives MNIST's folders."""
    by_name = {f.name: f for f in config.TrainConfig.fields()}
    for name in ("dataset", "binarize"):
        _define_setting(flag_values, by_name[name])


def define_train_flags(flag_values=flags.FLAGS):
    """Flags of train.py: one per TrainConfig setting, plus the deprecated --bn_mode."""
    for field in config.TrainConfig.fields():
        _define_setting(flag_values, field)
    _define(
        flag_values,
        "model",
        "enum",
        "bn_mode",
        None,
        "Deprecated alias of --follow (it switched more than batch norm).",
        enum_values=list(config.FOLLOW),
    )


def define_experiment_flag(flag_values=flags.FLAGS):
    _define(
        flag_values,
        "model",
        "string",
        "experiment",
        None,
        "A paper experiment by name (its flagfile, shipped with the package; flags given "
        f"beside it win): {', '.join(experiment_names())}.",
    )


def define_export_flags(flag_values=flags.FLAGS):
    _define(
        flag_values,
        "output",
        "string",
        "run_dir",
        None,
        "The run directory whose generator to export (required).",
    )
    _define(
        flag_values,
        "output",
        "string",
        "checkpoint",
        None,
        "A checkpoint prefix such as RUN_DIR/checkpoints/ckpt-2186 (default: the latest).",
    )


def define_sample_flags(flag_values=flags.FLAGS):
    _define(
        flag_values,
        "model",
        "string",
        "generator",
        None,
        "The generator SavedModel folder (RUN_DIR/generator).",
    )
    _define(
        flag_values,
        "schedule",
        "integer",
        "num",
        64,
        "How many samples (a near-square grid; 64 gives 8x8).",
    )
    _define(
        flag_values,
        "model",
        "integer",
        "seed",
        0,
        "Root seed of z and of the SBN noise: the same seed, the same samples. A run's "
        "--seed gives its training grids' z.",
    )
    _define(
        flag_values,
        "output",
        "multi_string",
        "out",
        None,
        "Required. Where to write: a .png grid or a .npy array ([num, H, W, 1] float32, "
        "28 x 28 for MNIST); repeat for both.",
    )
    _define(
        flag_values,
        "output",
        "boolean",
        "preactivated",
        False,
        "Write the preactivated outputs (the sigmoid before binarization, colour-mapped in "
        "a .png) instead of the samples.",
    )


def _define_classifier_flags(flag_values):
    """Which network measures the samples: the one published with the models by default, so
    every machine measures with the same yardstick (docs/evaluation.md)."""
    _define(
        flag_values,
        "model",
        "string",
        "classifier",
        "published",
        "The evaluation classifier: 'published' (models/classifier/, the one behind every "
        "published number), 'train' (train one on this machine and cache it; its numbers "
        "are not comparable with the published ones), or a folder holding "
        "mnist_classifier.weights.h5 and mnist_classifier.json.",
    )
    _define(
        flag_values,
        "output",
        "string",
        "cache_dir",
        None,
        "Where a --classifier=train classifier is cached (default: env BINARYGAN_CACHE_DIR, "
        "else ~/.cache/binarygan_tf).",
    )


CLASSIFIER_SOURCES = ("published", "train")  # or a folder: evaluation.classifier.load


def check_classifier_flag(value):
    """A UserError now, before TensorFlow loads, for a --classifier that names nothing."""
    if value not in CLASSIFIER_SOURCES and not os.path.isdir(value):
        raise UserError(
            f"--classifier={value!r} is not 'published', 'train' or an existing folder."
        )


def define_evaluate_flags(flag_values=flags.FLAGS):
    """Flags of evaluate.py."""
    define_data_flags(flag_values)
    _define(
        flag_values,
        "model",
        "multi_string",
        "generator",
        None,
        "A generator SavedModel folder (RUN_DIR/generator). Repeat to compare several "
        "models in one go.",
    )
    _define(
        flag_values,
        "model",
        "multi_string",
        "label",
        None,
        "Display name for each --generator, in the same order (default: derived from the path).",
    )
    _define(
        flag_values,
        "output",
        "string",
        "out_dir",
        None,
        "Where figures, metrics.json and metrics.md go (required).",
    )
    _define(
        flag_values,
        "schedule",
        "integer",
        "num_samples",
        10000,
        "Samples drawn from each generator.",
    )
    _define(
        flag_values,
        "model",
        "integer",
        "seed",
        0,
        "Root seed of evaluation's draws (z, Bernoulli binarization, reference digits).",
    )
    _define_classifier_flags(flag_values)


def define_reproduce_flags(flag_values=flags.FLAGS):
    """Flags of reproduce.py."""
    define_data_flags(flag_values)
    _define(
        flag_values,
        "schedule",
        "enum",
        "profile",
        "quick",
        "quick: 3 epochs per run; paper: the paper's 20 epochs; smoke: 2 steps per run, a "
        "pipeline check (docs/results.md states what each took).",
        enum_values=["quick", "paper", "smoke"],
    )
    _define(
        flag_values,
        "schedule",
        "list",
        "only",
        None,
        "Run only these runs (names of RUNS in binarygan_tf/reproduction/experiments.py, e.g. "
        "exp1_mlp_dbn,exp1_mlp_sbn); default all of them.",
    )
    _define(
        flag_values,
        "schedule",
        "enum",
        "stage",
        "all",
        "How far to go. Every stage first publishes the finished runs of --runs_dir. "
        "train: also train the missing runs (publishing each); evaluate: also evaluate "
        "the published runs (their metrics.json); page: evaluate and write the page, "
        "training nothing; publish: nothing more; all: train, evaluate, write the page.",
        enum_values=["all", "train", "publish", "evaluate", "page"],
    )
    _define(
        flag_values,
        "schedule",
        "string",
        "shard",
        None,
        "INDEX/COUNT (INDEX from 0): train, publish and evaluate only this machine's "
        "share of the runs, for a job array of COUNT machines; no page. Copy the shards' "
        "MODELS_DIR/PROFILE/* folders together, then run --stage=page once.",
    )
    _define(
        flag_values,
        "schedule",
        "integer",
        "jobs",
        None,
        "Runs to train at a time, at most the number of cores this process may use. Above 1, "
        "each run trains in its own child reproduce.py, pinned to its own share of the cores "
        "(TF_NUM_INTRAOP_THREADS set to the share's size), its output in RUNS_DIR/RUN.log, "
        "longest expected run first (which keeps the set's wall time short; one at a time "
        "trains MLP first, so an interrupted job has whole experiments). Default: 2 where "
        "this process may use 2 cores or more (on 2 cores the paper's eleven runs finish "
        "1.21x sooner so, docs/performance.md), 1 otherwise and for the smoke profile (runs "
        "of 2 steps, all start-up). Only the train stage uses it.",
    )
    _define(
        flag_values,
        "output",
        "string",
        "runs_dir",
        None,
        "Where the runs train (default runs/repro/PROFILE).",
    )
    _define(
        flag_values,
        "output",
        "string",
        "authors_runs_dir",
        "runs",
        "Where compare_authors.py's runs are (its default --out_dir parent): the finished "
        "paper-budget runs of the authors' code there (authors_mlp_dbn_wgan-gp, ...) are "
        "published to MODELS_DIR/paper/authors_exp*/ and shown beside ours.",
    )
    _define(
        flag_values,
        "output",
        "string",
        "models_dir",
        None,
        "Where finished runs are published, one folder per profile: MODELS_DIR/PROFILE/"
        "RUN/ (generator, config, timing, metrics); a run published there is not trained "
        "again. Default: models (committed with the code); for --profile=smoke, "
        "RUNS_DIR/models.",
    )
    _define(
        flag_values, "output", "string", "results", "docs/results.md", "The results page to write."
    )
    _define(
        flag_values,
        "output",
        "enum",
        "progress",
        "line",
        "Each run's progress: one line per epoch (for the log file a long job is read "
        "from), a live bar, or none; auto = bar on a terminal, line otherwise.",
        enum_values=list(PROGRESS_MODES),
    )
    _define(
        flag_values,
        "output",
        "string",
        "figures_dir",
        None,
        "Where the page's figures go (default: figures/results beside it).",
    )
    _define_classifier_flags(flag_values)


# ------------------------------------------------------------ reading the flags
DEPRECATED_ALIASES = {"bn_mode": "follow"}  # old flag -> the setting it now sets


def explicit_or_default(flag_values, set_only=True):
    """{setting: value} from parsed absl flags: the settings the command line (or a flagfile)
    set explicitly, or with `set_only=False` every setting. A deprecated alias counts as its
    new name; giving both with different values is refused."""
    out = {}
    for f in config.TrainConfig.fields():
        if f.name in flag_values and (flag_values[f.name].present or not set_only):
            out[f.name] = flag_values[f.name].value
    for old, new in DEPRECATED_ALIASES.items():
        if old in flag_values and flag_values[old].present:
            value = flag_values[old].value
            if flag_values[new].present and flag_values[new].value != value:
                raise UserError(
                    f"--{old}={value} (deprecated) contradicts --{new}="
                    f"{flag_values[new].value}; use --{new} only."
                )
            out[new] = value
    return out


def to_config(flag_values):
    """The TrainConfig of parsed absl flags: every setting, given or default."""
    return config.TrainConfig(**explicit_or_default(flag_values, set_only=False))


def flag_type(field):
    """(python type, optional) of a config.TrainConfig field."""
    annotation = field.type
    optional = False
    if isinstance(annotation, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    return annotation, optional


EXPERIMENT_DIRS = locations.FLAGFILE_DIRS


def experiment_names():
    for directory in EXPERIMENT_DIRS:
        if os.path.isdir(directory):
            return sorted(n[:-4] for n in os.listdir(directory) if n.endswith(".cfg"))
    return []


def experiment_flagfile(name):
    """Path of the flagfile of a paper experiment (e.g. exp1_mlp_dbn)."""
    for directory in EXPERIMENT_DIRS:
        path = os.path.join(directory, f"{name}.cfg")
        if os.path.isfile(path):
            return path
    raise UserError(f"--experiment={name} is not one of {', '.join(experiment_names())}.")


def from_flagfile(path, **overrides):
    """The TrainConfig a flagfile gives under train.py: parsed by absl itself (the same
    FlagValues train.py defines), then `overrides` applied."""
    if not os.path.isfile(path):
        raise UserError(f"flagfile {path} does not exist.")
    values = flags.FlagValues()
    define_train_flags(values)
    try:
        values(["binarygan", f"--flagfile={path}"])
    except flags.Error as e:
        raise UserError(f"{path}: {e}") from None
    run_config = to_config(values)
    for name, value in overrides.items():
        setattr(run_config, name, value)
    return run_config


def from_command_line(flag_values):
    """The config train.py runs: the flags as given; with --resume, the run's stored settings
    plus only the flags the command line set explicitly (defaults of flags not given must not
    count as a request to change the run)."""
    run_config = to_config(flag_values)
    experiment = flag_values["experiment"].value if "experiment" in flag_values else None
    if experiment:
        # The experiment's flagfile first, then whatever the command line set explicitly.
        run_config = from_flagfile(
            experiment_flagfile(experiment), **explicit_or_default(flag_values)
        )
    run_config.validate()
    if not run_config.resume:
        return run_config
    run_dir = run_config.run_dir
    run_directory.require_checkpoint(run_dir)
    given = {
        name: value
        for name, value in explicit_or_default(flag_values).items()
        if config.resume_rule(name) != config.RUN_CONTROL
    }
    resumed, _ = config.reconcile_resume(run_directory.read_stored(run_dir), given)
    resumed.out_dir = run_dir
    resumed.validate()
    return resumed
