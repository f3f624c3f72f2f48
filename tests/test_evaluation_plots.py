"""dl4f.evaluation and dl4f.plots: R² as scikit-learn defines it, tidy tables, figures that show them."""

import struct

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dl4f import evaluation, plots
from dl4f.models import linear_regression


def test_r2_formula():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert evaluation.r2(y, y) == 1.0
    assert evaluation.r2(y, np.full(4, y.mean())) == 0.0
    pred = np.array([1.5, 2.0, 2.5, 4.5])
    assert evaluation.r2(y, pred) == pytest.approx(1 - 0.75 / 5.0)
    with pytest.raises(ValueError, match="NaN"):
        evaluation.r2(y, np.array([1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(ValueError, match="4 values but y_pred has 3"):
        evaluation.r2(y, y[:3])


def test_linear_regression_scores_the_tp_reference(tp_data):
    """The TP's linear regression is closed-form OLS: dl4f's data path reproduces its R² to 4 decimals."""
    model = linear_regression().fit(tp_data.X_train, tp_data.y_train)
    table = evaluation.r2_table(
        evaluation.score_models({"Linear regression": model}, tp_data.X_test, tp_data.y_test),
        {"Linear regression": 0.2458},
    )
    assert list(table.columns) == ["model", "r2", "mse", "reference_r2", "difference"]
    assert table.loc[0, "r2"] == pytest.approx(0.2458, abs=5e-5)


def test_figures(tmp_path):
    dates = pd.bdate_range("2023-01-02", periods=50)
    y = np.abs(np.random.default_rng(0).normal(size=50))
    fig = plots.plot_predictions(dates, y, {"A": y * 0.5, "B": y * 0.8})
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 3
    fig.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 5000

    table = pd.DataFrame({"model": ["A", "B"], "r2": [0.3, 0.1]})
    fig = plots.plot_r2(table, reference={"A": 0.31})
    assert [round(p.get_width(), 3) for p in fig.axes[0].patches] == [0.3, 0.1]

    fig = plots.plot_history({"A": {"loss": [3, 2, 1], "val_loss": [3, 2.5, 2]}, "OLS": {}})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1

    with pytest.raises(ValueError, match="3 predictions for 50"):
        plots.plot_predictions(dates, y, {"A": y[:3]})
    with pytest.raises(ValueError, match="'model' and 'r2'"):
        plots.plot_r2(pd.DataFrame({"x": [1]}))


# --------------------------------------------------------------------------- volatility metrics, seeds


def test_mse_mae_on_a_hand_computed_case():
    y, f = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 1.0])  # errors -1, 0, 3
    assert evaluation.mse(y, f) == pytest.approx((1 + 0 + 9) / 3)
    assert evaluation.mae(y, f) == pytest.approx((1 + 0 + 3) / 3)
    with pytest.raises(ValueError, match="3 values but y_pred has 2"):
        evaluation.mae(y, f[:2])
    with pytest.raises(ValueError, match="NaN"):
        evaluation.mse(y, np.array([1.0, np.inf, 1.0]))


def test_qlike_on_a_hand_computed_case():
    # |r| forecasts 2, 1 -> variance forecasts (pi/2) * 4, (pi/2) * 1 (abs_to_variance); variance proxies 1, 4
    y, f = np.array([1.0, 2.0]), np.array([2.0, 1.0])
    h = np.pi / 2 * f**2
    m = (1 + 4) / 2
    expected = np.mean([np.log(h[0] / m) + 1 / h[0], np.log(h[1] / m) + 4 / h[1]]) - 1
    assert evaluation.qlike(y, f) == pytest.approx(expected)
    # Patton's form s/h - log(s/h) - 1 differs only by a constant of y: the same differences between forecasts
    patton = lambda y, f: np.mean(y**2 / (np.pi / 2 * f**2) - np.log(y**2 / (np.pi / 2 * f**2)) - 1)  # noqa: E731
    g = np.array([1.5, 1.5])
    assert evaluation.qlike(y, f) - evaluation.qlike(y, g) == pytest.approx(patton(y, f) - patton(y, g))
    # 0 for the constant variance forecast at the realised mean square; a perfect forecast scores below it
    assert evaluation.qlike(y, np.full(2, np.sqrt(2 * m / np.pi))) == pytest.approx(0.0, abs=1e-12)
    assert evaluation.qlike(y, y * np.sqrt(2 / np.pi)) < 0
    # unit-free (percent or raw), zero realised returns allowed, zero forecasts floored, not infinite
    assert evaluation.qlike(100 * y, 100 * f) == pytest.approx(evaluation.qlike(y, f))
    assert np.isfinite(evaluation.qlike(np.array([0.0, 2.0]), f))
    floored = evaluation.qlike(y, np.array([0.0, 1.0]))
    h0 = evaluation.QLIKE_FLOOR * m
    assert floored == pytest.approx(np.mean([np.log(h0 / m) + 1 / h0, np.log(h[1] / m) + 4 / h[1]]) - 1)
    with pytest.raises(ValueError, match=">= 0"):
        evaluation.qlike(-y, f)
    with pytest.raises(ValueError, match="non-zero"):
        evaluation.qlike(np.zeros(2), f)


def test_score_forecasts_and_seed_summary():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    table = evaluation.score_forecasts(y, {"A": y + 0.5, "B": np.full(4, 2.5)})
    assert list(table.columns) == ["model", "r2", "mse", "mae", "qlike"]
    assert table.loc[1, "r2"] == 0.0 and table.loc[0, "mae"] == 0.5
    scores = pd.DataFrame({"model": ["A", "A", "A", "B"], "seed": [0, 1, 2, np.nan],
                           "r2": [0.1, 0.2, 0.3, 0.25], "mse": [1.0, 2.0, 3.0, 1.5],
                           "mae": [1.0, 1.0, 1.0, 1.0], "qlike": [0.0, 0.1, 0.2, 0.3]})
    summary = evaluation.summarize_seeds(scores)
    assert summary["model"].tolist() == ["A", "B"] and summary["runs"].tolist() == [3, 1]
    assert summary.loc[0, "r2_mean"] == pytest.approx(0.2) and summary.loc[0, "r2_std"] == pytest.approx(0.1)
    assert summary.loc[1, "mse_std"] == 0.0
    text = evaluation.format_summary(summary, digits=2)
    assert text.loc[0, "r2"] == "0.20 ± 0.10" and text.loc[1, "mse"] == "1.50 ± 0.00"
    with pytest.raises(ValueError, match="qlike"):
        evaluation.summarize_seeds(scores.drop(columns="qlike"))


def test_every_figure_fits_the_site_column(tmp_path):
    """At most plots.MAX_WIDTH (7 in = 770 px at the site's fig-dpi 110) wide, whatever the number of models."""
    dates = pd.bdate_range("2023-01-02", periods=50)
    y = np.abs(np.random.default_rng(0).normal(size=50))
    many = {f"model {k}": y * (0.5 + k / 10) for k in range(7)}
    scores = pd.DataFrame({"model": ["A", "A", "HAR"], "r2": [0.3, 0.32, 0.28]})
    figures = [
        plots.plot_predictions(dates, y, many),
        plots.plot_history({name: {"loss": [3, 2, 1], "val_loss": [3, 2.5, 2]} for name in many}),
        plots.plot_r2(pd.DataFrame({"model": list(many), "r2": np.linspace(0, 0.3, 7)})),
        plots.plot_seed_scores(scores, reference={"A": 0.31}, baselines=("HAR",)),
    ]
    for fig in figures:
        assert fig.get_figwidth() <= plots.MAX_WIDTH
        fig.savefig(tmp_path / "f.png", dpi=110, bbox_inches="tight")  # as the site shows it
        width = struct.unpack(">II", (tmp_path / "f.png").read_bytes()[16:24])[0]
        assert width <= 800, f"{fig.axes[0].get_title() or fig.axes[0].get_xlabel()}: {width} px"


def test_seed_figure_draws_means_error_bars_and_reference():
    scores = pd.DataFrame({"model": ["HAR", "LSTM", "LSTM", "LSTM"], "r2": [0.28, 0.29, 0.31, 0.30]})
    fig = plots.plot_seed_scores(scores, reference={"LSTM": 0.3068}, baselines=("HAR",))
    ax = fig.axes[0]
    bars = [p for p in ax.patches]
    assert [round(b.get_width(), 3) for b in bars] == [0.28, 0.30]
    assert bars[0].get_facecolor() != bars[1].get_facecolor()  # baselines stand apart from the networks
    texts = [t.get_text().strip() for t in ax.texts]
    assert texts == ["0.280", "0.300 ± 0.010"]
    with pytest.raises(ValueError, match="'model' and 'qlike'"):
        plots.plot_seed_scores(scores, metric="qlike")
