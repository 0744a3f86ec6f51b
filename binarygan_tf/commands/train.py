"""`binarygan train` / `python train.py`: flags in, `train_lib.run_training` out."""

from absl import flags

from binarygan_tf import startup
from binarygan_tf.training import flag_defs

DOC = """Train a binary-neuron GAN (Dong & Yang 2018). A paper experiment:
  --experiment=exp1_mlp_dbn (or --flagfile=flags/exp1_mlp_dbn.cfg in a checkout).
Experiments: """ + ", ".join(flag_defs.experiment_names())

FLAGS = flags.FLAGS


def define_flags():
    flag_defs.define_train_flags()
    flag_defs.define_experiment_flag()


def main():
    run_config = flag_defs.from_command_line(FLAGS)  # every check that needs no TensorFlow
    startup.quiet_tensorflow_import()
    from binarygan_tf.training import train_lib

    result = train_lib.run_training(run_config)
    return 130 if result.status == "interrupted" else 0
