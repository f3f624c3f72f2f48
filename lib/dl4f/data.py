"""Daily prices: download from Yahoo Finance through yfinance, keep a local cache, derive returns.

One CSV file per ticker lives in the cache directory (``DL4F_DATA_DIR``, default the user cache dir).
Its first line is a header written by dl4f::

    # dl4f-cache v1 ticker=^GSPC rows=6539 sha256=<hash of the rest of the file>

so a truncated or edited file is detected and reported instead of being used. Files are written to a
temporary name and renamed, so a crash never leaves half a file behind.

A request whose dates are inside what the cache holds is served from the cache and never touches the
network. Otherwise yfinance is asked; when that fails the error says why and how to seed the cache.

``load_stocks`` serves 20 S&P 500 stocks (daily closes, 1990-2022) that ship inside the skfolio package:
cached on first use in ``<cache>/sp500-skfolio/``, in the same format, without any network.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["Open", "High", "Low", "Close", "Volume"]
CACHE_MAGIC = "# dl4f-cache v1"
# A cache whose first (last) row is at most this many calendar days after (before) the requested start
# (end) still covers the request: the gap is a weekend or a market holiday, not missing data.
HOLIDAY_SLACK_DAYS = 4
# Yahoo's index tickers start with '^'; a file named GSPC.csv is imported as ^GSPC.
KNOWN_INDICES = {"GSPC", "VIX", "DJI", "IXIC", "NDX", "RUT", "FTSE", "GDAXI", "FCHI", "N225", "STOXX50E", "HSI"}


class DataError(RuntimeError):
    """Market data could not be served. The message says what to do."""


class CacheMissError(DataError):
    """Not in the cache, and Yahoo could not be reached."""


class CorruptCacheError(DataError):
    """A cache file exists but is truncated, edited or unreadable."""


class UnknownTickerError(DataError):
    """Yahoo does not know this ticker (or has no prices for it)."""


class RateLimitError(DataError):
    """Yahoo refused the request because too many were sent."""


class EmptyDataError(DataError):
    """The answer (from Yahoo or the cache) has no rows in the requested period."""


# --------------------------------------------------------------------------- cache location and files


def cache_dir() -> Path:
    """The cache directory: ``$DL4F_DATA_DIR`` if set, else the user cache dir (``~/.cache/dl4f`` on Linux)."""
    env = os.environ.get("DL4F_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("dl4f"))


def _check_ticker(ticker: str) -> str:
    if not isinstance(ticker, str) or not ticker.strip():
        raise ValueError(f"ticker must be a non-empty string such as '^GSPC', got {ticker!r}")
    ticker = ticker.strip().upper()
    if any(c in ticker for c in "/\\") or ticker in {".", ".."}:
        raise ValueError(f"ticker {ticker!r} contains a path separator; use Yahoo's symbol, e.g. '^GSPC'")
    return ticker


def cache_path(ticker: str, directory: Path | None = None) -> Path:
    """Where the cache file of ``ticker`` lives (``^GSPC`` -> ``<cache>/^GSPC.csv``)."""
    return Path(directory or cache_dir()) / f"{_check_ticker(ticker)}.csv"


def _seed_hint(ticker: str) -> str:
    return (
        f"Seed the cache from a CSV with the yfinance columns (Date,Open,High,Low,Close[,Adj Close,Volume]):\n"
        f"    dl4f data import PATH/TO/{ticker.lstrip('^')}.csv\n"
        f"(the course repository's CI uses ../shared/data/), or run `dl4f data fetch {ticker}` once online."
    )


def write_cache(ticker: str, prices: pd.DataFrame, directory: Path | None = None) -> Path:
    """Atomically write ``prices`` as the cache file of ``ticker`` and return its path."""
    prices = _normalise(prices, source=f"prices for {ticker}")
    path = cache_path(ticker, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    prices.to_csv(buffer, index_label="Date", float_format="%.10g")
    body = buffer.getvalue().encode()
    header = f"{CACHE_MAGIC} ticker={_check_ticker(ticker)} rows={len(prices)} sha256={hashlib.sha256(body).hexdigest()}\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header.encode() + body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_cache(ticker: str, directory: Path | None = None) -> pd.DataFrame | None:
    """The cached prices of ``ticker``, or None when there is no cache file. Raises CorruptCacheError."""
    path = cache_path(ticker, directory)
    if not path.exists():
        return None
    raw = path.read_bytes()
    first, _, body = raw.partition(b"\n")
    fields = dict(f.split("=", 1) for f in first.decode(errors="replace").split()[3:] if "=" in f)
    problem = None
    if not first.decode(errors="replace").startswith(CACHE_MAGIC):
        problem = "it has no dl4f header (it was not written by dl4f)"
    elif hashlib.sha256(body).hexdigest() != fields.get("sha256"):
        problem = "its checksum does not match (the file is truncated or was edited)"
    if problem is None:
        try:
            prices = pd.read_csv(io.BytesIO(body), index_col="Date", parse_dates=["Date"])
            prices = _normalise(prices, source=str(path))
        except (ValueError, KeyError) as exc:
            problem = f"it cannot be parsed ({exc})"
        else:
            if str(len(prices)) != fields.get("rows"):
                problem = f"it holds {len(prices)} rows, its header says {fields.get('rows')}"
    if problem:
        raise CorruptCacheError(
            f"The cache file {path} is not usable: {problem}. It was left untouched. "
            f"Delete it and seed it again:\n{_seed_hint(ticker)}"
        )
    return prices


# --------------------------------------------------------------------------- shape of a price frame


def _normalise(prices: pd.DataFrame, source: str) -> pd.DataFrame:
    """A plain daily OHLCV frame: single-level columns, naive DatetimeIndex named Date, sorted, no duplicates."""
    if not isinstance(prices, pd.DataFrame):
        raise ValueError(f"{source}: expected a pandas DataFrame, got {type(prices).__name__}")
    frame = prices.copy()
    if isinstance(frame.columns, pd.MultiIndex):  # yfinance >= 0.2.48: ('Close', '^GSPC'), ...
        frame.columns = frame.columns.get_level_values(0)
    frame.columns = [str(c).strip() for c in frame.columns]
    if "Date" in frame.columns:
        frame = frame.set_index("Date")
    if "Close" not in frame.columns:
        raise ValueError(f"{source}: no 'Close' column (columns are {list(frame.columns)})")
    if "Adj Close" in frame.columns:  # what auto_adjust=True does: scale OHLC by Adj Close / Close
        ratio = frame["Adj Close"] / frame["Close"]
        for col in ("Open", "High", "Low", "Close"):
            if col in frame.columns:
                frame[col] = frame[col] * ratio
    frame = frame[[c for c in COLUMNS if c in frame.columns]]
    index = pd.to_datetime(frame.index)
    if getattr(index, "tz", None) is not None:
        index = index.tz_localize(None)
    frame.index = index.normalize()
    frame.index.name = "Date"
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    frame = frame.apply(pd.to_numeric, errors="coerce")
    if frame["Close"].isna().all():
        raise ValueError(f"{source}: the Close column holds no numbers")
    return frame


def _covers(prices: pd.DataFrame, start, end) -> bool:
    if prices.empty:
        return False
    slack = pd.Timedelta(days=HOLIDAY_SLACK_DAYS)
    ok_start = start is None or prices.index[0] <= pd.Timestamp(start) + slack
    # `end` is exclusive, as in yfinance: the last day wanted is end - 1 day.
    ok_end = end is None or prices.index[-1] >= pd.Timestamp(end) - pd.Timedelta(days=1) - slack
    return bool(ok_start and ok_end)


def _select(prices: pd.DataFrame, start, end) -> pd.DataFrame:
    mask = np.ones(len(prices), dtype=bool)
    if start is not None:
        mask &= prices.index >= pd.Timestamp(start)
    if end is not None:
        mask &= prices.index < pd.Timestamp(end)
    return prices.loc[mask]


# --------------------------------------------------------------------------- network


def download(ticker: str, start=None, end=None) -> pd.DataFrame:
    """Ask Yahoo (through yfinance) for daily auto-adjusted prices. Raises a DataError subclass on failure."""
    ticker = _check_ticker(ticker)
    try:
        import yfinance as yf
        from yfinance import exceptions as yfe
    except ImportError as exc:  # pragma: no cover - yfinance is a dependency
        raise CacheMissError(f"yfinance is not installed and {ticker} is not cached.\n{_seed_hint(ticker)}") from exc
    kwargs = {"start": start, "end": end} if (start or end) else {"period": "max"}
    yf_logger = logging.getLogger("yfinance")
    level = yf_logger.level
    yf_logger.setLevel(logging.CRITICAL)  # yfinance logs each failure itself; dl4f raises one clear error instead
    try:
        frame = yf.Ticker(ticker).history(auto_adjust=True, raise_errors=True, **kwargs)
    except yfe.YFRateLimitError as exc:
        raise RateLimitError(
            f"Yahoo Finance is rate-limiting this machine ({exc}). Wait a few minutes and retry; "
            f"meanwhile the cache serves what it holds.\n{_seed_hint(ticker)}"
        ) from exc
    except (yfe.YFTzMissingError, yfe.YFPricesMissingError, getattr(yfe, "YFTickerMissingError", yfe.YFException)) as exc:
        text = str(exc).lower()
        if any(word in text for word in ("resolve", "connect", "timed out", "network", "curl")):
            raise CacheMissError(_offline_message(ticker, exc)) from exc
        raise UnknownTickerError(
            f"Yahoo Finance has no daily prices for {ticker!r} ({exc}). Check the symbol on finance.yahoo.com: "
            f"indices start with '^' (^GSPC for the S&P 500, ^VIX for the VIX)."
        ) from exc
    except Exception as exc:  # network errors come from requests/curl_cffi with many types
        raise CacheMissError(_offline_message(ticker, exc)) from exc
    finally:
        yf_logger.setLevel(level)
    if frame is None or frame.empty:
        raise EmptyDataError(f"Yahoo Finance returned no rows for {ticker} between {start} and {end}.")
    return _normalise(frame, source=f"Yahoo's answer for {ticker}")


def _offline_message(ticker: str, exc: Exception) -> str:
    return (
        f"{ticker} is not in the cache ({cache_dir()}) for this period and Yahoo Finance could not be reached "
        f"({type(exc).__name__}: {str(exc)[:200]}).\n{_seed_hint(ticker)}"
    )


# --------------------------------------------------------------------------- public API


def load_prices(ticker: str, start=None, end=None, *, refresh: bool = False) -> pd.DataFrame:
    """Daily prices of ``ticker`` in ``[start, end)``, as ``yf.download(ticker, start, end, auto_adjust=True)``.

    Returns a plain DataFrame (single-level columns Open, High, Low, Close[, Volume]; DatetimeIndex ``Date``).
    Served from the cache when the cache covers the period; otherwise downloaded and cached. With
    ``refresh=True`` the cache is bypassed (and updated, merged with what it held).
    """
    ticker = _check_ticker(ticker)
    if start is not None and end is not None and pd.Timestamp(start) >= pd.Timestamp(end):
        raise ValueError(f"start ({start}) must be before end ({end}); end is exclusive, as in yfinance")
    cached = read_cache(ticker)
    if cached is not None and not refresh and _covers(cached, start, end):
        prices = _select(cached, start, end)
    else:
        try:
            fresh = download(ticker, start, end)
        except CacheMissError:
            if cached is not None:
                raise CacheMissError(
                    f"The cache holds {ticker} from {cached.index[0].date()} to {cached.index[-1].date()}, which does "
                    f"not cover {start}..{end}, and Yahoo Finance could not be reached. Ask for a period inside the "
                    f"cache, or seed a longer history:\n{_seed_hint(ticker)}"
                ) from None
            raise
        merged = fresh if cached is None else pd.concat([cached, fresh])
        write_cache(ticker, merged)
        prices = _select(_normalise(merged, source=ticker), start, end)
    if prices.empty:
        raise EmptyDataError(f"No prices for {ticker} between {start} and {end}.")
    return prices


def import_csv(path, ticker: str | None = None) -> tuple[str, Path, int]:
    """Seed the cache from a CSV with yfinance's columns. Returns (ticker, cache file, rows).

    The ticker defaults to the file name (``GSPC.csv`` -> ``^GSPC`` for known indices). Rows already
    cached are kept; the file's rows win where dates overlap.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist or is not a file")
    if ticker is None:
        stem = path.stem.upper()
        ticker = f"^{stem}" if stem in KNOWN_INDICES else stem
    ticker = _check_ticker(ticker)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from exc
    if "Date" not in frame.columns:
        raise ValueError(f"{path} has no 'Date' column (columns are {list(frame.columns)})")
    frame["Date"] = pd.to_datetime(frame["Date"], errors="coerce", utc=True).dt.tz_localize(None)
    if frame["Date"].isna().any():
        raise ValueError(f"{path}: {int(frame['Date'].isna().sum())} rows have a Date that is not a date")
    prices = _normalise(frame, source=str(path))
    try:
        cached = read_cache(ticker)
    except CorruptCacheError:
        cached = None  # the import replaces a broken cache file wholesale
    merged = prices if cached is None else _normalise(pd.concat([cached, prices]), source=str(path))
    return ticker, write_cache(ticker, merged), len(merged)


