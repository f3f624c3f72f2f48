"""Time a fresh render of the site: execute every rendered .qmd page as `quarto render` would, one after another.

Each page runs top to bottom in a fresh kernel, in its folder, with Quarto's figure set-up and its inline
expressions, exactly as the page tests run it (``tests/test_site.py``: ``execute_page``). `_freeze/` is not
committed, so a publish executes every page: the sum is the execution part of a fresh render (Quarto's own
Pandoc work adds a few seconds per page). The course's target: under 8 minutes on 2 cores.

    DL4F_DATA_DIR=... .venv/bin/python benchmarks/render_time.py              # every page
    DL4F_DATA_DIR=... .venv/bin/python benchmarks/render_time.py -k rnn/     # pages whose path contains "rnn/"

Prints a table of seconds per page (slowest first) and the total; a page that fails is reported with its error
and counted with the time it ran. No data is downloaded: the pages read the local cache.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 8 * 60


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="match", default="", help="only the pages whose path contains this text")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT / "tests"))
    import test_site  # the page tests' execution: the same kernel set-up as the tests and Quarto

    pages = [page for page in test_site.QMD_PAGES if args.match in page]
    if not pages:
        print(f"no rendered .qmd page matches {args.match!r}", file=sys.stderr)
        return 2
    rows, start = [], time.perf_counter()
    for page in pages:
        t0 = time.perf_counter()
        try:
            _, seconds = test_site.execute_page(page)
            status = "ok"
        except Exception as error:  # noqa: BLE001 (a failing page is reported, the others still timed)
            seconds = time.perf_counter() - t0
            status = f"FAILED: {type(error).__name__}: {str(error).strip().splitlines()[-1][:60]}"
        rows.append((page, seconds, status))
        print(f"{seconds:7.1f} s  {page}  {status}", flush=True)
    wall = time.perf_counter() - start

    width = max(len(page) for page, _, _ in rows)
    print(f"\n{'page':<{width}}  {'seconds':>8}  status")
    for page, seconds, status in sorted(rows, key=lambda row: -row[1]):
        print(f"{page:<{width}}  {seconds:8.1f}  {status}")
    total = sum(seconds for _, seconds, _ in rows)
    print(f"{'total (execution)':<{width}}  {total:8.1f}  {len(rows)} pages, {total / 60:.1f} min")
    print(f"{'wall clock (with kernel starts)':<{width}}  {wall:8.1f}  target {TARGET_SECONDS / 60:.0f} min on 2 cores")
    return 0 if all(status == "ok" for _, _, status in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
