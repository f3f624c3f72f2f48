"""The dl4f command: data cache management and the RNN TP run, with clear errors (exit code 2)."""

import pandas as pd
import pytest

from dl4f import cli


def test_data_import_and_info(empty_cache, capsys):
    from conftest import SHARED_DATA

    assert cli.main(["data", "info"]) == 0
    assert "the cache is empty" in capsys.readouterr().out
    assert cli.main(["data", "import", str(SHARED_DATA / "GSPC.csv"), str(SHARED_DATA / "VIX.csv")]) == 0
    out = capsys.readouterr().out
    assert "^GSPC: 6539 rows" in out and "^VIX: 6539 rows" in out
    assert cli.main(["data", "info"]) == 0
    assert "2000-01-03" in capsys.readouterr().out


def test_errors_are_one_clear_line(empty_cache, no_network, tmp_path, capsys):
    assert cli.main(["data", "import", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv does not exist" in capsys.readouterr().err
    assert cli.main(["data", "fetch", "^GSPC"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dl4f: error:") and "dl4f data import" in err
    assert cli.main(["tp", "rnn", "--models", "Transformer"]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_tp_rnn_writes_table_and_figures(market_cache, tmp_path, capsys):
    out = tmp_path / "results"
    assert cli.main(["tp", "rnn", "--models", "Linear regression", "MLP", "--epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[1/2] training Linear regression" in printed and "[2/2] training MLP" in printed
    table = pd.read_csv(out / "r2.csv")
    assert table["model"].tolist() == ["Linear regression", "MLP"]
    assert table.loc[0, "r2"] == pytest.approx(0.2458, abs=5e-5)  # OLS: exact, whatever the seed
    assert -1 < table.loc[1, "r2"] < 0.5
    for name in ("r2.png", "predictions.png", "training_curves.png"):
        assert (out / name).stat().st_size > 5000
