"""dl4f.evaluation and dl4f.plots: R² as scikit-learn defines it, tidy tables, figures that show them."""

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
