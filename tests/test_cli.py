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
    args = ["tp", "rnn", "--models", "Linear regression", "MLP", "--epochs", "1", "--seeds", "2", "--out", str(out)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "[1/2] training Linear regression" in printed and "[2/2] training MLP" in printed
    assert "seed 0 (1/2)" in printed and "seed 1 (2/2)" in printed
    table = pd.read_csv(out / "r2.csv")  # the first seed's run, as with one seed
    assert table["model"].tolist() == ["Linear regression", "MLP"]
    assert table.loc[0, "r2"] == pytest.approx(0.2458, abs=5e-5)  # OLS: exact, whatever the seed
    assert -1 < table.loc[1, "r2"] < 0.5
    for name in ("r2.png", "predictions.png", "training_curves.png", "seeds.png"):
        assert (out / name).stat().st_size > 5000
    # every seed, and the baselines once, scored with the four metrics
    by_seed = pd.read_csv(out / "metrics_by_seed.csv")
    assert by_seed["model"].tolist() == ["HAR", "GARCH(1,1)", "Linear regression", "MLP", "Linear regression", "MLP"]
    assert by_seed["seed"].tolist()[2:] == [0, 0, 1, 1] and by_seed["seed"].iloc[:2].isna().all()
    assert {"r2", "mse", "mae", "qlike"} <= set(by_seed.columns)
    mlp = by_seed[by_seed["model"] == "MLP"]
    assert mlp["r2"].iloc[0] == pytest.approx(table.loc[1, "r2"])  # seed 0 is the run of r2.csv
    assert mlp["r2"].iloc[0] != mlp["r2"].iloc[1]  # two seeds, two trainings
    summary = pd.read_csv(out / "metrics.csv").set_index("model")
    assert summary.loc["MLP", "runs"] == 2 and summary.loc["HAR", "runs"] == 1
    assert summary.loc["MLP", "r2_std"] == pytest.approx(mlp["r2"].std(ddof=1))
    assert summary.loc["Linear regression", "r2_std"] == pytest.approx(0.0, abs=1e-12)
    assert summary.loc["MLP", "reference_r2"] == 0.1371
    assert "Test metrics over 2 seed(s)" in printed and "GARCH(1,1)" in printed and "qlike" in printed
    assert cli.main(["tp", "rnn", "--seeds", "0", "--out", str(out)]) == 2
    assert "--seeds must be at least 1" in capsys.readouterr().err
