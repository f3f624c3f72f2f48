"""dl4f.data: the cache serves real S&P 500 prices offline; every failure says what to do."""

import os

import numpy as np
import pandas as pd
import pytest
from yfinance import exceptions as yfe

from dl4f import data


def test_tp_period_served_from_cache_without_network(market_cache, no_network):
    prices = data.load_prices("^GSPC", "2000-01-01", "2024-01-01")
    assert no_network == []  # the cache covered the request: Yahoo was never asked
    assert list(prices.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert not isinstance(prices.columns, pd.MultiIndex)
    assert prices.index.name == "Date" and prices.index.is_monotonic_increasing
    assert len(prices) == 6037  # 2000-01-03 .. 2023-12-29, end exclusive as in yfinance
    assert prices.index[0] == pd.Timestamp("2000-01-03") and prices.index[-1] == pd.Timestamp("2023-12-29")
    # spot checks from shared/data/README.md
    assert prices.loc["2008-10-15", "Close"] == pytest.approx(907.84)
    assert prices.loc["2020-03-16", "Close"] == pytest.approx(2386.13)


def test_vix_without_volume_column_is_served(market_cache, no_network):
    vix = data.load_prices("^VIX", "2020-03-01", "2020-04-01")
    assert list(vix.columns) == ["Open", "High", "Low", "Close"]
    assert vix["Close"].max() > 80  # the March 2020 spike (close 82.69 on 2020-03-16)


def test_abs_returns_is_absolute_pct_change_without_first_nan():
    prices = pd.DataFrame({"Close": [100.0, 110.0, 99.0, 99.0]}, index=pd.date_range("2024-01-01", periods=4))
    r = data.abs_returns(prices)
    np.testing.assert_allclose(r.to_numpy(), [0.10, 0.10, 0.0])
    assert r.index[0] == pd.Timestamp("2024-01-02") and r.name == "abs_return"


@pytest.mark.parametrize(
    "close, message",
    [([100.0, np.nan, 101.0], "missing"), ([100.0], "at least 2"), ([100.0, 0.0, 1.0], "negative")],
)
def test_abs_returns_rejects_bad_prices(close, message):
    with pytest.raises(ValueError, match=message):
        data.abs_returns(pd.Series(close, index=pd.date_range("2024-01-01", periods=len(close))))


def _yahoo_answer(multiindex: bool) -> pd.DataFrame:
    """A frame shaped like yfinance's answers (tz-aware index; MultiIndex columns as in yf.download >= 0.2.48)."""
    idx = pd.date_range("2024-01-02", periods=5, freq="B", tz="America/New_York", name="Date")
    frame = pd.DataFrame(
        {"Open": 1.0, "High": 2.0, "Low": 0.5, "Close": [10.0, 11.0, 12.0, 11.0, 10.0], "Volume": 7, "Dividends": 0.0},
        index=idx,
    )
    if multiindex:
        frame.columns = pd.MultiIndex.from_product([frame.columns, ["ACME"]], names=["Price", "Ticker"])
    return frame


@pytest.mark.parametrize("multiindex", [False, True])
def test_download_is_cached_and_flattened(empty_cache, monkeypatch, multiindex):
    import yfinance

    calls = []

    class FakeTicker:
        def __init__(self, ticker, *a, **k):
            self.ticker = ticker

        def history(self, **kwargs):
            calls.append(kwargs)
            return _yahoo_answer(multiindex)

    monkeypatch.setattr(yfinance, "Ticker", FakeTicker)
    first = data.load_prices("ACME", "2024-01-01", "2024-01-09")
    assert list(first.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert first.index.tz is None and len(first) == 5
    assert (empty_cache / "ACME.csv").exists()
    second = data.load_prices("ACME", "2024-01-01", "2024-01-09")
    assert len(calls) == 1  # the second request came from the cache
    pd.testing.assert_frame_equal(first, second, check_dtype=False)


def test_no_network_and_no_cache_names_the_cache_and_the_fix(empty_cache, no_network):
    with pytest.raises(data.CacheMissError) as info:
        data.load_prices("^GSPC", "2000-01-01", "2024-01-01")
    text = str(info.value)
    assert str(empty_cache) in text and "dl4f data import" in text
    assert no_network == ["^GSPC"]


def test_period_outside_cache_offline_says_what_the_cache_holds(market_cache, no_network):
    with pytest.raises(data.CacheMissError, match="2000-01-03 to 2025-12-31"):
        data.load_prices("^GSPC", "1990-01-01", "1995-01-01")


@pytest.mark.parametrize(
    "error, expected",
    [
        (yfe.YFRateLimitError(), data.RateLimitError),
        (yfe.YFTzMissingError("ZZZZ"), data.UnknownTickerError),
        (yfe.YFPricesMissingError("ZZZZ", ""), data.UnknownTickerError),
    ],
)
def test_yahoo_failures_get_their_own_errors(empty_cache, monkeypatch, error, expected):
    import yfinance

    class FailingTicker:
        def __init__(self, *a, **k):
            pass

        def history(self, **kwargs):
            raise error

    monkeypatch.setattr(yfinance, "Ticker", FailingTicker)
    with pytest.raises(expected):
        data.load_prices("ZZZZ", "2024-01-01", "2024-02-01")
    assert not (empty_cache / "ZZZZ.csv").exists()


def test_empty_answer_is_an_error(empty_cache, monkeypatch):
    import yfinance

    class EmptyTicker:
        def __init__(self, *a, **k):
            pass

        def history(self, **kwargs):
            return pd.DataFrame()

    monkeypatch.setattr(yfinance, "Ticker", EmptyTicker)
    with pytest.raises(data.EmptyDataError):
        data.load_prices("ZZZZ", "2024-01-01", "2024-02-01")


def _seed(cache_dir):
    from conftest import SHARED_DATA

    return data.import_csv(SHARED_DATA / "GSPC.csv")


def test_truncated_cache_is_reported_and_left_alone(empty_cache, no_network):
    _, path, rows = _seed(empty_cache)
    assert rows == 6539
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # a download cut in the middle
    with pytest.raises(data.CorruptCacheError, match="checksum") as info:
        data.load_prices("^GSPC", "2000-01-01", "2024-01-01")
    assert "dl4f data import" in str(info.value)
    assert path.read_bytes() == raw[: len(raw) // 2]  # reported, not deleted or overwritten
    assert no_network == []


def test_edited_cache_is_reported(empty_cache):
    _, path, _ = _seed(empty_cache)
    path.write_text(path.read_text().replace("907.84", "997.84"))
    with pytest.raises(data.CorruptCacheError):
        data.read_cache("^GSPC")


def test_failed_write_keeps_the_previous_cache(empty_cache, monkeypatch):
    _, path, _ = _seed(empty_cache)
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        data.write_cache("^GSPC", data.read_cache("^GSPC").iloc[:10])
    assert path.read_bytes() == before
    assert sorted(p.name for p in empty_cache.iterdir()) == ["^GSPC.csv"]  # no temporary file left


def test_import_merges_and_rejects_bad_files(empty_cache, tmp_path):
    from conftest import SHARED_DATA

    full = pd.read_csv(SHARED_DATA / "GSPC.csv")
    full.iloc[:100].to_csv(tmp_path / "GSPC.csv", index=False)
    data.import_csv(tmp_path / "GSPC.csv")
    full.iloc[50:200].to_csv(tmp_path / "later.csv", index=False)
    ticker, _, rows = data.import_csv(tmp_path / "later.csv", ticker="^GSPC")
    assert (ticker, rows) == ("^GSPC", 200)

    (tmp_path / "broken.csv").write_text("this is not,a price file\n1,2\n")
    with pytest.raises(ValueError, match="no 'Date' column"):
        data.import_csv(tmp_path / "broken.csv", ticker="^GSPC")
    with pytest.raises(FileNotFoundError):
        data.import_csv(tmp_path / "missing.csv")
    assert len(data.read_cache("^GSPC")) == 200  # the bad imports changed nothing


def test_adj_close_is_applied_like_auto_adjust(empty_cache, tmp_path):
    frame = pd.DataFrame(
        {"Date": ["2024-01-02", "2024-01-03"], "Open": [10.0, 20.0], "High": [10.0, 20.0], "Low": [10.0, 20.0],
         "Close": [10.0, 20.0], "Adj Close": [5.0, 20.0], "Volume": [1, 1]}
    )
    frame.to_csv(tmp_path / "ACME.csv", index=False)
    data.import_csv(tmp_path / "ACME.csv")
    cached = data.read_cache("ACME")
    assert cached["Open"].tolist() == [5.0, 20.0] and cached["Close"].tolist() == [5.0, 20.0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="ticker"):
        data.load_prices("")
    with pytest.raises(ValueError, match="path separator"):
        data.cache_path("../etc/passwd")
    with pytest.raises(ValueError, match="before end"):
        data.load_prices("^GSPC", "2024-01-01", "2023-01-01")


def test_cache_info_lists_files_and_problems(empty_cache):
    _, path, _ = _seed(empty_cache)
    (empty_cache / "BAD.csv").write_text("garbage")
    info = data.cache_info()
    assert info.set_index("ticker").loc["^GSPC", "rows"] == 6539
    assert info.set_index("ticker").loc["BAD", "status"] != "ok"