def cache_info(directory: Path | None = None) -> pd.DataFrame:
    """One row per cache file: ticker, first and last date, rows, status ('ok' or what is wrong)."""
    directory = Path(directory or cache_dir())
    rows = []
    # Yahoo's tickers, then the 20 stocks from skfolio, listed as 'sp500-skfolio/AAPL'
    for folder, prefix in ((directory, ""), (stocks_dir(directory), f"{STOCKS_SUBDIR}/")):
        for path in sorted(folder.glob("*.csv")) if folder.exists() else []:
            ticker = path.stem
            try:
                prices = read_cache(ticker, folder)
                rows.append((prefix + ticker, prices.index[0].date(), prices.index[-1].date(), len(prices), "ok"))
            except CorruptCacheError as exc:
                rows.append((prefix + ticker, None, None, 0, str(exc).split(". ")[0]))
    return pd.DataFrame(rows, columns=["ticker", "first", "last", "rows", "status"])


def abs_returns(prices: pd.DataFrame | pd.Series) -> pd.Series:
    """The volatility proxy of the course: ``|Close_t / Close_{t-1} - 1|``, first (NaN) day dropped."""
    close = prices["Close"] if isinstance(prices, pd.DataFrame) else prices
    if not isinstance(close, pd.Series):
        raise ValueError(f"expected a price DataFrame with a Close column or a Series, got {type(prices).__name__}")
    if len(close) < 2:
        raise ValueError(f"need at least 2 prices to compute a return, got {len(close)}")
    if close.isna().any():
        raise ValueError(f"the Close series has {int(close.isna().sum())} missing values; drop or fill them first")
    if (close <= 0).any():
        raise ValueError("the Close series has zero or negative prices; returns are undefined")
    returns = close.pct_change().iloc[1:].abs()
    returns.name = "abs_return"
    return returns



