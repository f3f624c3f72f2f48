"""The ``dl4f`` command: manage the data cache, run the RNN practical, build the TP notebooks.

    dl4f data fetch ^GSPC [--start 2000-01-01 --end 2024-01-01]
    dl4f data import ../shared/data/GSPC.csv [more.csv ...] [--ticker ^GSPC]
    dl4f data info
    dl4f data import-skfolio            cache the 20 S&P 500 stocks that ship inside skfolio (offline)
    dl4f tp rnn [--out results/tp-rnn] [--seed 0] [--seeds 1] [--models LSTM GRU ...] [--epochs N]
    dl4f tp release [tp-rnn]            student version: solutions/tp-rnn/ -> exercises/tp-rnn/
    dl4f tp execute [tp-rnn] [--out ..] the solution run top to bottom, saved with its outputs
    dl4f tp collect FOLDER [tp-rnn]     <student>.ipynb files -> submitted/<student>/tp-rnn/
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _data_fetch(args) -> int:
    from dl4f import data

    prices = data.load_prices(args.ticker, args.start, args.end, refresh=True)
    print(f"{args.ticker}: {len(prices)} rows, {prices.index[0].date()} .. {prices.index[-1].date()}, "
          f"cached in {data.cache_path(args.ticker)}")
    return 0


def _data_import(args) -> int:
    from dl4f import data

    if args.ticker and len(args.files) > 1:
        raise ValueError("--ticker names the ticker of ONE file; import several files without it")
    for file in args.files:
        ticker, path, rows = data.import_csv(file, args.ticker)
        print(f"{ticker}: {rows} rows in {path}")
    return 0


def _data_import_skfolio(args) -> int:
    from dl4f import data

    written = data.import_stocks()
    prices = data.load_stocks()  # reads back and checks every file
    print(f"{len(written)} file(s) written, {prices.shape[1]} stocks cached in {data.stocks_dir()}: "
          f"{prices.index[0].date()} .. {prices.index[-1].date()}, {len(prices)} rows")
    return 0


def _data_info(args) -> int:
    from dl4f import data

    info = data.cache_info()
    print(f"cache directory: {data.cache_dir()}  (set DL4F_DATA_DIR to move it)")
    if info.empty:
        print("the cache is empty: seed it with `dl4f data import FILE.csv` or `dl4f data fetch TICKER`")
    else:
        print(info.to_string(index=False))
    return 0


def _tp_rnn(args) -> int:
    from dl4f import evaluation, models, tp_rnn

    unknown = [m for m in args.models or [] if m not in models.BUILDERS]
    if unknown:  # before loading data or training anything
        raise ValueError(f"unknown model(s) {unknown}; choose among {list(models.BUILDERS)}")
    out = Path(args.out)
    t0 = time.perf_counter()
    print(f"Loading {tp_rnn.TICKER} {tp_rnn.START}..{tp_rnn.END} (window {tp_rnn.WINDOW}, horizon {tp_rnn.HORIZON})")
    data = tp_rnn.load_data()
    print(f"  train {data.X_train.shape}, test {data.X_test.shape}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    seeds = range(args.seed, args.seed + args.seeds)
    runs = tp_rnn.run_seeds(data, args.models, seeds=seeds, epochs=args.epochs, progress=print)
    result = runs.first  # the first seed's run: r2.csv and the figures, as with one seed
    paths = tp_rnn.save_outputs(result, data, out) + tp_rnn.save_seed_outputs(runs, out)
    print()
    print(result.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    table = evaluation.format_summary(runs.summary)
    table["TP R²"] = runs.summary["reference_r2"].map(lambda v: "" if v != v else f"{v:.4f}")
    print(f"\nTest metrics over {args.seeds} seed(s), mean ± std (percent units; R² higher is better, "
          "MSE, MAE, QLIKE lower; HAR and GARCH(1,1) are deterministic: one run):")
    print(table.to_string(index=False))
    print(f"\nwrote {', '.join(str(p) for p in paths)}  ({time.perf_counter() - t0:.0f} s)")
    return 0


def _tp_release(args) -> int:
    from dl4f import assignments

    for path in assignments.release(args.assignment):
        print(f"wrote {path.relative_to(assignments.ROOT)} (no solution, no hidden test, no output)")
    return 0


def _tp_execute(args) -> int:
    import os

    from dl4f import assignments

    if args.epochs is not None:
        os.environ["DL4F_TP_EPOCHS"] = str(args.epochs)
    source = assignments.ROOT / "solutions" / args.assignment / f"{args.assignment}.ipynb"
    out = Path(args.out) if args.out else assignments.ROOT / assignments.CORRECTED[args.assignment]
    t0 = time.perf_counter()
    assignments.execute(source, out, timeout=args.timeout, title=assignments.CORRECTED_TITLES.get(args.assignment))
    print(f"executed {source} -> {out} ({time.perf_counter() - t0:.0f} s)")
    return 0


def _tp_collect(args) -> int:
    from dl4f import assignments

    students = assignments.collect(Path(args.folder), args.assignment)
    print(f"collected {len(students)} submission(s) into submitted/<student>/{args.assignment}/: {', '.join(students)}")
    return 0


def _tp_check(args) -> int:
    from dl4f import check

    report = check.check_notebook(Path(args.notebook), timeout_per_cell=args.timeout,
                                  original=Path(args.original) if args.original else None)
    print(check.format_report(report))
    return 0 if report.ok else 1


def _tp_publish(args) -> int:
    from dl4f import publish

    path = publish.publish(args.assignment)
    print(f"{path}: published (no `draft: true`; listed in _quarto.yml's render list and sidebar); commit both, "
          "then render")
    return 0


def _tp_unpublish(args) -> int:
    from dl4f import publish

    path = publish.unpublish(args.assignment)
    print(f"{path}: a draft again (`draft: true`, out of _quarto.yml's render list and sidebar: nothing of it is rendered)")
    return 0


def _tp_wheel(args) -> int:
    from dl4f import student_package

    wheel = student_package.build_student_wheel(Path(args.out))
    print(f"wrote {wheel} (dl4f only; checked: no dl4f_grading, no solutions/, no hidden threshold)")
    return 0


def _tp_grade(args) -> int:
    try:
        from dl4f_grading import engine, grade, sandbox
    except ModuleNotFoundError:
        raise RuntimeError("grading needs the instructor's package dl4f_grading: run it from the course repository "
                           "(pip install -e '.[grading]')") from None
    from dl4f import assignments

    limits = sandbox.Limits(seconds=args.time_limit, memory_gb=args.memory_gb)
    settings = engine.Settings(epochs=args.epochs, limits=limits, cell_timeout=args.cell_timeout)
    t0 = time.perf_counter()
    results = grade.grade_class(assignments.ROOT, args.assignment, settings=settings, workers=args.workers,
                                scheduler=args.scheduler, students=args.students, force=args.force,
                                allow_unsandboxed=args.unsandboxed)
    print(f"\ngraded {len(results)} submission(s) in {time.perf_counter() - t0:.0f} s; results in "
          f"grades/{args.assignment}/, the gradebook and autograded/ (then: nbgrader generate_feedback "
          f"{args.assignment}; nbgrader export)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dl4f", description="Deep Learning for Finance: course tools")
    sub = parser.add_subparsers(dest="command", required=True)

    data_p = sub.add_parser("data", help="the market-data cache").add_subparsers(dest="action", required=True)
    fetch = data_p.add_parser("fetch", help="download a ticker from Yahoo Finance into the cache")
    fetch.add_argument("ticker")
    fetch.add_argument("--start", default=None)
    fetch.add_argument("--end", default=None, help="exclusive, as in yfinance")
    fetch.set_defaults(func=_data_fetch)
    imp = data_p.add_parser("import", help="seed the cache from CSV files with yfinance's columns")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--ticker", default=None, help="ticker of the file (default: from its name, GSPC.csv -> ^GSPC)")
    imp.set_defaults(func=_data_import)
    data_p.add_parser("info", help="what the cache holds").set_defaults(func=_data_info)
    data_p.add_parser("import-skfolio", help="cache the 20 S&P 500 stocks shipped by skfolio (no network)").set_defaults(
        func=_data_import_skfolio)

    tp = sub.add_parser("tp", help="practical assignments").add_subparsers(dest="tp", required=True)
    rnn = tp.add_parser("rnn", help="run the RNN TP's model comparison and write its table and figures")
    rnn.add_argument("--out", default="results/tp-rnn", help="output folder (default: results/tp-rnn)")
    rnn.add_argument("--seed", type=int, default=0)
    rnn.add_argument("--models", nargs="+", default=None, help="a subset of the models, by name")
    rnn.add_argument("--epochs", type=int, default=None, help="override the number of epochs (quick runs)")
    rnn.add_argument("--seeds", type=int, default=1,
                     help="train each network with N seeds (--seed .. --seed+N-1); metrics.csv holds mean and std")
    rnn.set_defaults(func=_tp_rnn)
    rel = tp.add_parser("release", help="generate the student version: solutions/<tp>/ -> exercises/<tp>/ (nbgrader)")
    rel.add_argument("assignment", nargs="?", default="tp-rnn")
    rel.set_defaults(func=_tp_release)
    exe = tp.add_parser("execute", help="run the solution notebook and save it with its outputs (the corrected TP)")
    exe.add_argument("assignment", nargs="?", default="tp-rnn")
    exe.add_argument("--out", default=None, help="output notebook (default: chapters/rnn/tp-rnn-corrected.ipynb)")
    exe.add_argument("--epochs", type=int, default=None, help="override the number of epochs (quick runs)")
    exe.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    exe.set_defaults(func=_tp_execute)
    col = tp.add_parser("collect", help="copy a folder of submissions (<student>.ipynb) into submitted/ for nbgrader")
    col.add_argument("folder")
    col.add_argument("assignment", nargs="?", default="tp-rnn")
    col.set_defaults(func=_tp_collect)
    chk = tp.add_parser("check", help="run a TP notebook's visible tests in a fresh kernel (as nbgrader's Validate); "
                                      "exit 1 if one fails")
    chk.add_argument("notebook", help="the notebook to check, e.g. tp-rnn.ipynb")
    chk.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    chk.add_argument("--original", default=None,
                     help="the student version to compare locked cells with (default: exercises/<tp>/<tp>.ipynb)")
    chk.set_defaults(func=_tp_check)
    pub = tp.add_parser("publish", help="publish the corrected TP page (removes `draft: true`, lists it in _quarto.yml)")
    pub.add_argument("assignment", nargs="?", default="tp-rnn")
    pub.set_defaults(func=_tp_publish)
    unp = tp.add_parser("unpublish", help="make the corrected TP page a draft again and take it out of _quarto.yml")
    unp.add_argument("assignment", nargs="?", default="tp-rnn")
    unp.set_defaults(func=_tp_unpublish)
    whl = tp.add_parser("wheel", help="build the students' wheel of dl4f (without dl4f_grading) into a folder")
    whl.add_argument("--out", default="wheels", help="output folder (default: wheels/, published by the site)")
    whl.set_defaults(func=_tp_wheel)
    grd = tp.add_parser("grade", help="grade every submission in submitted/ (sandboxed, checks outside the student's "
                                      "process, in parallel, resumable) into the gradebook")
    grd.add_argument("assignment", nargs="?", default="tp-rnn")
    grd.add_argument("--workers", type=int, default=None, help="parallel submissions (default: one per core)")
    grd.add_argument("--scheduler", default=None, help="address of a Dask scheduler (tcp://host:8786) to grade on")
    grd.add_argument("--students", nargs="+", default=None, help="grade only these students")
    grd.add_argument("--force", action="store_true", help="re-grade submissions already graded and unchanged")
    grd.add_argument("--epochs", type=int, default=None, help="training epochs in the notebook (fewer than the "
                                                              "recipe: quick thresholds; for tests)")
    grd.add_argument("--time-limit", type=float, default=1800, help="seconds per notebook (default 1800)")
    grd.add_argument("--cell-timeout", type=int, default=600, help="seconds per cell (default 600)")
    grd.add_argument("--memory-gb", type=float, default=8, help="memory of one submission, all processes (default 8)")
    grd.add_argument("--unsandboxed", action="store_true", help="grade without bubblewrap (UNSAFE: a submission can "
                                                                "then read and change the course's files)")
    grd.set_defaults(func=_tp_grade)
    try:  # the submission service (`dl4f serve`, `dl4f worker`, `dl4f service ...`): instructors only, not in the wheel
        from dl4f_service.cli import add_parsers
    except ImportError:
        return parser
    add_parsers(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:  # DataError is a RuntimeError
        print(f"dl4f: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dl4f: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
