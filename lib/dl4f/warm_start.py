"""Started early, waiting for the grader: the export's and the verifier's warm start.

The grader starts a sandbox's process while the notebook still runs (``dl4f_grading.sandbox.start(waiting=True)``);
the process imports what it will need (JAX and its CPU backend, Keras, cloudpickle: seconds that would otherwise
follow the notebook's run) and then blocks on its standard input until the grader, once every process of the
notebook's run is dead and the folder holds the snapshots and the grader's inputs, writes ``go``. Nothing of the
student's exists in the process before that: no student object is loaded, and the folder holds only what the
grader put there (the export's: the grader's inputs, once drawn, on which it warms up: ``dl4f.export_run``).
"""

from __future__ import annotations

import importlib
import os
import select
import sys
from collections.abc import Callable, Iterator

WARM = ("cloudpickle", "jax", "keras")
NICE = 10  # a waiting process's priority: below the notebook's (0)


def lower_priority(nice: int = NICE, tries: int = 40) -> None:
    """Put this process below the notebook's run in the scheduler's eyes (best effort), before it warms up: its
    imports must use only the cores the notebook leaves idle, not slow the notebook down.

    With autogroups (Linux's default) the CPU is shared between sessions first, each session's group weighted by
    its own nice (``/proc/self/autogroup``), and a sandbox is a session of its own (bubblewrap's
    ``--new-session``): the process's own nice alone would not lower it against the notebook's session. The
    kernel takes one such change per 0.1 s from an unprivileged process (the other waiting processes start at
    the same time): retried on ``EAGAIN``.
    """
    import errno
    import time

    try:
        os.nice(nice)  # without autogroups, what counts
    except OSError:
        pass
    for _ in range(tries):
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(nice))
            return
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                return  # no autogroups (or no /proc): nothing more to do
            time.sleep(0.05)


def warm_up(modules: tuple[str, ...] = WARM) -> None:
    """Import ``modules`` and, if JAX is among them, start its CPU backend (also the grader's waiting judge)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if "jax" in sys.modules:
        sys.modules["jax"].numpy.zeros(()).block_until_ready()


def wait_for_go(modules: tuple[str, ...] = WARM, warming: Callable[[], Iterator | None] | None = None,
                poll: float = 0.1) -> bool:
    """``warm_up(modules)``, then wait for ``go`` on standard input (the caller lowered its priority first).

    ``warming`` (optional) is asked every ``poll`` seconds for the steps of a further warm-up (an iterator, each
    ``next`` one step; None while it cannot start, e.g. its inputs are not there yet); the steps then run one at a
    time while ``go`` has not come: at ``go``, the step under way ends, no other starts and the steps are closed
    (``close``). A step that fails ends the warm-up (it only saves time later). What a warm-up leaves in the
    process's global state is the caller's to reset (``dl4f.export_run``). Returns False when the input closed
    without ``go`` (the grader stopped the grading): nothing to do then."""
    warm_up(modules)
    stdin = sys.stdin.buffer
    steps = None
    while warming is not None and not select.select([stdin], [], [], poll if steps is None else 0.0)[0]:
        try:
            if steps is None:
                steps = warming()
            else:
                next(steps)
        except Exception:  # noqa: BLE001  (StopIteration: done; any other: a warm-up decides nothing)
            warming = None
    if hasattr(steps, "close"):
        try:
            steps.close()  # a generator stopped at go runs its cleanup now
        except Exception:  # noqa: BLE001
            pass
    return stdin.readline().strip() == b"go"


def exit_now(code: int) -> None:
    """End the process at once with ``code``, once its files are written and closed: the interpreter's and JAX's
    teardown (freeing every module, XLA's thread pools) takes about a second that nobody waits for."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