# --------------------------------------------------------------------------- 20 S&P 500 stocks (skfolio)

# skfolio's ``load_sp500_dataset`` ships daily adjusted closes of 20 S&P 500 constituents, 1990-01-02..2022-12-28
# (3 decimals), inside its wheel. They are cached apart from Yahoo's files (another source, another adjustment),
# one file per ticker in this sub-folder, with the same header, checksum and atomic writes.
STOCKS_SUBDIR = "sp500-skfolio"
# GICS sectors of the 20 stocks (as classified in 2022).
STOCK_SECTORS = {
    "AAPL": "Information Technology", "AMD": "Information Technology", "MSFT": "Information Technology",
    "BAC": "Financials", "JPM": "Financials",
    "BBY": "Consumer Discretionary", "HD": "Consumer Discretionary",
    "CVX": "Energy", "XOM": "Energy", "RRC": "Energy",
    "GE": "Industrials",
    "JNJ": "Health Care", "LLY": "Health Care", "MRK": "Health Care", "PFE": "Health Care", "UNH": "Health Care",
    "KO": "Consumer Staples", "PEP": "Consumer Staples", "PG": "Consumer Staples", "WMT": "Consumer Staples",
}
STOCK_TICKERS = tuple(sorted(STOCK_SECTORS))


def stocks_dir(directory: Path | None = None) -> Path:
    """Where the 20 stocks are cached: ``<cache>/sp500-skfolio/`` (one ``<TICKER>.csv`` per stock)."""
    return Path(directory or cache_dir()) / STOCKS_SUBDIR


