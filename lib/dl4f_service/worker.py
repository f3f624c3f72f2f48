"""``dl4f worker``: ``--processes N`` grading loops (``dl4f_service.grader.loop``), as child processes that end
with their parent (``--processes 1``: the loop runs in this process). This module stays light: a parent of N
children never imports the engine (seconds of imports) itself."""

from __future__ import annotations

import os
import signal
from multiprocessing import get_context

from dl4f_service.config import Config


def run(url: str, root: str, config: Config, processes: int | None = None, once: bool = False,
        allow_unsandboxed: bool = False) -> None:
    """``dl4f worker``: ``processes`` loops (default: one per core)."""
    n = processes or os.cpu_count() or 1
    if n == 1:
        from dl4f_service.grader import loop

        loop(url, root, config, once, None, allow_unsandboxed)
        return
    context = get_context("spawn")
    args = (url, root, config, once, os.getpid(), allow_unsandboxed)
    children = [context.Process(target=_child, args=args) for _ in range(n)]
    for child in children:
        child.start()

    def stop(signum, frame):  # SIGTERM: each child gives its job back to the queue, then ends
        for child in children:
            if child.is_alive():
                child.terminate()
    signal.signal(signal.SIGTERM, stop)
    try:
        for child in children:
            child.join()
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()


def _child(*args) -> None:
    from dl4f_service.grader import loop

    loop(*args)
