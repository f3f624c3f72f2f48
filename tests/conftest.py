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

# One JAX compilation cache for the whole session, in a folder of its own: every notebook kernel, page and process
# the tests start compiles a program once, not once per process (same programs, same results; the pages' and the
# corpora's many fresh kernels build the same layers). The grading sandboxes never see it (their environment is
# the sandbox's own) and the judges use theirs (``DL4F_JUDGE_CACHE``, also a folder of this session's).
_SESSION_CACHES = Path(tempfile.mkdtemp(prefix="dl4f-test-caches-"))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_SESSION_CACHES / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 * 1024**3))  # a size cap: JAX then locks its files
os.environ.setdefault("DL4F_JUDGE_CACHE", str(_SESSION_CACHES / "judge-jax"))


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


# The README's test command runs the tests in two processes (pytest-xdist, ``--dist loadfile``: a file's tests, and
# so its module-scoped fixtures such as a graded class, stay in one process). Files are handed out in the order
# collected: the long ones first, so that no process is left with a long file at the end while the other idles.
LONG_FIRST = ["test_grade_tp_rnn.py", "test_site.py", "test_grade_tp_transformer.py", "test_grade_tp_intro.py",
              "test_grade_tp_callbacks.py", "test_grade_tp_optimization.py", "test_grading_boundary.py",
              "test_service_flow.py", "test_service_browser.py"]


def pytest_collection_modifyitems(session, config, items):
    rank = {name: k for k, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