def _skfolio_closes() -> pd.DataFrame:
    try:
        from skfolio.datasets import load_sp500_dataset
    except ImportError as exc:
        raise CacheMissError(
            f"The 20 S&P 500 stocks are not all cached in {stocks_dir()} and skfolio, which ships them, is not "
            f"installed. Install it (`pip install skfolio`, a dependency of dl4f) and retry."
        ) from exc
    return load_sp500_dataset()


def import_stocks(directory: Path | None = None) -> list[str]:
    """Cache the stocks of skfolio's S&P 500 dataset that are not cached yet; return the tickers written.

    A file already in the cache is never rewritten (a damaged one is reported by :func:`load_stocks`, not
    replaced): delete it to have it written again.
    """
    folder = stocks_dir(directory)
    missing = [t for t in STOCK_TICKERS if not cache_path(t, folder).exists()]
    if not missing:
        return []
    closes = _skfolio_closes()
    unknown = sorted(set(missing) - set(closes.columns))
    if unknown:  # pragma: no cover - only if a future skfolio changes its dataset
        raise DataError(f"skfolio's S&P 500 dataset has no column {unknown}; it holds {list(closes.columns)}")
    for ticker in missing:
        write_cache(ticker, closes[[ticker]].rename(columns={ticker: "Close"}).dropna(), folder)
    return missing


