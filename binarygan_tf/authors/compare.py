"""The comparison tool behind `compare_authors.py`: train the authors' code, export it as ours.

1. Their unmodified code trains in a worker process (worker.py `train`): their model class,
   presets and optimizer from our flags (presets.py), their `train()` loop, on our training
   images (`data.load_training_images`: MNIST train + test, binarized, 70,000), for
   `--epochs` or `--max_steps` generator steps. Their loop writes its own sample grids, logs
   and a checkpoint per epoch into the run directory.
2. Their generator's variables are loaded into OUR generator
   (`networks.build_generator(arch, neuron, follow="code")`, the architecture their code
   runs) through variable_map.py.
3. Before export, the rebuilt generator must reproduce their `sess.run` on a fixed z: the
   preactivated outputs to 1e-5 (float32 reordering of two dense/transposed-conv stacks
   measures ~1e-7) and every sample pixel, except a pixel whose preactivated value sits within
   1e-5 of its threshold (0.5, or the SBN's fed noise), where that reordering can flip it.
   The numbers go to `export_check.json`.
4. `export.export_generator` writes `generator/` in our SavedModel contract, with
   `binarygan.json` saying `"trained_by": "authors_code"` and their commit, so
   `evaluate.py --generator RUN_DIR/generator` measures it exactly as ours.

Run directory: config.json, checkpoints/ (their Saver, `BinaryGAN.model-<global step>`),
samples/ and logs/ (theirs), timing.json (wall time summed over sessions, as for
our runs), authors_progress.json (which generator step each checkpoint
is), authors_generator.npz (their G's variables and reference outputs), export_check.json,
generator/, worker/ (the worker's request and answer).

WGAN markers (issue #28, 2c; tools/wgan_markers.py): with `--marker_steps=2000,4000,6600`
the worker records, at those generator steps and during the run, the sign of the critic's
output layer, the critic's estimate (a mean over the last `--marker_window` steps) and the
generator's end mass on a fixed z, into `markers.json` (worker.MarkerRecorder). Their loop
restarts its counters on resume, so markers are recorded only by one uninterrupted run:
`--marker_steps` with `--resume` is refused.

Resuming: their loop cannot start mid-run (it restarts its own counter, so its 100-critic
warm-up, sample schedule and epoch count start again; this is what their train.py's
`pretrained_dir` does). `--resume` restores the latest checkpoint and runs their loop for
the generator steps still missing from `--epochs`/`--max_steps`; the total is exact, the
resumed part is not identical to an uninterrupted run.
"""

import dataclasses
import os

import numpy as np

from binarygan_tf import files
from binarygan_tf.authors import client, presets, repository
from binarygan_tf.authors.worker import MARKER_WINDOW, MARKERS_FILE, PROGRESS_FILE
from binarygan_tf.errors import TrainingFailed, UserError, unwritable_output
from binarygan_tf.training import run_directory

BATCH_SIZE = 64  # their config.py CONFIG['model']['batch_size']
PREACTIVATED_TOLERANCE = 1e-5  # see the module docstring, step 3
WEIGHTS_FILE = "authors_generator.npz"
CHECK_FILE = "export_check.json"

DOC = """Train the authors' own TF1 code (salu133445/binarygan, unmodified) on our data and
export its generator in our SavedModel contract:
  --neuron=dbn --objective=wgan-gp --arch=mlp --mnist_dir=DIR
then: python evaluate.py --generator runs/authors_mlp_dbn_wgan-gp/generator --out_dir DIR"""


class ExportMismatch(TrainingFailed):
    """The rebuilt generator does not compute what their graph computed."""


