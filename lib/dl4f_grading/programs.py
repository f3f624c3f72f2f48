"""The outputs of a submission's JAX programs, as ``dl4f.verify_programs`` computed them in a sandbox of their own.

A question that asks for a JAX function is judged on what its compiled program computes on the grader's probes,
run in a process that never loaded the student's Python (see ``dl4f.verify_programs``), and on the notebook's
own function giving the same values when the export called it: a function that behaves differently when traced
(or a program forged to look clean) earns nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dl4f_grading import keras_artifacts as art


def outputs(verified: Path | None, name: str, what: str, export_error: object = None) -> list[list[np.ndarray]]:
    """``[[leaf, ...] per probe call]`` of program ``name``; ``AssertionError`` with the reason when there is none
    (``export_error``: why the export could not save it, as the export said)."""
    if verified is None:
        raise AssertionError(f"{what}: its JAX program was not run by the grader")
    error = Path(verified) / f"{name}.error"
    program = Path(verified) / f"{name}.npz"
    reason = None
    if error.is_file() and not error.is_symlink():
        reason = error.read_text(errors="replace")[:300]
    elif not program.exists() and not program.is_symlink():
        reason = f"{name}: no JAX program was exported"
    if reason is not None:
        if export_error is not None and "no JAX program" in reason:
            reason = f"JAX could not compile it ({str(np.asarray(export_error))[:200]}; a callback into Python cannot be)"
        elif "no JAX program" in reason:
            reason += " (did the function run on the grader's inputs? see the export's errors)"
        raise AssertionError(f"{what} must be a JAX function (jax.grad, jax.numpy) that the grader can compile and run "
                             f"on its own: {reason}")
    try:
        arrays = art.read_npz(Path(verified), f"{name}.npz")
    except art.BadArtifact as exc:
        raise AssertionError(f"{what}: the output of its JAX program cannot be read: {exc}") from None
    calls: dict[int, dict[int, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("out_"):
            j, i = (int(x) for x in key[4:].split("_"))
            calls.setdefault(j, {})[i] = np.asarray(value, dtype="float64")
    return [[leaves[i] for i in sorted(leaves)] for _, leaves in sorted(calls.items())]


def same_as_python(program: np.ndarray, python: np.ndarray, what: str, rtol: float = 1e-4) -> None:
    """The function the notebook called must compute what its compiled program computes."""
    program, python = np.asarray(program, dtype="float64"), np.asarray(python, dtype="float64")
    scale = 1.0 + float(np.max(np.abs(program))) if program.size else 1.0
    assert python.size == program.size and np.allclose(python.reshape(program.shape), program, rtol=0,
                                                       atol=rtol * scale), (
        f"{what} returns other values when called than its JAX program computes: it must be one JAX function")
