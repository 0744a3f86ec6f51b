"""What the paper's experiments are: the runs, the training budgets, and what makes runs comparable.

The runs are the experiment flagfiles under `flags/` (one source of truth for each
configuration), listed in the order they train: MLP first, CNN last, so that an interrupted
job already has whole experiments to look at. A profile is a training budget (how many epochs,
how many evaluation samples). `run_config` is the only place a run's `TrainConfig` is built,
so `train.py --flagfile=flags/<name>.cfg` and the reproduction train the very same model.

Claims compare *configurations*, not run names: runs with the same experiment, network,
neuron, objective and batch-norm wiring (`follow`) are one configuration, and runs that differ
only in their seed repeat it. `configuration()` derives that key from a run's TrainConfig, so
a new seed repeat or a renamed run needs no change in the claims.
"""

import dataclasses
import os

from binarygan_tf.errors import UserError
from binarygan_tf.training import flag_defs


@dataclasses.dataclass(frozen=True)
class RunSpec:
    name: str  # run folder name (and flagfile name, unless `config` is given)
    experiment: str  # "I", "II", "III", "IV" or "extra"
    label: str  # row label in tables and figures
    seed: int = 0
    config: str | None = None  # flagfile name when it differs from `name` (seed repeats)

    @property
    def flagfile(self):
        return flag_defs.experiment_flagfile(self.config or self.name)

    @property
    def how(self):
        """How to train this run alone, for tables."""
        return f"flags/{self.config or self.name}.cfg --seed={self.seed}"


def _seed_repeats(config, experiment, label, seeds=(1, 2)):
    """The run `config` again with other seeds: `<config>_seed<S>`, labelled `<label>, seed S`."""
    return tuple(
        RunSpec(f"{config}_seed{s}", experiment, f"{label}, seed {s}", seed=s, config=config)
        for s in seeds
    )


# The paper's Sec. 4.3-4.6 (Exp. I-IV), plus one row beyond the paper: following its text where
# the authors' code differs (docs/authors_code.md).
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
    *_seed_repeats("exp1_mlp_dbn", "I", "MLP DBN, WGAN-GP"),
    *_seed_repeats("exp1_mlp_sbn", "I", "MLP SBN, WGAN-GP"),
    # Exp. III's DBN under WGAN with two more seeds: weight clipping makes WGAN's runs vary
    # more than WGAN-GP's, and its FD differs from the authors' code's runs by more than Exp.
    # I's spread (docs/results.md). With two seeds a side, the two codes' ranges fail to
    # overlap by chance one time in three; with three, one in ten (docs/authors_code.md).
    *_seed_repeats("exp3_mlp_dbn_wgan", "III", "MLP DBN, WGAN"),
    RunSpec("exp4_cnn_dbn", "IV", "CNN DBN, WGAN-GP"),
    RunSpec("exp4_cnn_sbn", "IV", "CNN SBN, WGAN-GP"),
    RunSpec("exp4_cnn_real", "IV", "CNN real-valued, WGAN-GP"),
    # Exp. IV's SBN with two more seeds: the authors' CNN SBN, run unchanged, reached an FD
    # 4.1 below ours (one seed each, every update of ours matching theirs in that
    # configuration; docs/authors_code.md, "Their CNNs"), and only our seeds' spread can say
    # whether that is more than seeds explain (issue #28).
    *_seed_repeats("exp4_cnn_sbn", "IV", "CNN SBN, WGAN-GP"),
)
RUNS_BY_NAME = {spec.name: spec for spec in RUNS}


@dataclasses.dataclass(frozen=True)
class AuthorsRunSpec:
    """A run of the authors' own TF1 code (compare_authors.py), published and evaluated beside
    ours at the paper's budget. The reproduction never trains it (that needs their repository
    and hours; see `command`); it publishes it from `run_dir` once finished."""

    name: str
    experiment: str
    label: str
    arch: str
    neuron: str
    objective: str = "wgan-gp"
    seed: int = 0  # compare_authors.py --seed (their code sets none; the tool seeds TF1)
    follow: str = "code"  # their code is the code
    epochs: int = 20  # their config.py num_epoch=20
    batch_size: int = 64  # their config.py batch_size=64
    max_steps: int | None = None  # the whole budget (run_directory.target_steps reads it)
    trained_by: str = "authors_code"  # what their exported generator's binarygan.json says

    @property
    def configuration_label(self):
        """The label without "authors' code" and the seed: what configuration it is."""
        return self.label.removesuffix(", authors' code").removesuffix(f", seed {self.seed}")

    @property
    def run_dir(self):
        """compare_authors.py's default --out_dir for these flags; a seed other than 0 gets
        its own folder (named in `how`)."""
        suffix = f"_seed{self.seed}" if self.seed else ""
        return os.path.join("runs", f"authors_{self.arch}_{self.neuron}_{self.objective}{suffix}")

    @property
    def how(self):
        command = (
            f"compare_authors.py --arch={self.arch} --neuron={self.neuron} "
            f"--objective={self.objective}"
        )
        if self.seed:
            command += f" --seed={self.seed} --out_dir={self.run_dir}"
        return command


