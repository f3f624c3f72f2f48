"""dl4f.data.load_stocks: the 20 real S&P 500 stocks of skfolio, cached and checked like Yahoo's files."""

import pandas as pd
import pytest

from dl4f import cli, data


def test_all_stocks_filled_from_skfolio_then_read_from_cache(empty_cache, monkeypatch):
    prices = data.load_stocks()
    assert list(prices.columns) == list(data.STOCK_TICKERS) and len(prices.columns) == 20
    assert isinstance(prices.index, pd.DatetimeIndex) and prices.index.is_monotonic_increasing
    assert prices.index[0] == pd.Timestamp("1990-01-02") and prices.index[-1] == pd.Timestamp("2022-12-28")
    assert len(prices) == 8313 and not prices.isna().any().any()
    files = sorted(p.name for p in data.stocks_dir().glob("*.csv"))
    assert files == [f"{t}.csv" for t in data.STOCK_TICKERS]
    # the cache matches skfolio's data exactly (3 decimals survive the CSV round trip)
    from skfolio.datasets import load_sp500_dataset

    pd.testing.assert_frame_equal(prices, load_sp500_dataset()[list(data.STOCK_TICKERS)], check_names=False,
                                  check_index_type=False, check_freq=False)

    def no_skfolio():
        raise AssertionError("skfolio was asked although everything is cached")

    monkeypatch.setattr(data, "_skfolio_closes", no_skfolio)
    again = data.load_stocks(["JPM", "BAC"], "2008-09-01", "2008-10-01")
    assert list(again.columns) == ["JPM", "BAC"]
    assert again.index[0] == pd.Timestamp("2008-09-02") and again.index[-1] == pd.Timestamp("2008-09-30")
    assert again.loc["2008-09-15", "BAC"] == prices.loc["2008-09-15", "BAC"]  # Lehman's bankruptcy day
    assert data.load_stocks("XOM").shape == (8313, 1)


def test_unknown_ticker_and_empty_period_say_what_to_do(empty_cache):
    with pytest.raises(data.UnknownTickerError, match="AAPL, AMD") as info:
        data.load_stocks(["AAPL", "TSLA"])
    assert "TSLA" in str(info.value) and "load_prices" in str(info.value)
    with pytest.raises(data.EmptyDataError, match="1990-01-02..2022-12-28"):
        data.load_stocks(["AAPL"], "2023-01-01", "2024-01-01")
    with pytest.raises(ValueError, match="before end"):
        data.load_stocks(["AAPL"], "2020-01-01", "2019-01-01")
    with pytest.raises(ValueError, match="duplicates"):
        data.load_stocks(["AAPL", "aapl"])


def test_damaged_cache_file_raises_and_is_left_untouched(empty_cache):
    data.load_stocks(["KO"])
    path = data.cache_path("KO", data.stocks_dir())
    damaged = path.read_text().replace("\n2008-09-15,", "\n2008-09-15,1", 1).encode()
    assert damaged != path.read_bytes()
    path.write_bytes(damaged)
    with pytest.raises(data.CorruptCacheError, match="checksum") as info:
        data.load_stocks(["KO", "PEP"])
    assert "import-skfolio" in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == damaged  # reported, neither deleted nor rewritten
    info_table = data.cache_info().set_index("ticker")
    assert info_table.loc["sp500-skfolio/KO", "status"] != "ok"
    assert info_table.loc["sp500-skfolio/PEP", "status"] == "ok"


def test_cli_import_skfolio(empty_cache, capsys):
    assert cli.main(["data", "import-skfolio"]) == 0
    assert "20 file(s) written" in capsys.readouterr().out
    assert cli.main(["data", "import-skfolio"]) == 0
    assert "0 file(s) written, 20 stocks" in capsys.readouterr().out
