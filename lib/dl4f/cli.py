"""The ``dl4f`` command: manage the data cache, run the RNN practical, build the TP notebooks.

    dl4f data fetch ^GSPC [--start 2000-01-01 --end 2024-01-01]
    dl4f data import ../shared/data/GSPC.csv [more.csv ...] [--ticker ^GSPC]
    dl4f data info
    dl4f tp rnn [--out results/tp-rnn] [--seed 0] [--models LSTM GRU ...] [--epochs N]
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
    from dl4f import models, tp_rnn

    unknown = [m for m in args.models or [] if m not in models.BUILDERS]
    if unknown:  # before loading data or training anything
        raise ValueError(f"unknown model(s) {unknown}; choose among {list(models.BUILDERS)}")
    out = Path(args.out)
    t0 = time.perf_counter()
    print(f"Loading {tp_rnn.TICKER} {tp_rnn.START}..{tp_rnn.END} (window {tp_rnn.WINDOW}, horizon {tp_rnn.HORIZON})")
    data = tp_rnn.load_data()
    print(f"  train {data.X_train.shape}, test {data.X_test.shape}")
    result = tp_rnn.run_comparison(data, names=args.models, seed=args.seed, epochs=args.epochs, progress=print)
    paths = tp_rnn.save_outputs(result, data, out)
    print()
    print(result.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
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

    tp = sub.add_parser("tp", help="practical assignments").add_subparsers(dest="tp", required=True)
    rnn = tp.add_parser("rnn", help="run the RNN TP's model comparison and write its table and figures")
    rnn.add_argument("--out", default="results/tp-rnn", help="output folder (default: results/tp-rnn)")
    rnn.add_argument("--seed", type=int, default=0)
    rnn.add_argument("--models", nargs="+", default=None, help="a subset of the models, by name")
    rnn.add_argument("--epochs", type=int, default=None, help="override the number of epochs (quick runs)")
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