def define_flags():
    """Flags of compare_authors.py; the data flags are train.py's, the others mirror them."""
    from absl import flags

    from binarygan_tf.training import flag_defs

    def define(group, kind, name, default, help, **kwargs):
        flag_defs.GROUP_OF[name] = group  # so cli's grouped --help lists it
        getattr(flags, f"DEFINE_{kind}")(name, default, help=help, **kwargs)

    flag_defs.define_data_flags()
    define(
        "model",
        "string",
        "authors_repo",
        None,
        f"A checkout of salu133445/binarygan (default {repository.DEFAULT_REPO}). Read "
        f"only: their code runs from a temporary copy.",
    )
    define(
        "model",
        "enum",
        "neuron",
        "dbn",
        "dbn / sbn: their BinaryGAN with the <arch>_round / <arch>_bernoulli generator "
        "preset; real: their GAN with <arch>_real.",
        enum_values=list(presets.NEURONS),
    )
    define(
        "model",
        "enum",
        "objective",
        "wgan-gp",
        "Their gan_type; the optimizer as the paper pairs it (Sec. 4.2, 4.5): Adam, "
        "RMSProp for wgan.",
        enum_values=list(presets.OBJECTIVES),
    )
    define(
        "model",
        "enum",
        "arch",
        "mlp",
        "Their mlp_* or cnn_* presets.",
        enum_values=list(presets.ARCHS),
    )
    define(
        "model",
        "boolean",
        "discriminator_batch_norm",
        None,
        "Their D preset <arch>_bn (true) or <arch> (false). Default: the objective's, as "
        "the paper has it (Sec. 4.5: with gan, yes). Their committed config.py trains gan "
        "with D 'mlp': --nodiscriminator_batch_norm.",
    )
    define(
        "model",
        "integer",
        "seed",
        0,
        "Seeds NumPy's and TF1's global generators before their code runs (their code "
        "sets no seed), and the reference z of the export check.",
    )
    define(
        "schedule", "integer", "epochs", 20, "Epochs of their loop (their config.py num_epoch=20)."
    )
    define("schedule", "integer", "max_steps", None, "Stop after this many generator steps.")
    define(
        "output",
        "list",
        "marker_steps",
        None,
        "Generator steps at which to record the WGAN markers into <out_dir>/markers.json "
        "(the critic's output-layer sign, its estimate, the generator's end mass), e.g. "
        "2000,4000,6600; only in a run from its start (tools/wgan_markers.py).",
    )
    define(
        "output",
        "integer",
        "marker_window",
        MARKER_WINDOW,
        "The critic's estimate at a marker: the mean over this many generator steps before it.",
    )
    define(
        "output",
        "string",
        "out_dir",
        None,
        "Run directory. Default: runs/authors_<arch>_<neuron>_<objective>.",
    )
    define(
        "output",
        "boolean",
        "resume",
        False,
        "Continue the run in --out_dir from its latest checkpoint. Their loop restarts its "
        "counters (warm-up, samples) as their train.py's pretrained_dir does.",
    )
    define(
        "output", "boolean", "overwrite", False, "Delete an existing --out_dir and start afresh."
    )


def main():
    """compare_authors.py: run with the parsed absl FLAGS; exit status 130 if interrupted."""
    from absl import flags

    result = run(CompareConfig.from_flags(flags.FLAGS))
    return 130 if result["status"] == "interrupted" else 0


