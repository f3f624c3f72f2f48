"""Grading throughput and the cost of the security boundary, measured side by side in one run.

1. **Plain run**: the composed submission executed by nbclient in this machine's environment, no sandbox, no
   export of artifacts, no checks (what ``nbgrader autograde`` used to cost, hidden tests aside).
2. **Graded**: the same submission through ``dl4f_grading.engine`` (the notebook in a bubblewrap sandbox, then the
   export in a second, fresh sandbox, for tp-intro and tp-optimization the JAX programs in a third, then the checks
   in the judge's process). The judge's, the export's and the programs' processes start while the notebook runs,
   below its priority (their imports overlap it; the judge draws the grader's inputs meanwhile) and wait. The
   graded time is the engine's for the submission in its worker (what each submission of a class costs); a
   worker's own start (spawn, imports: once per worker) is printed apart. The submission is graded first with the
   judges' compilation cache empty (a class's first submission), then ``--repeat`` times warm (every other one),
   each beside a plain run (the machine's slow and fast spells fall on both): medians reported. Two figures:
   the **fixed costs** after the run (export, programs, judge, the engine's own) as a share of the graded time,
   goal < 15 %; and the whole **overhead** (graded - plain) / graded, which also holds what the sandboxed run costs
   beyond the plain one (the sandbox's start, 0.2 s; the waiting processes' imports on the cores the notebook
   leaves idle). The fixed costs are itemised: the export (each step: calling the student's code on the grader's
   inputs, building the probes' models; and how much of the export's warm-up was done before ``go``), the
   programs, the judge.
3. **Throughput**: ``--copies`` copies of the submission graded by ``grade_class`` with 1, then 2 workers:
   submissions per hour.

    python benchmarks/grading.py [--tp tp-rnn tp-intro ...] [--epochs 1] [--copies 2] [--workers 1 2] [--repeat 3]

The submission is the reference solution (``solutions/<tp>``) with its answers in the student version (the ``full``
submission of ``tests/submissions_<tp>.py``). With ``--epochs 1`` the notebook trains one epoch per model (as CI
does); without it, the TP's recipe.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dl4f import assignments  # noqa: E402
from dl4f_grading import compose, engine, grade, judge, sandbox  # noqa: E402


def make_course(folder: Path, tp: str) -> tuple[Path, bytes]:
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "solutions" / tp, folder / "solutions" / tp)
    assignments.release(tp, root=folder)
    student = nbformat.read(folder / "exercises" / tp / f"{tp}.ipynb", as_version=4)
    source = nbformat.read(folder / "solutions" / tp / f"{tp}.ipynb", as_version=4)
    corpus = importlib.import_module("submissions_" + tp.replace("-", "_"))
    extra = (folder,) if len(inspect.signature(corpus.build).parameters) == 3 else ()  # tp-rnn's takes the course
    return folder, corpus.build(student, source, *extra)["full"]


def plain_run(course: Path, raw: bytes, epochs: int | None, tp: str) -> float:
    """Execute the composed notebook with nbclient, unsandboxed, without export: the baseline."""
    from nbclient import NotebookClient

    release = nbformat.read(course / "exercises" / tp / f"{tp}.ipynb", as_version=4)
    nb = compose.compose(release, compose.read_submission(raw)).notebook
    if epochs is not None:
        os.environ["DL4F_TP_EPOCHS"] = str(epochs)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": tmp}}).execute()
        seconds = time.perf_counter() - t0
    os.environ.pop("DL4F_TP_EPOCHS", None)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tp", nargs="+", default=["tp-rnn"], help="the TPs (default tp-rnn)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="plain and graded runs side by side (medians)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    sandbox.require()
    start = sandbox_start()
    print(f"sandbox start (python -c pass in bubblewrap): {start:.1f} s", flush=True)
    for tp in args.tp:
        print(f"== {tp}", flush=True)
        measure(tp, args, start)


def sandbox_start() -> float:
    """Seconds to start a sandbox and a Python in it (the median of 3)."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            scratch = Path(tmp) / "scratch"
            scratch.mkdir(exist_ok=True)
            t0 = time.perf_counter()
            sandbox.run([sys.executable, "-c", "pass"], scratch, sandbox.Limits(seconds=60))
            times.append(time.perf_counter() - t0)
    return sorted(times)[1]


