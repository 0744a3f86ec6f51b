"""Every command-line flag of the project, with its default and where the default comes from.

One module holds them all (the ml_collections idea: one place for every setting, experiments
are small override files under `flags/`). Entry points call `define_*_flags()` once, and the
libraries they drive take plain values (see `train_lib.TrainConfig`), so tests never need a
command line.

Sources cited below: "paper" = Dong & Yang (2018), "code" = the authors' repository
salu133445/binarygan (`config.py`, `bgan/mnist/models.py`).
"""

from absl import flags

NEURONS = ("dbn", "sbn", "real")
OBJECTIVES = ("gan", "wgan", "wgan-gp")
ARCHS = ("mlp", "cnn")
BN_MODES = ("paper", "code")
PROGRESS_MODES = ("bar", "line", "off")


def define_data_flags():
    flags.DEFINE_string(
        "mnist_dir", None,
        "Folder with the four MNIST IDX files (.gz or raw). Falls back to env "
        "BINARYGAN_MNIST_DIR, then to TFDS (which needs a download or --tfds_data_dir).")
    flags.DEFINE_string("tfds_data_dir", None, "Passed to tfds.load(data_dir=...).")


def define_train_flags():
    """Flags of train.py (and of reproduce.py, which drives the same library)."""
    define_data_flags()
    flags.DEFINE_enum("neuron", "dbn", NEURONS,
                      "Generator output neuron: deterministic binary (paper eq. 6), stochastic "
                      "binary (eq. 7), or real-valued sigmoid (paper Sec. 4.3 baseline).")
    flags.DEFINE_enum("objective", "wgan-gp", OBJECTIVES,
                      "GAN (non-saturating), WGAN (weight clipping) or WGAN-GP; paper Sec. 4.1 "
                      "uses WGAN-GP unless stated.")
    flags.DEFINE_enum("arch", "mlp", ARCHS, "Network preset (paper Table 1 / code presets).")
    flags.DEFINE_integer("epochs", 20, "Training epochs (code: config.py num_epoch=20).")
    flags.DEFINE_integer("batch_size", 64, "Batch size (code: config.py batch_size=64).")
    flags.DEFINE_integer("seed", 0, "Seed for weights, z, data order and SBN noise.")
    flags.DEFINE_string("out_dir", None,
                        "Run directory. Default: runs/<arch>_<neuron>_<objective>[_code].")
    flags.DEFINE_integer("max_steps", None,
                         "Stop after this many generator steps (smoke runs).")
    flags.DEFINE_boolean("resume", False, "Continue the run in --out_dir from its latest "
                         "checkpoint.")
    flags.DEFINE_boolean("overwrite", False, "Delete an existing --out_dir and start afresh.")
    # Critic schedule: code bgan/mnist/models.py `if (counter < 25) or (counter % 500 == 0):
    # num_critics = 100 else 5`.
    flags.DEFINE_integer("critic_steps", 5, "Critic updates per generator step (code: 5).")
    flags.DEFINE_integer("critic_warmup_steps", 100,
                         "Critic updates per generator step during warm-up (code: 100).")
    flags.DEFINE_integer("critic_warmup_until", 25,
                         "Generator steps that use the warm-up critic count (code: 25).")
    flags.DEFINE_integer("critic_warmup_every", 500,
                         "Every n-th generator step uses the warm-up count again (code: 500).")
    flags.DEFINE_float("slope_annealing_rate", 1.1,
                       "Multiply the neurons' sigmoid slope by this after each epoch "
                       "(paper Sec. 3.3 and code config.py: 1.1).")
    flags.DEFINE_enum(
        "bn_mode", None, BN_MODES,
        "Batch normalization and slope wiring: 'paper' = real batch norm and annealed slope "
        "as the paper describes; 'code' = what the authors' code actually ran (inference-mode "
        "batch norm, i.e. a learned affine; slope fixed at 1; TF1 RMSProp accumulator starting "
        "at 1). Default: see docs/authors_code.md.")
    flags.DEFINE_boolean("jit_compile", None,
                         "Compile the training step with XLA. Default: on for --arch=mlp (faster), "
                         "off for --arch=cnn (XLA:CPU convolutions in the critic loop are "
                         "~36x slower); docs/performance.md. --nojit_compile turns it off.")
    flags.DEFINE_integer("steps_per_execution", None,
                         "Generator steps per compiled call. Default: see docs/performance.md.")
    flags.DEFINE_enum("mixed_precision", "off", ("off", "mixed_float16", "mixed_bfloat16"),
                      "Keras dtype policy; losses, gradient penalty and neuron math stay "
                      "float32.")
    flags.DEFINE_integer("sample_every", 500,
                         "Write sample grids every n generator steps, plus steps 100 and 200 "
                         "(code: counter % 500 == 0 or counter < 300 and counter % 100 == 0).")
    flags.DEFINE_boolean("tensorboard", True, "Write TensorBoard logs to RUN_DIR/logs.")
    flags.DEFINE_enum("progress", "bar", PROGRESS_MODES,
                      "Keras progress output: a live bar, one line per epoch (for log files), "
                      "or none.")


def define_evaluate_flags():
    """Flags of evaluate.py."""
    define_data_flags()
    flags.DEFINE_multi_string("generator", None,
                              "A generator SavedModel folder (RUN_DIR/generator). Repeat to "
                              "compare several models in one go.")
    flags.DEFINE_multi_string("label", None,
                              "Display name for each --generator, in the same order "
                              "(default: derived from the path).")
    flags.DEFINE_string("out_dir", None, "Where figures and metrics.json go.")
    flags.DEFINE_integer("num_samples", 10000, "Samples drawn from each generator.")
    flags.DEFINE_integer("seed", 0, "Seed for z and Bernoulli binarization.")
    flags.DEFINE_string("cache_dir", None,
                        "Where the evaluation classifier is cached (default: env "
                        "BINARYGAN_CACHE_DIR, else ~/.cache/binarygan_tf).")


def define_reproduce_flags():
    """Flags of reproduce.py."""
    define_data_flags()
    flags.DEFINE_enum("profile", "quick", ("quick", "paper", "smoke"),
                      "quick: 3 epochs per run (about an hour on 2 CPU cores); paper: the "
                      "paper's 20 epochs; smoke: 2 steps per run, a pipeline check.")
    flags.DEFINE_string("runs_dir", None, "Where the runs go (default runs/repro/PROFILE).")
    flags.DEFINE_string("results", "docs/results.md", "The results page to write.")
    flags.DEFINE_string("figures_dir", None,
                        "Where the page's figures go (default: figures/results beside it).")
    flags.DEFINE_string("cache_dir", None,
                        "Where the evaluation classifier is cached (default: env "
                        "BINARYGAN_CACHE_DIR, else ~/.cache/binarygan_tf).")
    flags.DEFINE_list("only", None, "Run only these runs (names as in flags/, e.g. "
                      "exp1_mlp_dbn,exp1_mlp_sbn); default all eleven.")
