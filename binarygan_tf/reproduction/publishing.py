"""Published generators: `models/<profile>/<run>/`, a finished run in the few files a reader needs.

A run directory holds checkpoints, logs and sample grids (too big and too many to commit); a
reader needs the model and the record of how it was made. So each finished run is published
as

    generator/     the exported SavedModel and its binarygan.json (export.py's contract)
    config.json    every setting of the run and the git commit that trained it
    timing.json    wall seconds, training sessions and generator steps
    losses.csv     the epoch means of the critic's and the generator's losses (the training
                   curve the page draws beside the authors' code's); the critic's column is
                   named by which loss it is (LOSS_COLUMNS)
    metrics.json   the evaluation and the key it is valid for (evaluations.evaluate_run)

and `models/<profile>/README.md` lists them (its text is models_readme.py's; this module writes
it with the folders). A published generator at the profile's target step counts as a finished
run: the reproduction neither needs its run directory nor trains it again, so a clone rebuilds
the results page from `models/` in minutes, and the machines of a job array merge their work by
copying their `models/<profile>/*` folders together.
"""

import csv
import hashlib
import io
import json
import os
import shutil

from binarygan_tf import files, formatting
from binarygan_tf.errors import UserError
from binarygan_tf.training import run_directory
from binarygan_tf.training.run_directory import CONFIG_FILE, GENERATOR_DIR

TIMING_FILE = run_directory.TIMING_FILE
METRICS_FILE = "metrics.json"
LOSSES_FILE = "losses.csv"
INDEX_FILE = "README.md"


def generator_dir(published):
    return os.path.join(published, GENERATOR_DIR)


def generator_digest(directory):
    """SHA-1 of every file of a generator folder: identifies the weights, so an evaluation is
    reused only for the very generator it measured (a retrained run has the same step)."""
    digest = hashlib.sha1()
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode() + b"\0")
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def read_json(path, default=None):
    if not os.path.isfile(path):
        return default
    with open(path) as f:
        return json.load(f)


def is_published(published, config, target, trained_by=None):
    """Whether `published` holds the finished generator of the run `config` describes.

    False when it holds none. A generator of another model (neuron, network, objective,
    follow, seed) or trained for another number of steps is a UserError: counting it as this
    run, or silently replacing a committed model, would both be wrong."""
    metadata = run_directory.generator_metadata(generator_dir(published))
    if metadata is None:
        return False
    expected = dict(
        arch=config.arch,
        neuron=config.neuron,
        objective=config.objective,
        follow=config.follow,
        seed=config.seed,
        # Our generators carry no trained_by; the authors' code's say "authors_code".
        trained_by=trained_by,
    )
    stored = dict(metadata, follow=metadata.get("follow", metadata.get("bn_mode")))
    wrong = [
        f"{name}={stored.get(name)} (the run has {value})"
        for name, value in expected.items()
        if stored.get(name) != value
    ]
    if wrong:
        raise UserError(
            f"{published} holds another model than its run: {', '.join(wrong)}; "
            f"move it away to retrain the run there."
        )
    if metadata.get("generator_step") != target:
        raise UserError(
            f"{published}: its generator was trained for "
            f"{metadata.get('generator_step')} generator steps, not this profile's "
            f"{target}; move it away to retrain the run there."
        )
    return True


def publish(run_dir, published):
    """Mirror the finished run in `run_dir` into `published`; returns whether anything changed.

    The folder is assembled beside its place and renamed into it, so a reader (or a kill)
    sees the old publication or the new one. Its metrics.json is kept: its key names the
    generator it measured, so it is reused only if the generator is unchanged."""
    timing = dict(run_directory.read_timing(run_dir), steps=run_directory.exported_step(run_dir))
    losses = _losses_csv(run_directory.loss_curve(run_dir))
    source_digest = generator_digest(os.path.join(run_dir, GENERATOR_DIR))
    if (
        os.path.isdir(generator_dir(published))
        and generator_digest(generator_dir(published)) == source_digest
        and read_json(os.path.join(published, TIMING_FILE)) == timing
        and _same_losses(published, losses)
    ):
        return False
    with files.atomic_directory(published) as tmp:
        shutil.copytree(os.path.join(run_dir, GENERATOR_DIR), generator_dir(tmp))
        shutil.copy2(os.path.join(run_dir, CONFIG_FILE), os.path.join(tmp, CONFIG_FILE))
        files.atomic_write_json(os.path.join(tmp, TIMING_FILE), timing)
        if losses is not None:
            with open(os.path.join(tmp, LOSSES_FILE), "w", newline="") as f:
                f.write(losses)
        metrics = os.path.join(published, METRICS_FILE)
        if os.path.isfile(metrics):
            shutil.copy2(metrics, os.path.join(tmp, METRICS_FILE))
    return True


