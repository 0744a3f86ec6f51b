"""Facts the page reads from the code and the machine it is built on, not from the runs: the
networks' parameter counts and a description of the CPU and library versions.

The parameter counts are counted from networks built by this code (not typed in), so the
claims that compare parameter counts (Exp. IV) cannot drift from the networks; the machine
description tells a reader where the page's build ran, since the runs' wall times come from
wherever each run trained. Both need TensorFlow, imported only when asked.
"""

import os
import platform

import numpy as np


def parameter_counts():
    """Trainable parameters of G + D per architecture (WGAN-GP: no BN in D), built, not typed."""
    from binarygan_tf.model import networks

    counts = {}
    for arch in ("mlp", "cnn"):
        g = networks.build_generator(arch, "dbn", "code", seed=0)
        d = networks.build_discriminator(arch, False, "code", seed=0)
        counts[arch] = int(
            sum(int(np.prod(w.shape)) for w in g.trainable_weights + d.trainable_weights)
        )
    return counts


def machine_description():
    """ "<CPU model>, <n> cores visible; Python, TensorFlow and Keras versions"."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import keras
    import tensorflow as tf

    return (
        f"{cpu}, {os.cpu_count()} cores visible; Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