@dataclasses.dataclass
class CompareConfig:
    neuron: str = "dbn"
    objective: str = "wgan-gp"
    arch: str = "mlp"
    discriminator_batch_norm: bool | None = None
    epochs: int = 20
    max_steps: int | None = None
    out_dir: str | None = None
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    marker_steps: tuple | None = None  # generator steps; strings from the flag, checked in validate
    marker_window: int = MARKER_WINDOW
    mnist_dir: str | None = None
    tfds_data_dir: str | None = None
    authors_repo: str | None = None

    @classmethod
    def from_flags(cls, flag_values):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{n: flag_values[n].value for n in names if n in flag_values})

    @property
    def run_dir(self):
        return self.out_dir or run_directory.default_run_dir(
            self.arch, self.neuron, self.objective, prefix="authors_"
        )

    def validate(self):
        setup = presets.setup_for(
            self.neuron, self.objective, self.arch, self.discriminator_batch_norm
        )
        if self.epochs < 1:
            raise UserError(f"--epochs must be a positive integer, got {self.epochs}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise UserError(f"--max_steps must be a positive integer, got {self.max_steps}.")
        if self.resume and self.overwrite:
            raise UserError("--resume and --overwrite contradict each other; pick one.")
        if self.marker_steps:
            self.marker_steps = _marker_steps(self.marker_steps, self.max_steps)
            if self.resume:
                raise UserError(
                    "--marker_steps needs one uninterrupted run (their loop restarts its "
                    "counters on resume); start the run again with --overwrite."
                )
            if self.marker_window < 1:
                raise UserError(
                    f"--marker_window must be a positive integer, got {self.marker_window}."
                )
        return setup


def _marker_steps(values, max_steps):
    """--marker_steps as sorted distinct positive ints, none beyond --max_steps."""
    try:
        steps = sorted({int(str(v).strip()) for v in values})
    except ValueError:
        raise UserError(
            f"--marker_steps must be generator steps such as 2000,4000,6600, got "
            f"{','.join(map(str, values))}."
        ) from None
    if steps[0] < 1:
        raise UserError(f"--marker_steps must be positive, got {steps[0]}.")
    if max_steps is not None and steps[-1] > max_steps:
        raise UserError(
            f"--marker_steps: {steps[-1]} is beyond --max_steps={max_steps}; the run ends first."
        )
    return tuple(steps)


def check_resume(config, setup):
    """With --resume: the run directory holds a run of this tool, of the same setup.
    Read-only, so it runs before the data is loaded."""
    if not config.resume:
        return
    run_dir = config.run_dir
    if not os.path.isfile(os.path.join(run_dir, PROGRESS_FILE)):
        raise UserError(
            f"--resume: {run_dir} holds no run of this tool to resume. Drop "
            f"--resume to start one there, or pass the right --out_dir."
        )
    stored = run_directory.read_stored(run_dir).get("authors_setup")
    if stored != dataclasses.asdict(setup):
        raise UserError(
            f"--resume: {run_dir} was trained with {stored}, not "
            f"{dataclasses.asdict(setup)}; pass the same --neuron, "
            f"--objective, --arch and --discriminator_batch_norm."
        )


def run(config, log=print):
    """Train their code as `config` says, then export; returns the worker's result dict with
    `generator_path` (None when interrupted)."""
    setup = config.validate()
    repo = repository.resolve(config.authors_repo)
    client.check_packages()
    commit = repository.commit(repo)
    from binarygan_tf import startup

    startup.quiet_tensorflow_import()
    from binarygan_tf.training import data

    check_resume(config, setup)
    run_directory.check_start(config.run_dir, resume=config.resume, overwrite=config.overwrite)
    images = data.load_training_images(config.mnist_dir, config.tfds_data_dir)
    if config.marker_steps:
        last = len(images) // BATCH_SIZE * config.epochs
        if config.marker_steps[-1] > last:
            raise UserError(
                f"--marker_steps: {config.marker_steps[-1]} is beyond the run's {last} "
                f"generator steps ({config.epochs} epochs of {len(images)} images)."
            )
    # As for ours: one trainer per run directory, held until exported or stopped, checked
    # again once held, emptied with --overwrite, probed, and the session timed in the same
    # record (run_directory.TIMING_FILE), so publishing and the results page show their
    # training time beside ours.
    with run_directory.training_session(
        config.run_dir, resume=config.resume, overwrite=config.overwrite
    ) as session:
        return _train(config, setup, repo, commit, images, session, log)


def _train(config, setup, repo, commit, images, session, log):
    from binarygan_tf import provenance

    run_dir = os.path.abspath(config.run_dir)
    workdir = os.path.join(run_dir, "worker")
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise unwritable_output(run_dir, e) from None
    run_directory.write_stored(
        run_dir,
        {
            **dataclasses.asdict(config),
            "run_dir": run_dir,
            "authors_setup": dataclasses.asdict(setup),
            "authors_repo": repo,
            "authors_commit": commit,
            "tool": provenance.code_version(),
        },
    )
    images_path = os.path.join(workdir, "images.npy")
    np.save(images_path, images.astype(bool))
    del images
    request = {
        "command": "train",
        "authors_repo": repo,
        "setup": dataclasses.asdict(setup),
        "batch_size": BATCH_SIZE,
        "epochs": config.epochs,
        "max_steps": config.max_steps,
        "out_dir": run_dir,
        "resume": config.resume,
        "seed": config.seed,
        "images_path": images_path,
        "weights_path": os.path.join(run_dir, WEIGHTS_FILE),
    }
    if config.marker_steps:
        request.update(marker_steps=list(config.marker_steps), marker_window=config.marker_window)
    log(
        f"training the authors' code ({repo}, commit {commit}): {setup.model_class}, G "
        f"{setup.preset_g}, D {setup.preset_d}, {setup.gan_type}, {setup.optimizer}; output "
        f"of their loop follows"
    )
    try:
        result = client.run(request, workdir)
    finally:
        os.remove(images_path)
    session.end(result["wall_seconds"])
    if result["status"] == "interrupted":
        again = (
            "The markers need one uninterrupted run; start it again with --overwrite."
            if config.marker_steps
            else f"Continue with: --resume --out_dir={config.run_dir}"
        )
        log(
            f"{result['signal']} received: their loop stopped after generator step "
            f"{result['generator_steps']} and saved {result['checkpoint']}. {again}"
        )
        return dict(result, generator_path=None)
    if config.marker_steps:
        log(
            f"markers at generator steps {', '.join(map(str, config.marker_steps))}: "
            f"{os.path.join(config.run_dir, MARKERS_FILE)}"
        )
    check, path = export(run_dir, setup, config, commit, repo, result)
    log(
        f"done: {result['generator_steps']} generator steps in {result['wall_seconds']:.0f} s; "
        f"their generator rebuilt as ours (preactivated max |diff| "
        f"{check['preactivated_max_abs_diff']:.2g}, {check['sample_pixels_differing']} of "
        f"{check['sample_pixels']} sample pixels differ) and exported to {path}"
    )
    return dict(result, generator_path=path, export_check=check)


def _reference_and_variables(run_dir):
    with np.load(os.path.join(run_dir, WEIGHTS_FILE)) as f:
        arrays = dict(f)
    variables = {k[len("variables/") :]: v for k, v in arrays.items() if k.startswith("variables/")}
    reference = {k[len("reference/") :]: v for k, v in arrays.items() if k.startswith("reference/")}
    return variables, reference


def rebuild_generator(setup, variables):
    """Our generator with their variables (follow 'code': the architecture their code runs)."""
    from binarygan_tf.authors import variable_map
    from binarygan_tf.model import networks

    generator = networks.build_generator(setup.arch, setup.neuron, follow="code")
    variable_map.load(generator, variables, "G", setup.arch)
    return generator


def check_outputs(generator, setup, reference):
    """How far our rebuilt generator is from their `sess.run` on the reference z (and, for the
    SBN, the reference noise); raises ExportMismatch beyond the module docstring's bounds."""
    import tensorflow as tf

    from binarygan_tf.model import neurons

    out = generator(tf.constant(reference["z"]), training=False)
    pre = np.asarray(out["preactivated"])
    samples = np.asarray(out["samples"])
    theirs_pre = np.asarray(reference["preactivated"]).reshape(pre.shape)
    theirs_samples = np.asarray(reference["samples"]).reshape(samples.shape)
    if setup.neuron == "sbn":
        threshold = reference["sbn_noise"].reshape(pre.shape).astype(np.float32)
        samples = np.asarray(
            neurons.straight_through_threshold(tf.constant(pre), tf.constant(threshold))
        )
    else:
        threshold = np.full_like(pre, 0.5)
    pre_diff = float(np.max(np.abs(pre - theirs_pre)))
    differ = samples != theirs_samples
    if setup.neuron == "real":
        differ = np.abs(samples - theirs_samples) > PREACTIVATED_TOLERANCE
    near = np.abs(theirs_pre - threshold) <= PREACTIVATED_TOLERANCE
    check = {
        "reference_z": list(reference["z"].shape),
        "preactivated_max_abs_diff": pre_diff,
        "sample_pixels": int(samples.size),
        "sample_pixels_differing": int(differ.sum()),
        "sample_pixels_differing_away_from_threshold": int((differ & ~near).sum()),
        "samples_density_ours": float(samples.mean()),
        "samples_density_theirs": float(theirs_samples.mean()),
        "tolerance": PREACTIVATED_TOLERANCE,
    }
    if setup.neuron != "real" and not set(np.unique(samples)) <= {0.0, 1.0}:
        raise ExportMismatch("the rebuilt generator's samples are not binary.")
    if pre_diff > PREACTIVATED_TOLERANCE or check["sample_pixels_differing_away_from_threshold"]:
        raise ExportMismatch(
            f"our rebuilt generator does not reproduce their graph on the reference z: "
            f"preactivated max |diff| {pre_diff:.3g} (bound {PREACTIVATED_TOLERANCE}), "
            f"{check['sample_pixels_differing']} sample pixels differ. Nothing was exported."
        )
    return check


def export(run_dir, setup, config, commit, repo, result):
    """Rebuild, check and export their trained generator; (check dict, generator path)."""
    from binarygan_tf import provenance
    from binarygan_tf.model import export as export_lib
    from binarygan_tf.model import networks

    variables, reference = _reference_and_variables(run_dir)
    generator = rebuild_generator(setup, variables)
    check = check_outputs(generator, setup, reference)
    files.atomic_write_json(os.path.join(run_dir, CHECK_FILE), check)
    metadata = dict(
        trained_by="authors_code",
        authors_commit=commit,
        authors_repo=repo,
        authors_setup=dataclasses.asdict(setup),
        neuron=setup.neuron,
        arch=setup.arch,
        objective=setup.gan_type,
        follow="code",
        discriminator_batch_norm=setup.d_batch_norm,
        generator_step=result["generator_steps"],
        authors_global_step=result["global_step"],
        slope=result["slope"],
        slope_used_by_generator=False,
        epochs=config.epochs,
        max_steps=config.max_steps,
        seed=config.seed,
        latent_dim=networks.LATENT_DIM,
        export_check=check,
        exported_with=provenance.code_version(),
    )
    path = export_lib.export_generator(
        generator, os.path.join(run_dir, run_directory.GENERATOR_DIR), metadata
    )
    return check, path
