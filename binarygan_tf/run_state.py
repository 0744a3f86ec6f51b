"""Where one run of the reproduction stands on disk: finished, resumable or new, and its time.

A run directory is a normal `train.py` run (config.json, checkpoints/, generator/); the
reproduction only adds `reproduce_timing.json`, the wall time summed over the sessions that
trained it, because a run cut off and resumed has no single clock. Nothing here imports
TensorFlow, so deciding what is left to do is instant.
"""

import json
import os

from binarygan_tf import files
from binarygan_tf.contract import METADATA_FILE
from binarygan_tf.errors import UserError

TIMING_FILE = "reproduce_timing.json"
GENERATOR_DIR = "generator"


def target_steps(config, num_images):
    """Generator steps a finished run of `config` has on a data set of `num_images`."""
    from binarygan_tf import data

    total = data.steps_per_epoch(num_images, config.batch_size) * config.epochs
    return min(total, config.max_steps) if config.max_steps else total


def generator_metadata(generator_dir):
    """binarygan.json of an exported generator (what it is, its step), or None if absent."""
    path = os.path.join(generator_dir, METADATA_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def exported_step(run_dir):
    """Generator step of the exported generator in `run_dir`, or None if there is none."""
    metadata = generator_metadata(os.path.join(run_dir, GENERATOR_DIR))
    return None if metadata is None else metadata.get("generator_step")


def trained_step(run_dir):
    """Generator step of the run's latest checkpoint (0 when it has none)."""
    return files.latest_checkpoint_step(run_dir) or 0


def state(config, num_images):
    """ "done", "resume" or "new" for the run directory of `config`."""
    target = target_steps(config, num_images)
    step = exported_step(config.run_dir)
    if step is not None and step >= target:
        if step > target:
            raise UserError(
                f"{config.run_dir} was trained for {step} generator steps, more "
                f"than this profile's {target}; use another --runs_dir."
            )
        return "done"
    if files.latest_checkpoint_step(config.run_dir) is not None:
        return "resume"
    return "new"


def read_timing(run_dir):
    """{"wall_seconds", "sessions"} of the run (zeros when the reproduction never timed it)."""
    path = os.path.join(run_dir, TIMING_FILE)
    if not os.path.isfile(path):
        return {"wall_seconds": 0.0, "sessions": 0}
    with open(path) as f:
        return json.load(f)


def add_timing(run_dir, seconds):
    """Count one more training session of `seconds` wall time."""
    timing = read_timing(run_dir)
    timing["wall_seconds"] += seconds
    timing["sessions"] += 1
    files.atomic_write_json(os.path.join(run_dir, TIMING_FILE), timing)
