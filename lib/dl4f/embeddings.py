"""Embeddings of categorical inputs: the chapter "Neural Network Embeddings: Learning Meaningful Representations".

An embedding layer maps an integer id (which stock, which weekday) to a learnt row of a matrix
``E`` (n_categories, k): ``embed(i) = E[i] = one_hot(i) @ E``. One model trained on a panel of assets then
shares what the assets have in common and keeps in ``E[asset]`` what is specific to each.

``panel_windows`` stacks the windows of many assets: for stock ``j`` and day ``t``, the input is the past
``length`` absolute returns of ``j``, the asset id ``j`` and the weekday of ``t + 1``, the target is ``|r_{j,t+1}|``.
``panel_model`` builds the network with the asset as an embedding, a one-hot vector, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from dl4f.windows import make_windows

ASSET_ENCODINGS = ("embedding", "onehot", "none")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")


@dataclass
class Panel:
    """Stacked windows of several assets; row i is (asset[i], the window ending the day before dates[i])."""

    X: np.ndarray  # (n, length) past absolute returns
    asset: np.ndarray  # (n,) int, index into tickers
    weekday: np.ndarray  # (n,) int, 0 = Monday .. 4 = Friday, of the target day
    y: np.ndarray  # (n,) the target day's absolute return
    dates: pd.DatetimeIndex  # (n,) the target day
    tickers: list

    def subset(self, mask) -> Panel:
        """The rows where ``mask`` is True (e.g. ``panel.dates < "2017-01-01"``)."""
        mask = np.asarray(mask, dtype=bool)
        return Panel(self.X[mask], self.asset[mask], self.weekday[mask], self.y[mask], self.dates[mask], self.tickers)

    def inputs(self) -> dict:
        """The model's inputs, by name."""
        return {"window": self.X, "asset": self.asset, "weekday": self.weekday}


def panel_windows(abs_returns: pd.DataFrame, length: int) -> Panel:
    """Windows of ``length`` days for every column (asset) of ``abs_returns``, stacked asset after asset."""
    if not isinstance(abs_returns, pd.DataFrame) or not isinstance(abs_returns.index, pd.DatetimeIndex):
        raise ValueError("abs_returns must be a DataFrame with a DatetimeIndex and one column per asset")
    if abs_returns.isna().any().any():
        raise ValueError("abs_returns holds NaN values; drop the dates where an asset has no price first")
    weekday = abs_returns.index.day_of_week.to_numpy()
    if (weekday > 4).any():
        raise ValueError("abs_returns has weekend dates; expected trading days (Monday to Friday)")
    parts = []
    for j, ticker in enumerate(abs_returns.columns):
        X, y = make_windows(abs_returns[ticker], length)
        parts.append((X, np.full(len(y), j), weekday[length:], y, abs_returns.index[length:]))
    X, asset, wd, y, dates = (np.concatenate([p[i] for p in parts]) for i in range(5))
    return Panel(X.astype("float32"), asset.astype("int32"), wd.astype("int32"), y.astype("float32"),
                 pd.DatetimeIndex(dates), list(abs_returns.columns))


def panel_model(length: int, n_assets: int, *, asset_encoding: str = "embedding", asset_dim: int = 4,
                weekday_dim: int = 2, units: int = 32, name: str | None = None):
    """MLP on [window, asset code, weekday embedding] -> next absolute return.

    ``asset_encoding``: ``"embedding"`` (a learnt (n_assets, asset_dim) table, layer ``"asset_embedding"``),
    ``"onehot"`` (the n_assets-dimensional indicator vector fed to the first Dense layer) or ``"none"`` (the
    model does not know which asset it sees). The weekday always goes through an embedding
    (layer ``"weekday_embedding"``, 5 x ``weekday_dim``).
    """
    if asset_encoding not in ASSET_ENCODINGS:
        raise ValueError(f"asset_encoding must be one of {ASSET_ENCODINGS}, got {asset_encoding!r}")
    for label, value in (("length", length), ("n_assets", n_assets), ("asset_dim", asset_dim),
                         ("weekday_dim", weekday_dim), ("units", units)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}")
    window = keras.Input((length,), name="window")
    asset = keras.Input((), dtype="int32", name="asset")
    weekday = keras.Input((), dtype="int32", name="weekday")
    features = [window, keras.layers.Embedding(len(WEEKDAYS), weekday_dim, name="weekday_embedding")(weekday)]
    if asset_encoding == "embedding":
        features.append(keras.layers.Embedding(n_assets, asset_dim, name="asset_embedding")(asset))
    elif asset_encoding == "onehot":
        features.append(keras.layers.CategoryEncoding(n_assets, output_mode="one_hot", name="asset_onehot")(asset))
    x = keras.layers.Concatenate()(features)
    x = keras.layers.Dense(units, activation="relu")(x)
    output = keras.layers.Dense(1, activation="softplus", name="forecast")(x)  # an absolute return is >= 0
    model = keras.Model({"window": window, "asset": asset, "weekday": weekday}, output,
                        name=name or f"panel_{asset_encoding}")
    return model


def embedding_table(model, layer: str = "asset_embedding") -> np.ndarray:
    """The learnt table ``E`` (n_categories, k) of an Embedding layer of ``model``."""
    return np.asarray(model.get_layer(layer).embeddings)


def cosine_similarity(E) -> np.ndarray:
    """Cosine similarity of the rows of ``E``: ``E_i . E_j / (|E_i| |E_j|)``, an (n, n) matrix."""
    E = np.asarray(E, dtype=float)
    if E.ndim != 2:
        raise ValueError(f"E must be a 2-D table (n_categories, k), got shape {E.shape}")
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError("a row of E is zero: its cosine similarity is undefined")
    unit = E / norms
    return unit @ unit.T


def pca_2d(E) -> np.ndarray:
    """The rows of ``E`` projected on their first two principal components, (n, 2)."""
    E = np.asarray(E, dtype=float)
    centred = E - E.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def upper_pairs(matrix) -> np.ndarray:
    """The entries above the diagonal of a square matrix, one per pair (i < j)."""
    matrix = np.asarray(matrix)
    return matrix[np.triu_indices(len(matrix), k=1)]
