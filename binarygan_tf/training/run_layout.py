"""The names inside a run directory, in one place.

Training writes these (train_lib, callbacks), and the reproduction reads them back without
TensorFlow (run_state, publishing), so both sides must agree on every name; this module is
what they agree on, and it imports nothing heavier than `os`. A run directory holds
everything about one run:

    config.json              every setting, so `--resume` and `binarygan export` can rebuild
                             the exact models
    samples/                 8x8 grids of samples and preactivated outputs for a fixed z
    logs/training_log.csv    one row per epoch (and one where a session was cut off)
    logs/train/              TensorBoard events, on the generator-step axis
    checkpoints/             tf.train checkpoints: weights, optimizer slots, generator step,
                             slope, random-generator states; the data position is the step
    generator/               the exported SavedModel (export.py), written last
    reproduce_timing.json    wall time summed over the sessions that trained the run
    training.lock            held (flock) by the process training the run (run_lock)

A run of the authors' code (authors/compare.py) keeps their own logs/batch.log instead of our
training log, and the same checkpoints/, generator/ and timing names.
"""

import os
import re

CONFIG_FILE = "config.json"
SAMPLES_DIR = "samples"
LOG_DIR = "logs"
TRAINING_LOG = os.path.join(LOG_DIR, "training_log.csv")
TENSORBOARD_DIR = os.path.join(LOG_DIR, "train")
CHECKPOINT_DIR = "checkpoints"
# The state file tf.train.CheckpointManager (ours) and tf.train.Saver (the authors') rewrite
# on every save; it names the latest checkpoint.
CHECKPOINT_STATE = os.path.join(CHECKPOINT_DIR, "checkpoint")
GENERATOR_DIR = "generator"
# The name is historical: the reproduction introduced it, every run writes it now.
TIMING_FILE = "reproduce_timing.json"
LOCK_FILE = "training.lock"
# The authors' code writes one row per generator step here (their trainer's log_batch).
AUTHORS_BATCH_LOG = os.path.join(LOG_DIR, "batch.log")


def latest_checkpoint_step(run_dir):
    """Generator step of the run's latest checkpoint, or None. Reads the `checkpoint` state
    file tf.train.CheckpointManager writes (`model_checkpoint_path: "ckpt-STEP"`), whose
    number is the generator step (train_lib saves with checkpoint_number=step)."""
    state = os.path.join(run_dir, CHECKPOINT_STATE)
    if not os.path.isfile(state):
        return None
    with open(state) as f:
        match = re.search(r'^model_checkpoint_path:\s*"[^"]*?-(\d+)"', f.read(), re.M)
    return int(match.group(1)) if match else None


def checkpoint_step(prefix):
    """The generator step in a checkpoint prefix such as RUN/checkpoints/ckpt-2186."""
    return int(prefix.rsplit("-", 1)[1])
