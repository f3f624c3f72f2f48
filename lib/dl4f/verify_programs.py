"""JAX programs of a graded run, run where no student Python ever ran: the third sandbox of a grading.

Why: a question that asks for a JAX function (a gradient by ``jax.grad``, a loss and its gradient by
``jax.value_and_grad``) cannot be judged from facts recorded in the export's process: the student's code runs
there (when a snapshot is restored, when the export calls or traces a function) and could patch whatever records
the facts. So the export saves each such function as a **compiled JAX program** (``save_program``:
``jax.export`` of the jitted function, serialized StableHLO: data, no Python), and this module, in a fresh
sandbox that loads no snapshot, runs the programs on the grader's probes:

``python -m dl4f.verify_programs --export MODULE`` (in a folder holding ``programs/<name>.jaxexport``, the
grader's ``inputs/`` and an empty ``verified/``): for each ``name, calls`` of ``MODULE.program_probes(inputs)``,
deserializes the program, refuses it unless every custom call it makes is one of XLA's linear algebra kernels
(a callback into Python, ``pure_callback`` or ``io_callback``, could hide SciPy; JAX cannot even serialize one,
but a forged file could hold one), runs it on each call's arguments and writes ``verified/<name>.npz`` (the
outputs' leaves, ``out_<call>_<leaf>``, and the custom calls), or ``verified/<name>.error`` with the reason.

The grader (``dl4f_grading.programs``) then judges these outputs: what the program computes, not what the
notebook's Python said it computes. A program that is correct is the JAX function the question asks for.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import stat
from pathlib import Path

import numpy as np

from dl4f import warm_start

PROGRAMS, VERIFIED = "programs", "verified"
MAX_PROGRAM_MB = 20
# XLA's CPU kernels for linear algebra (solve, inverse, Cholesky...) and sharding annotations: no Python in them
ALLOWED_CUSTOM_CALL = re.compile(r"lapack_\w+|Sharding|SPMDFullToShardShape|SPMDShardToFullShape")
_CUSTOM_CALL = re.compile(r"custom_call\s*@([\w.$-]+)|call_target_name\s*=\s*\"([^\"]+)\"")


def save_program(fn, args, path) -> str:
    """Save ``jax.jit(fn)`` traced on the shapes and types of ``args`` (a pytree of arrays) as a JAX program."""
    import jax

    specs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jax.numpy.asarray(a).dtype), args)
    exported = jax.export.export(jax.jit(fn))(*specs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(exported.serialize())
    return f"saved {path.name}"


def custom_calls(mlir_text: str) -> list[str]:
    """The targets of the custom calls in a program's StableHLO text."""
    return sorted({a or b for a, b in _CUSTOM_CALL.findall(mlir_text)})


def _read_program(folder: Path, name: str) -> bytes:
    path = folder / f"{name}.jaxexport"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise ValueError(f"{name}: no JAX program was exported (see the export's errors)") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_PROGRAM_MB * 2**20:
            raise ValueError(f"{name}: the program is not a regular file under {MAX_PROGRAM_MB} MB")
        return f.read()


def run_program(raw: bytes, calls: list) -> tuple[list[list[np.ndarray]], list[str]]:
    """Deserialize one program, check its custom calls, run it on each call's arguments: (outputs, custom calls)."""
    import jax

    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)  # a program traced in float64 runs in float64 (its types say which)
    try:
        return _run(raw, calls)
    finally:  # the process's setting is left as it was (the tests verify programs in their own process)
        jax.config.update("jax_enable_x64", previous)


def _run(raw: bytes, calls: list) -> tuple[list[list[np.ndarray]], list[str]]:
    import jax

    exported = jax.export.deserialize(bytearray(raw))
    targets = custom_calls(exported.mlir_module())
    refused = [t for t in targets if not ALLOWED_CUSTOM_CALL.fullmatch(t)]
    if refused:
        raise ValueError(f"the program calls {', '.join(refused)}: a callback into Python or a kernel outside "
                         "JAX's own operations")
    outputs = []
    for args in calls:
        leaves, tree = jax.tree.flatten((tuple(args), {}))
        if tree != exported.in_tree or len(leaves) != len(exported.in_avals):
            raise ValueError("the program does not take the grader's arguments")
        cast = []
        for leaf, aval in zip(leaves, exported.in_avals, strict=True):
            value = np.asarray(leaf, dtype=aval.dtype)
            if value.shape != tuple(aval.shape):
                raise ValueError(f"the program takes an array of shape {tuple(aval.shape)}, not {value.shape}")
            cast.append(value)
        positional, keywords = jax.tree.unflatten(tree, cast)
        out = exported.call(*positional, **keywords)
        outputs.append([np.asarray(x, dtype="float64") for x in jax.tree.leaves(out)])
    return outputs, targets


def verify(folder: Path, export_module: str) -> None:
    """Run the programs of ``folder/programs`` on the probes of ``export_module`` into ``folder/verified``."""
    module = importlib.import_module(export_module)
    folder = Path(folder)
    out = folder / VERIFIED
    out.mkdir(exist_ok=True)
    for name, calls in module.program_probes(folder / "inputs").items():
        try:
            outputs, targets = run_program(_read_program(folder / PROGRAMS, name), calls)
            arrays = {f"out_{j}_{i}": leaf for j, leaves in enumerate(outputs) for i, leaf in enumerate(leaves)}
            np.savez(out / f"{name}.npz", custom_calls=np.array(targets or ["none"]), **arrays)
        except Exception as exc:  # noqa: BLE001  (any failure is the reason the program is not credited)
            (out / f"{name}.error").write_text(f"{type(exc).__name__}: {exc}"[:400])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dl4f.verify_programs", description=__doc__.splitlines()[0])
    parser.add_argument("--export", required=True, help="the TP's export module (dl4f.<tp>_artifacts)")
    parser.add_argument("--wait", action="store_true", help="warm up, then wait for 'go' on standard input "
                        "(dl4f.warm_start: the grader starts the verifier while the notebook runs)")
    args = parser.parse_args(argv)
    if args.wait:
        warm_start.lower_priority()  # the notebook's run has the cores first
        importlib.import_module(args.export)
        if not warm_start.wait_for_go(("jax",)):
            return 0
    verify(Path.cwd(), args.export)
    return 0


if __name__ == "__main__":
    warm_start.exit_now(main())  # its files are closed: no teardown
