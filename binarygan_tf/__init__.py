"""binarygan-tf: Dong & Yang (2018), binary-neuron GANs, in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
