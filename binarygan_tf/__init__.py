"""binarygan-tf: Dong & Yang (2018), binary-neuron GANs, in TensorFlow 2 / Keras 3."""

import os as _os

__version__ = "0.1.0"

# oneDNN kernels for TensorFlow's CPU ops. TensorFlow switches them on by default only on some
# x86 CPUs (Intel, yes; the AMD EPYC we measure on, no), and the CNN step is convolution
# backward passes first of all: oneDNN made it faster there (docs/performance.md, "oneDNN");
# the MLP under XLA does not use these kernels. The variable is read when
# TensorFlow loads, so this only takes effect if binarygan_tf is imported first (the entry
# points do); an explicit TF_ENABLE_ONEDNN_OPTS=0 from the user wins.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