# losses.csv names its critic-loss column by the quantity it holds (run_directory.LossCurve),
# so a reader never draws one beside the other unknowingly. Files written before that have
# `d_loss`: ours logged the loss before the last critic update, and every authors'-code file
# came from their batch.log, fetched after the critic updates (LEGACY_LOSS_COLUMN).
LOSS_COLUMNS = {
    run_directory.CRITIC_LOSS_BEFORE_UPDATE: "critic_loss",
    run_directory.CRITIC_LOSS_AFTER_UPDATES: "critic_loss_after_updates",
}
LEGACY_LOSS_COLUMN = "d_loss"


def _losses_csv(curve):
    if not curve:
        return None
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["generator_step", LOSS_COLUMNS[curve.quantity], "g_loss"])
    writer.writerows((step, f"{d:.6g}", f"{g:.6g}") for step, d, g in curve)
    return out.getvalue()


def _parse_losses(text, authors_code):
    """The LossCurve in a losses.csv's text; `authors_code` decides what a legacy `d_loss`
    column holds (LOSS_COLUMNS)."""
    reader = csv.DictReader(io.StringIO(text))
    named = [(q, c) for q, c in LOSS_COLUMNS.items() if c in (reader.fieldnames or [])]
    if named:
        quantity, column = named[0]
    else:
        column = LEGACY_LOSS_COLUMN
        quantity = (
            run_directory.CRITIC_LOSS_AFTER_UPDATES
            if authors_code
            else run_directory.CRITIC_LOSS_BEFORE_UPDATE
        )
    rows = [
        (int(row["generator_step"]), float(row[column]), float(row["g_loss"])) for row in reader
    ]
    return run_directory.LossCurve(rows, quantity)


def _same_losses(published, text):
    """Whether the published losses.csv holds what the losses.csv `text` holds (the same
    quantity and numbers), in either column naming: a file of the legacy naming is not
    rewritten for its header alone."""
    old = _read_text(os.path.join(published, LOSSES_FILE))
    if old is None or text is None:
        return old == text
    authors_code = "authors_commit" in read_config(published)
    then, now = _parse_losses(old, authors_code), _parse_losses(text, authors_code)
    return then == now and then.quantity == now.quantity


def _read_text(path):
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as f:
        return f.read()


def read_losses(published):
    """The LossCurve [(generator_step, d_loss, g_loss)] of a published run, with the quantity
    its d_loss is; empty if it has none."""
    text = _read_text(os.path.join(published, LOSSES_FILE))
    if text is None:
        return run_directory.LossCurve()
    return _parse_losses(text, authors_code="authors_commit" in read_config(published))


def read_timing(published):
    return read_json(os.path.join(published, TIMING_FILE), {})


def read_config(published):
    return read_json(os.path.join(published, CONFIG_FILE), {})


def authors_commit(published):
    """The authors' repository commit (short) a compare_authors.py run trained, else None."""
    commit = read_config(published).get("authors_commit")
    return commit[:7] if commit else None


def trained_by(published):
    """The commit that trained the run (short), with the commits that resumed it, if other."""
    config = read_config(published)
    if "authors_commit" in config:  # compare_authors.py's run: their code, our tool
        tool = config.get("tool", {})
        return (
            f"their {config['authors_commit'][:7]}, run by our "
            f"{(tool.get('git_commit') or 'unknown')[:7]}"
            + (" (uncommitted changes)" if tool.get("git_dirty") else "")
        )
    commit = config.get("git_commit")
    if not commit:
        return "unknown"
    text = commit[:7] + (" (uncommitted changes)" if config.get("git_dirty") else "")
    later = sorted(
        {
            r.get("git_commit", "")[:7]
            for r in config.get("resumes", [])
            if r.get("git_commit") and r.get("git_commit") != commit
        }
    )
    return text + (f", resumed with {', '.join(later)}" if later else "")


def training_time(published):
    """(wall time text, seconds per generator step text) of a published run.

    A session killed before run_state recorded it (before sessions were timed across cuts)
    is missing from the sum: the text then says "at least" and how many of the run's
    sessions (its first plus each resume in config.json) were timed, and gives no per-step
    figure, rather than pass a partial sum off as the run's time."""
    timing = read_timing(published)
    timed = timing.get("sessions", 0)
    if not timed:
        return formatting.MISSING, formatting.MISSING
    trained = 1 + len(read_config(published).get("resumes", []))
    wall = formatting.duration(timing["wall_seconds"])
    cut = timing.get("cut_sessions", 0)
    cut_text = f", {cut} cut off and counted to its last checkpoint" if cut else ""
    if timed < trained:
        return f"at least {wall} ({timed} of {trained} sessions timed)", formatting.MISSING
    per_step = f"{timing['wall_seconds'] / max(timing.get('steps') or 0, 1):.4f}"
    return f"{wall} ({timed} session{'s' if timed != 1 else ''}{cut_text})", per_step


# ---------------------------------------------------------------- the folder's README
def write_index(models_dir, text):
    """Write `text` (models_readme.text) as models/<profile>/README.md; returns its path."""
    path = os.path.join(models_dir, INDEX_FILE)
    files.atomic_write_text(path, text)
    return path
