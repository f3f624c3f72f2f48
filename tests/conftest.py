"""Shared test set-up: a data cache seeded from the real market data in ../shared/data, never the network.

If ``DL4F_DATA_DIR`` already points at a cache holding ^GSPC (as .ci/run arranges), it is used as is;
otherwise a temporary cache is seeded from ``$SHARED_DATA`` (default ``<repo>/../shared/data``).
The variable is set in ``os.environ`` so notebook kernels started by the tests inherit it.
"""

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("KERAS_BACKEND", "jax")


def _seed_cache() -> Path:
    current = os.environ.get("DL4F_DATA_DIR")
    if current and (Path(current) / "^GSPC.csv").exists():
        return Path(current)
    if not (SHARED_DATA / "GSPC.csv").exists():
        raise RuntimeError(
            f"the tests need the real market data in {SHARED_DATA} (GSPC.csv, VIX.csv); "
            "set SHARED_DATA to the folder that holds them"
        )
    directory = Path(tempfile.mkdtemp(prefix="dl4f-test-cache-"))
    os.environ["DL4F_DATA_DIR"] = str(directory)
    from dl4f import data

    for name in ("GSPC.csv", "VIX.csv"):
        data.import_csv(SHARED_DATA / name)
    return directory


CACHE_DIR = _seed_cache()


@pytest.fixture(scope="session")
def market_cache() -> Path:
    """The seeded cache directory (^GSPC and ^VIX, 2000-01-03..2025-12-31)."""
    return CACHE_DIR


@pytest.fixture(scope="session")
def stocks(market_cache) -> Path:
    """The cache, with the 20 stocks of skfolio's dataset in it (``dl4f.data.load_stocks``)."""
    from dl4f import data

    data.import_stocks()
    return market_cache


@pytest.fixture(scope="session")
def tp_data(market_cache):
    from dl4f import tp_rnn

    return tp_rnn.load_data()


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A fresh, empty cache directory for tests that write to the cache; the network is cut."""
    monkeypatch.setenv("DL4F_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_network(monkeypatch):
    """Make any call to Yahoo fail as it does offline (a curl DNS error), and count the attempts."""
    import yfinance

    calls = []

    class OfflineTicker:
        def __init__(self, ticker, *args, **kwargs):
            self.ticker = ticker

        def history(self, *args, **kwargs):
            calls.append(self.ticker)
            raise RuntimeError("Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com")

    monkeypatch.setattr(yfinance, "Ticker", OfflineTicker)
    return calls