def load_stocks(tickers=None, start=None, end=None) -> pd.DataFrame:
    """Daily adjusted closes of 20 S&P 500 stocks (1990-01-02..2022-12-28), one column per ticker.

    ``tickers``: a list among :data:`STOCK_TICKERS` (default: all 20, in that order); ``[start, end)`` as in
    :func:`load_prices` (``end`` exclusive). The data comes from skfolio's wheel (no network) and is cached in
    ``<cache>/sp500-skfolio/`` on first use; later calls read and checksum the cache. Prices are rounded to
    3 decimals, so the returns of the cheapest stocks in the 1990s (AAPL at $0.10) are coarse: prefer 2000 on.
    Rows are the dates where every requested stock has a price. Raises UnknownTickerError, EmptyDataError,
    CorruptCacheError (the damaged file is left untouched).
    """
    if tickers is None:
        tickers = list(STOCK_TICKERS)
    elif isinstance(tickers, str):
        tickers = [tickers]
    tickers = [_check_ticker(t) for t in tickers]
    if not tickers:
        raise ValueError(f"tickers is empty; pass None for all 20 or some of {list(STOCK_TICKERS)}")
    unknown = [t for t in tickers if t not in STOCK_SECTORS]
    if unknown:
        raise UnknownTickerError(
            f"{unknown} is not among the 20 S&P 500 stocks of skfolio's dataset: {', '.join(STOCK_TICKERS)}. "
            f"For other tickers use load_prices (Yahoo Finance)."
        )
    if len(set(tickers)) != len(tickers):
        raise ValueError(f"tickers {tickers} has duplicates")
    if start is not None and end is not None and pd.Timestamp(start) >= pd.Timestamp(end):
        raise ValueError(f"start ({start}) must be before end ({end}); end is exclusive, as in yfinance")
    folder = stocks_dir()
    import_stocks()
    columns = {}
    for ticker in tickers:
        try:
            columns[ticker] = read_cache(ticker, folder)["Close"]
        except CorruptCacheError as exc:
            path = cache_path(ticker, folder)
            raise CorruptCacheError(
                f"{str(exc).split('. Delete it')[0]}. Delete it ({path}); the next load_stocks() call, or "
                f"`dl4f data import-skfolio`, writes it again from skfolio."
            ) from None
    prices = _select(pd.DataFrame(columns).dropna(), start, end)
    prices.columns.name = "Ticker"
    if prices.empty:
        raise EmptyDataError(
            f"No prices for {tickers} between {start} and {end}: the dataset covers 1990-01-02..2022-12-28."
        )
    return prices