# Exp. I's two neurons (the paper's central comparison), the MLP DBN under WGAN (whether
# their code reaches WGAN-GP's quality with it, Exp. III) and the CNN DBN and SBN (Exp. IV:
# whether their CNNs lose to their MLPs at this budget as ours do).
AUTHORS_RUNS = (
    AuthorsRunSpec("authors_exp1_mlp_dbn", "I", "MLP DBN, WGAN-GP, authors' code", "mlp", "dbn"),
    AuthorsRunSpec("authors_exp1_mlp_sbn", "I", "MLP SBN, WGAN-GP, authors' code", "mlp", "sbn"),
    AuthorsRunSpec(
        "authors_exp3_mlp_dbn_wgan", "III", "MLP DBN, WGAN, authors' code", "mlp", "dbn", "wgan"
    ),
    # Two more seeds of it: under WGAN, runs of one configuration differ more than under
    # WGAN-GP (docs/authors_code.md, "Found by running their code"), so one run of theirs
    # says little.
    *(
        AuthorsRunSpec(
            f"authors_exp3_mlp_dbn_wgan_seed{s}",
            "III",
            f"MLP DBN, WGAN, seed {s}, authors' code",
            "mlp",
            "dbn",
            "wgan",
            seed=s,
        )
        for s in (1, 2)
    ),
    AuthorsRunSpec("authors_exp4_cnn_dbn", "IV", "CNN DBN, WGAN-GP, authors' code", "cnn", "dbn"),
    AuthorsRunSpec("authors_exp4_cnn_sbn", "IV", "CNN SBN, WGAN-GP, authors' code", "cnn", "sbn"),
)
AUTHORS_PROFILE = "paper"  # the budget their runs are trained at and shown with


def select_runs(names=None):
    """The RunSpecs named (in RUNS order), or all of them; an unknown name is a UserError."""
    if not names:
        return RUNS
    unknown = [n for n in names if n not in RUNS_BY_NAME]
    if unknown:
        raise UserError(
            f"--only: unknown run(s) {', '.join(unknown)}; known: {', '.join(RUNS_BY_NAME)}."
        )
    return tuple(spec for spec in RUNS if spec.name in names)


@dataclasses.dataclass(frozen=True)
class Profile:
    """How long each run trains, and how many samples each evaluation draws."""

    name: str
    epochs: int
    num_samples: int
    max_steps: int | None = None
    overrides: tuple = ()  # extra TrainConfig settings, (name, value) pairs
    note: str = ""
    # Whether reproduce.py trains its runs side by side by default (job.default_jobs): worth
    # it for runs of hours, not for runs whose whole time is a child's start-up.
    side_by_side: bool = True

    @property
    def budget(self):
        """How the page's column heads name this profile."""
        return (
            f"`{self.name}` ({self.max_steps} steps)"
            if self.max_steps
            else f"`{self.name}` ({self.epochs} epochs)"
        )


PROFILES = {
    # The paper's schedule: 20 epochs of 70,000 images (code: config.py num_epoch=20).
    "paper": Profile(
        "paper",
        epochs=20,
        num_samples=10000,
        note="the paper's 20 epochs (about 21,860 generator steps per run)",
    ),
    # Same schedule (critic warm-up, slope annealing per epoch), fewer epochs: sized to train
    # in about an hour on 2 cores (docs/performance.md, "The reproduction's budgets").
    "quick": Profile(
        "quick",
        epochs=3,
        num_samples=10000,
        note="3 epochs (3,279 generator steps per run), same schedule",
    ),
    # A pipeline check in seconds (the test uses it on tiny data); the numbers mean nothing.
    "smoke": Profile(
        "smoke",
        epochs=1,
        num_samples=256,
        max_steps=2,
        overrides=(("critic_warmup_until", 0), ("sample_every", 1)),
        note="2 generator steps per run: checks the pipeline, not the paper",
        side_by_side=False,
    ),
}

# The training budgets the results page puts side by side, shortest first, so a reader sees
# which claims hold only after the full training. The tables and figures come from `paper`
# when it has every run (evaluations.main_budget).
PAGE_BUDGETS = ("quick", "paper")


def page_budgets(profile):
    """The profiles whose verdicts share the page of a `profile` job."""
    return PAGE_BUDGETS if profile.name in PAGE_BUDGETS else (profile.name,)


def default_runs_dir(profile):
    """Where a profile's runs train unless `--runs_dir` says otherwise."""
    return os.path.join("runs", "repro", profile.name)


def run_config(spec, profile, runs_dir, mnist_dir=None, tfds_data_dir=None, progress="line"):
    """The TrainConfig of one run in one profile (resume/overwrite decided by `run_state`):
    its flagfile read by absl exactly as `train.py --flagfile` reads it, then the profile's
    budget and the run's seed and folder. Progress is one line per epoch by default: a job of
    hours is mostly read from its log file."""
    return flag_defs.from_flagfile(
        spec.flagfile,
        seed=spec.seed,
        epochs=profile.epochs,
        max_steps=profile.max_steps,
        progress=progress,
        out_dir=os.path.join(runs_dir, spec.name),
        mnist_dir=mnist_dir,
        tfds_data_dir=tfds_data_dir,
        **dict(profile.overrides),
    )


@dataclasses.dataclass(frozen=True)
class Configuration:
    """What a run trains, its seed aside: runs with equal Configurations repeat one experiment
    condition with other seeds, and claims aggregate over them."""

    experiment: str
    arch: str
    neuron: str
    objective: str
    follow: str  # "code" or "paper": whose batch norm and slope wiring (docs/authors_code.md)
    implementation: str = "ours"  # or "authors": their own code trained it (AUTHORS_RUNS)

    def matches(self, **fields):
        return all(getattr(self, name) == value for name, value in fields.items())


def configuration(spec, config):
    """The Configuration of the run `spec` trained with `config` (its run_config)."""
    return Configuration(
        spec.experiment,
        config.arch,
        config.neuron,
        config.objective,
        config.follow,
        "authors" if isinstance(spec, AuthorsRunSpec) else "ours",
    )
