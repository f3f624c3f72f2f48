"""Started early, waiting for the grader: the export's and the verifier's warm start.

The grader starts a sandbox's process while the notebook still runs (``dl4f_grading.sandbox.start(waiting=True)``);
the process imports what it will need (JAX and its CPU backend, Keras, cloudpickle: seconds that would otherwise
follow the notebook's run) and then blocks on its standard input until the grader, once every process of the
notebook's run is dead and the folder holds the snapshots and the grader's inputs, writes ``go``. Nothing of the
student's exists in the process before that: the folder is empty until then and no student object is loaded.
"""

from __future__ import annotations

import importlib
import sys

WARM = ("cloudpickle", "jax", "keras")


def warm_up(modules: tuple[str, ...] = WARM) -> None:
    """Import ``modules`` and, if JAX is among them, start its CPU backend (also the grader's waiting judge)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if "jax" in sys.modules:
        sys.modules["jax"].numpy.zeros(()).block_until_ready()


def wait_for_go(modules: tuple[str, ...] = WARM) -> bool:
    """``warm_up(modules)``, then wait for ``go`` on standard input.

    Returns False when the input closed without ``go`` (the grader stopped the grading): nothing to do then."""
    warm_up(modules)
    return sys.stdin.buffer.readline().strip() == b"go"
