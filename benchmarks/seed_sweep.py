"""Does the reference solution pass every graded cell for every secret seed? A sweep of the grader's seeds.

The grader draws its secret inputs per attempt from a seed (``engine.student_seed``); a check whose threshold was
calibrated on a few seeds can fail a correct answer on others. For one TP, this script runs the reference solution
(``solutions/<tp>/<tp>.ipynb``, its answers composed into the student version ``exercises/<tp>/<tp>.ipynb`` as
``dl4f tp grade`` does) ONCE, in this process (IPython's shell, at the instructor's quick setting ``--epochs``,
default 1, as ``engine.Settings(epochs=1)`` gives the sandbox), saves and restores the export's objects as the
sandbox's runs do (``dl4f.snapshot``, ``export_run.restore``), then for each seed only: writes the grader's inputs
(``<grader>.inputs``), runs the export on the restored namespace (``export_artifacts``), for a TP that saves JAX
programs runs them on the grader's probes (``verify_programs.verify``, as ``engine._verify`` does), and decides
every graded cell with the grader's own ``judge`` at the engine's ``quick`` setting. The judge (and the verifier)
run in a worker process that never ran the notebook (the engine's judge is a fresh process too); it judges one seed
while this process exports the next. No sandbox: the reference solution is the instructor's trusted code.

    DL4F_DATA_DIR=... python benchmarks/seed_sweep.py --tp tp-optimization --seeds 100 [--start 0] [--epochs 1]
        [--out /tmp/sweep/tp-optimization.jsonl]

It prints, per graded cell, how many seeds failed, which, and the distinct failure messages (unredacted: this is
the instructor's view), and exits 1 if any cell failed for any seed. ``--out`` keeps every seed's verdicts (JSON
lines), pass messages included (they show the measured values against each threshold).

Measured (2026-12-03, ``--epochs 1``, seeds from 0, a 2-core machine shared with other jobs, load 4 to 7; s/seed is
the loop's wall time per seed, after the notebook's one run):

    TP               seeds  s/seed  notebook  cells failed
    tp-optimization    100     3.2      19 s  none (q3_optimum's worst gap 7.7e-5 < 1e-3; q3_gradient 4.8e-11 < 1e-4)
    tp-intro           100    12.2      12 s  q5_matches_fit at seed 43 (below)
    tp-transformer     110    13-19     38 s  none (two runs, 0-48 and 49-109, each stopped by Ctrl-C; q2_equals_keras's
                                              worst error 4.7e-6 < 1e-5 x max(1, |ref|))
    tp-callbacks       100     5.2      15 s  none
    tp-rnn             100     7.5      97 s  none (commit c7a6496: q4_trains, best of 2 tasks, lowest 0.654 >= 0.4)

tp-intro seed 43: ``fit_by_hand``'s epoch losses are off by 8.1e-4 (tolerance 1e-4 x 1.53). Not a wrong answer: on
the grader's SGD path of that task a ReLU pre-activation passes 5.7e-7 from 0, where the float32 training and the
float64 reference take different sides of the kink (a NumPy replay of the 2 epochs: 1 task in 2000 seeds, the
others within 1e-6). ``engine.grade_submission`` (sandboxed) gives the solution 27/30 at that seed, the same message.
Fixed since: ``tp_intro.train_task`` draws again until every ReLU input of the reference path is 1e-4 from the kink;
``--tp tp-intro --start 42 --seeds 3``: all passed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax before keras is imported)
from dl4f import export_run, snapshot
from dl4f.verify_programs import MAX_PROGRAM_MB, PROGRAMS, VERIFIED, verify
from dl4f_grading import compose, engine, judge, source_checks

ROOT = Path(__file__).resolve().parents[1]
TPS = ("tp-intro", "tp-optimization", "tp-transformer", "tp-callbacks", "tp-rnn")


def run_solution(tp: str, log: Path) -> tuple[dict, compose.Composed, list[str]]:
    """Run the composed reference solution once in this process; returns (its namespace, the composition, the
    errors its cells raised). Every output goes to ``log``."""
    from IPython.core.interactiveshell import InteractiveShell

    raw = (ROOT / "solutions" / tp / f"{tp}.ipynb").read_bytes()
    release = compose.read_submission((ROOT / "exercises" / tp / f"{tp}.ipynb").read_bytes())
    composed = compose.compose(release, compose.read_submission(raw))
    os.environ.setdefault("MPLBACKEND", "Agg")
    main, errors = sys.modules["__main__"], []
    shell = InteractiveShell.instance()
    with open(log, "w") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        for cell in composed.notebook.cells:
            if cell.cell_type == "code":
                # no GUI in this shell: figures stay in matplotlib's Agg backend (never drawn)
                code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%matplotlib"))
                result = shell.run_cell(code, store_history=True)
                if not result.success:
                    errors.append(repr(result.error_before_exec or result.error_in_exec)[:300])
    sys.modules["__main__"] = main  # the shell took its place: the worker finds this script's functions by it
    return shell.user_ns, composed, errors


def restored(namespace: dict, names, folder: Path) -> dict:
    """The export's objects after the sandbox's round trip: saved after the last cell, restored in the export."""
    snapshot.snapshot(namespace, list(names), [], str(folder), everything=True)
    objects, missing = export_run.restore(names, folder)
    for name, why in missing.items():
        print(f"  not restored: {name}: {why}")
    return objects


def judge_seed(tp: str, folder: str, seed: int, quick: bool, cells: list, source: str, answers: dict) -> dict:
    """In the worker: the JAX programs run on the grader's probes (``engine._verify``, unsandboxed), then the judge."""
    module, folder = judge.tp_module(tp), Path(folder)
    extra = {}
    if hasattr(importlib.import_module(module.EXPORT_MODULE), "program_probes"):
        check = folder / "verify"
        engine._copy_regular_files(folder / "artifacts" / PROGRAMS, check / PROGRAMS,
                                   lambda name: name.endswith(".jaxexport"), MAX_PROGRAM_MB)
        module.inputs(seed, check / "inputs")  # the probes again, from the seed: not the export's copy
        verify(check, module.EXPORT_MODULE)
        extra["verified"] = str(check / VERIFIED)
    return module.judge(folder / "artifacts", source, seed, quick, cells, answers=answers, **extra)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tp", required=True, choices=TPS)
    parser.add_argument("--seeds", type=int, default=30, help="number of seeds (default 30)")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--epochs", type=int, default=1, help="the notebook's epochs (engine.Settings; default 1)")
    parser.add_argument("--out", type=Path, default=None, help="JSON lines of every seed's verdicts")
    args = parser.parse_args(argv)
    settings = engine.Settings(epochs=args.epochs, sandboxed=False)
    os.environ.update(engine._env(settings))  # DL4F_TP_EPOCHS, for the notebook and the export, as in the sandbox
    module = judge.tp_module(args.tp)
    export = importlib.import_module(module.EXPORT_MODULE)
    quick = settings.epochs is not None and settings.epochs < module.RECIPE_EPOCHS  # as engine.grade_submission
    solution = compose.read_submission((ROOT / "solutions" / args.tp / f"{args.tp}.ipynb").read_bytes())
    cells = [c["grade_id"] for c in engine.graded_cells(solution)]
    work = Path(tempfile.mkdtemp(prefix="dl4f-seed-sweep-"))
    t0 = time.perf_counter()
    namespace, composed, errors = run_solution(args.tp, work / "notebook.log")
    print(f"{args.tp}: notebook run in {time.perf_counter() - t0:.0f} s, {len(errors)} cells raised", *errors, sep="\n  ")
    namespace = restored(namespace, export.NAMES, work / "snapshot")
    text = source_checks.notebook_code(compose.code_cells(composed))
    failures, judged, out = defaultdict(dict), [], open(args.out, "w") if args.out else None  # noqa: SIM115

    def record(seed: int, folder: Path, future) -> None:
        verdicts = future.result()
        shutil.rmtree(folder, ignore_errors=True)
        judged.append(seed)
        for gid in cells:
            v = verdicts.get(gid, {"passed": False, "message": "not checked"})
            if not v.get("passed"):
                failures[gid][seed] = str(v.get("message"))
        if out:
            out.write(json.dumps({"seed": seed, "verdicts": verdicts}) + "\n")
            out.flush()
        bad = [gid for gid in cells if seed in failures[gid]]
        print(f"seed {seed}: {'FAILED ' + ', '.join(bad) if bad else 'all passed'}", flush=True)

    t1, pending = time.perf_counter(), None
    # the judge in a fresh interpreter (spawn: never fork a process where JAX runs), one seed behind the export
    try:  # Ctrl-C (SIGINT) stops the sweep and reports the seeds judged so far
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for seed in range(args.start, args.start + args.seeds):
                folder = work / str(seed)
                module.inputs(seed, folder / "inputs")
                export.export_artifacts(namespace, folder / "artifacts", folder / "inputs")
                future = pool.submit(judge_seed, args.tp, str(folder), seed, quick, cells, text, composed.answers)
                if pending:
                    record(*pending)
                pending = (seed, folder, future)
            record(*pending)
    except KeyboardInterrupt:
        print("interrupted")
    per_seed = (time.perf_counter() - t1) / max(1, len(judged))
    print(f"\n{args.tp}: {len(judged)} seeds ({min(judged, default=0)}-{max(judged, default=0)}), {per_seed:.1f} s per "
          f"seed, quick={quick}")
    for gid in cells:
        failed = failures.get(gid, {})
        print(f"  {gid:28s} failed {len(failed):3d} / {len(judged)}" + (f"  seeds {sorted(failed)}" if failed else ""))
        for message in sorted(set(failed.values()))[:5]:
            print(f"      {message[:400]}")
    shutil.rmtree(work, ignore_errors=True)
    if out:
        out.close()
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
