"""dl4f: the shared library of the Deep Learning for Finance course.

The data path reads in file order: ``data`` (download -> cache -> returns), ``windows`` (windows -> split),
``models`` and ``layers`` (the networks), ``training`` (fit), ``evaluation`` (score), ``plots`` (figures).
``tp_rnn`` wires them into the RNN practical; ``cli`` exposes it as the ``dl4f`` command.
"""

import os

# Keras reads its backend once, at first import: the course runs on JAX unless the user chose otherwise.
if not os.environ.get("KERAS_BACKEND"):  # unset or empty (`KERAS_BACKEND= cmd`): Keras would pick TensorFlow
    os.environ["KERAS_BACKEND"] = "jax"

__version__ = "0.1.0"