def measure(tp: str, args, start: float) -> None:
    settings = engine.Settings(epochs=args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        course, raw = make_course(Path(tmp), tp)
        for student in ("bench",):
            folder = course / "submitted" / student / tp
            folder.mkdir(parents=True)
            (folder / f"{tp}.ipynb").write_bytes(raw)
        # the judges' compilation cache: cold at a class's first submission, warm for the others (steady state)
        os.environ[judge.CACHE_ENV] = str(Path(tmp) / "judge-cache")
        t0 = time.perf_counter()
        (first,) = grade.grade_class(course, tp, settings=settings, workers=1, students=["bench"], progress=lambda s: None)
        cold = time.perf_counter() - t0
        print(f"first submission of a class (the judges' cache cold): {cold:.0f} s, "
              f"judge {first['seconds']['judge']:.0f} s; then (warm), plain and graded side by side "
              f"{args.repeat} time(s), medians:", flush=True)
        plains, graded = [], []
        for _ in range(args.repeat):  # alternated: the machine's slow and fast spells fall on both
            plains.append(plain_run(course, raw, args.epochs, tp))
            t0 = time.perf_counter()
            (result,) = grade.grade_class(course, tp, settings=settings, workers=1, students=["bench"], force=True,
                                          progress=lambda s: None)
            graded.append((result["seconds"]["total"], time.perf_counter() - t0, result))
        plain = statistics.median(plains)
        total, with_start, result = sorted(graded, key=lambda g: g[0])[len(graded) // 2]
        print(f"plain run (nbclient, no sandbox, no export, no checks): {plain:.1f} s "
              f"({', '.join(f'{p:.1f}' for p in plains)})", flush=True)
        seconds = result["seconds"]
        verify = seconds.get("verify")
        # per submission: the engine's time for it in a worker (what every submission of a class costs); the
        # worker's start (a process pool's spawn and imports, once per worker and class) is printed apart
        inside = seconds["run"] + seconds["export"] + (verify or 0) + seconds["judge"]
        after = total - seconds["run"]  # the fixed costs: everything the boundary adds once the notebook has run
        print(f"graded (sandbox + export + judge): {total:.1f} s = run {seconds['run']:.1f} s + export "
              f"{seconds['export']:.1f} s + " + (f"JAX programs {verify:.1f} s + " if verify else "") +
              f"judge {seconds['judge']:.1f} s + the engine's own {total - inside:.1f} s "
              f"({', '.join(f'{g[0]:.1f}' for g in graded)}); score {result['score']:g}/{result['max_score']:g}; "
              f"peak memory {result['peak_memory_gb']:.1f} GB; with a new worker's start: {with_start:.0f} s",
              flush=True)
        print(f"fixed costs after the run (export, programs, judge, the engine's own): {after:.1f} s = "
              f"{after / total:.1%} of the graded time (goal < 15 %)", flush=True)
        print(f"overhead of the boundary, the sandboxed run's own included: {(total - plain) / total:.1%} of the "
              f"graded time (the sandboxed run {seconds['run']:.1f} s against the plain {plain:.1f} s)", flush=True)
        steps = dict(seconds.get("export_steps", {}))
        warmed = {k: steps.pop(k) for k in list(steps) if k.startswith("warm-up")}  # counts, not seconds
        steps = ", ".join(f"{k} {v:.1f}" for k, v in sorted(steps.items(), key=lambda kv: -kv[1]))
        if warmed:
            steps += (f"; its warm-up before go: {warmed.get('warm-up steps', 0):g} steps"
                      + (" (all)" if warmed.get("warm-up done") else ""))
        starts = 3 if verify else 2
        print(f"fixed costs: {starts} sandbox starts {starts * start:.1f} s; "
              f"export {seconds.get('export', 0):.1f} s ({steps}); judge {seconds.get('judge', 0):.1f} s", flush=True)
        for k in range(args.copies):
            folder = course / "submitted" / f"copy{k}" / tp
            folder.mkdir(parents=True)
            (folder / f"{tp}.ipynb").write_bytes(raw)
        copies = [f"copy{k}" for k in range(args.copies)]
        for workers in args.workers if copies else []:
            t0 = time.perf_counter()
            results = grade.grade_class(course, tp, settings=settings, workers=workers, students=copies, force=True,
                                        progress=lambda s: None)
            seconds = time.perf_counter() - t0
            scores = sorted({r["score"] for r in results})
            print(f"{workers} worker(s): {args.copies} submissions in {seconds:.0f} s = "
                  f"{3600 * args.copies / seconds:.1f} submissions/hour (scores {scores})", flush=True)


if __name__ == "__main__":
    main()
