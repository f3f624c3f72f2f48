"""The callbacks TP's grading: what each graded cell checks, its points, and the thresholds. Trusted side only.

Every graded cell of ``solutions/tp-callbacks/tp-callbacks.ipynb`` (visible tests and hidden tests alike) is
decided here, from the files of a sandboxed run (``dl4f.tp_callbacks_artifacts``):

- the student's callbacks were driven, in the sandbox, on scripted trainings this module wrote into ``inputs``
  (weights, learning rates and logs per epoch, drawn from a secret per-student seed). What a correct callback
  does there is computed here: for ``make_callbacks``, by driving Keras's own ``EarlyStopping`` and
  ``ReduceLROnPlateau`` with the TP's parameters on the same scripts (``tp_callbacks_artifacts.drive``); for
  ``TrainingRecorder`` and ``QLikeEarlyStopping``, from the scripts themselves (learning rates, norms of the
  weight updates, QLIKE of each epoch's forecasts, the epoch where the patience runs out, the best epoch);
- the trained models are reloaded from their ``.keras`` files with Keras's layers only and scored here on the
  test split this process builds from the cache (R², QLIKE); the early-stopped ones must hold their best epoch's
  weights (their validation MSE, computed here, is the minimum of their history's ``val_loss``).

Thresholds (calibrated by ``benchmarks/calibrate_tp_callbacks.py`` over 12 seeds; numbers in the notebook's
grading note): see ``R2_THRESHOLD`` and ``QLIKE_THRESHOLD``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl4f_grading import keras_artifacts as art
from dl4f_grading import rules
from dl4f_grading.cells import decide, prepared
from dl4f_grading.source_checks import Rules

ASSIGNMENT = "tp-callbacks"
EXPORT_MODULE = "dl4f.tp_callbacks_artifacts"
RECIPE_EPOCHS = 30  # dl4f.tp_callbacks.EPOCHS: fewer epochs in the sandbox means the quick thresholds

# Minimum R² on the test split of every trained model, and maximum QLIKE of the QLIKE-stopped model.
# Calibrated by benchmarks/calibrate_tp_callbacks.py over 12 seeds (30 epochs): threshold = the worst value moved
# by 3 standard deviations, rounded outwards to 0.05. R² of the four models (48 runs): mean 0.284, std 0.018,
# min 0.227; test QLIKE (variance (pi/2) f^2, dl4f.evaluation.qlike) of the QLIKE-stopped model: mean -0.426,
# std 0.061, max -0.250 (the MSE-stopped models range from -0.43 to 41: MSE training alone does not control QLIKE).
# A negative threshold: the QLIKE-stopped model must beat the constant (hindsight mean) variance forecast.
R2_THRESHOLD = 0.15
QLIKE_THRESHOLD = -0.05
# Quick runs (the instructor's --epochs 3, CI) check the plumbing: beat the mean forecast, a QLIKE below 1.
# Measured at 3 epochs, seed 0: R² 0.267 (the four models), QLIKE of the QLIKE-stopped model -0.214.
QUICK_R2_THRESHOLD = 0.0
QUICK_QLIKE_THRESHOLD = 1.0
RESTORE_TOLERANCE = 2e-3  # relative gap between the restored model's validation MSE and its history's minimum

N_Q1, Q1_EPOCHS, Q1_INPUTS = 2, 20, 2
N_Q2, Q2_EPOCHS, Q2_INPUTS = 2, 8, 5
Q2R_EPOCHS = 14  # the recorder beside ReduceLROnPlateau, on the grader's scripted training
Q3_SCENARIOS = ((2, True), (3, False), (50, True))  # (patience, restore_best_weights): the last never stops
Q3_EPOCHS, Q3_INPUTS, Q3_SAMPLES = 16, 4, 300
TRAINED = {"model_none": "none", "model_early_stopping": "early_stopping", "model_reduce_lr": "reduce_lr",
           "model_both": "both"}


# ----------------------------------------------------------------------------------------------------
# The scripted trainings, from the seed


def _q1_script(rng) -> dict:
    """A validation loss that falls, then wanders above its minimum (with a few new small minima)."""
    e = np.arange(Q1_EPOCHS)
    turn = int(rng.integers(4, 11))
    curve = 0.4 + 0.6 * np.exp(-e / 2.5) + 0.004 * np.maximum(e - turn, 0) ** 1.3
    val_loss = curve + rng.normal(0.0, 0.006, Q1_EPOCHS)
    weights = rng.normal(0.0, 1.0, (Q1_EPOCHS + 1, Q1_INPUTS + 1))
    # The training loss keeps falling (by more than any min_delta) while val_loss turns up: a callback that
    # watches `loss` never stops nor reduces the rate, one that watches `val_loss` does.
    loss = 0.3 + 0.8 * np.exp(-e / 6.0)
    return {"val_loss": val_loss, "loss": loss, "weights": weights, "log_lr": np.full(Q1_EPOCHS, np.log10(3e-3))}


def _q2_reduce_script(rng) -> dict:
    """A training where ReduceLROnPlateau (on val_loss) lowers the rate several times: the recorder's own run."""
    e = np.arange(Q2R_EPOCHS)
    val_loss = 0.5 + 0.5 * np.exp(-e / 1.5) + rng.normal(0.0, 0.002, Q2R_EPOCHS) + 0.01 * (e > Q2R_EPOCHS // 2)
    steps = rng.normal(0.0, 0.1, (Q2R_EPOCHS, Q2_INPUTS + 1))
    weights = np.vstack([rng.normal(0.0, 1.0, (1, Q2_INPUTS + 1)), steps]).cumsum(axis=0)
    return {"val_loss": val_loss, "loss": 0.3 + 0.8 * np.exp(-e / 4.0), "weights": weights,
            "log_lr": np.full(Q2R_EPOCHS, np.log10(3e-3))}


def _q2_script(rng) -> dict:
    steps = rng.normal(0.0, 1.0, (Q2_EPOCHS, Q2_INPUTS + 1)) * rng.uniform(0.01, 0.5, (Q2_EPOCHS, 1))
    weights = np.vstack([rng.normal(0.0, 1.0, (1, Q2_INPUTS + 1)), steps]).cumsum(axis=0)
    log_lr = np.log10(1e-2) - np.sort(rng.uniform(0.0, 2.0, Q2_EPOCHS))
    return {"weights": weights, "log_lr": log_lr, "loss": np.exp(-np.arange(Q2_EPOCHS) / 3.0)}


def _q3_script(rng, patience: int, restore: bool) -> dict:
    """Forecasts X @ (s_e * w) of positive targets: QLIKE falls while the scale s_e nears 1, then rises."""
    X = np.abs(rng.normal(0.0, 1.0, (Q3_SAMPLES, Q3_INPUTS))) + 0.1
    w_true = rng.dirichlet(np.ones(Q3_INPUTS))
    y = (X @ w_true) * np.abs(rng.normal(0.0, 1.0, Q3_SAMPLES)) * np.sqrt(np.pi / 2)
    turn = int(rng.integers(4, 10))
    while True:
        e = np.arange(Q3_EPOCHS)
        scale = np.where(e <= turn, 0.25 + 0.75 * e / turn, 1.0 + 0.12 * (e - turn)) + rng.normal(0.0, 0.03, Q3_EPOCHS)
        kernels = np.vstack([w_true * 0.05, scale[:, None] * w_true])
        weights = np.hstack([kernels, np.zeros((Q3_EPOCHS + 1, 1))])
        script = {"X": X, "y": y, "weights": weights, "log_lr": np.full(Q3_EPOCHS, -3.0),
                  "patience": np.array(patience), "restore": np.array(restore)}
        scores = q3_scores(script)
        gaps = [abs(scores[k] - scores[:k].min()) for k in range(1, Q3_EPOCHS)]
        if min(gaps) > 1e-3:  # no near-tie: float32 forecasts decide every comparison as float64 ones do
            return script


def secret_scripts(seed: int) -> dict:
    """Every scripted training of a student, as flat arrays (what ``inputs/scripts.npz`` holds)."""
    rng = np.random.default_rng([seed, 2026])
    out = {"n_q1": np.array(N_Q1), "n_q2": np.array(N_Q2), "n_q3": np.array(len(Q3_SCENARIOS))}
    for k in range(N_Q1):
        out.update({f"q1_{k}_{key}": v for key, v in _q1_script(rng).items()})
    for k in range(N_Q2):
        out.update({f"q2_{k}_{key}": v for key, v in _q2_script(rng).items()})
    for k, (patience, restore) in enumerate(Q3_SCENARIOS):
        out.update({f"q3_{k}_{key}": v for key, v in _q3_script(rng, patience, restore).items()})
    out.update({f"q2r_{key}": v for key, v in _q2_reduce_script(rng).items()})
    return out


def script(scripts: dict, prefix: str) -> dict:
    n = len(prefix) + 1
    return {key[n:]: value for key, value in scripts.items() if key.startswith(prefix + "_")}


def inputs(seed: int, folder: Path) -> dict:
    """Write the sandbox's inputs (the scripted trainings) into ``folder``; return the secrets the judge needs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    secrets = regenerate_secrets(seed)
    np.savez(folder / "scripts.npz", **secrets["scripts"])
    return secrets


def regenerate_secrets(seed: int) -> dict:
    return {"scripts": secret_scripts(seed)}


# ----------------------------------------------------------------------------------------------------
# What correct callbacks do on the scripts


def reference_callbacks(kind: str) -> list:
    """Keras's own callbacks with the TP's parameters: what ``make_callbacks(kind)`` must return."""
    import keras

    from dl4f import tp_callbacks as tpc

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=tpc.PATIENCE, restore_best_weights=True)
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=tpc.LR_FACTOR, patience=tpc.LR_PATIENCE,
                                               min_lr=tpc.MIN_LR)
    return {"none": [], "early_stopping": [stop], "reduce_lr": [reduce], "both": [stop, reduce]}[kind]


@functools.lru_cache(maxsize=32)
def _reference_drive(seed: int, prefix: str, kind: str) -> dict:
    """Keras's own callbacks of ``kind`` (the TP's parameters) driven on the script ``prefix`` of ``seed``."""
    from dl4f.tp_callbacks_artifacts import drive

    s = script(secret_scripts(seed), prefix)
    return drive(reference_callbacks(kind), s["weights"], 10.0 ** s["log_lr"],
                 {"val_loss": s["val_loss"], "loss": s["loss"]})


def prepare(seed: int, secrets: dict) -> None:
    """What correct callbacks do on the scripts (cached above): the waiting judge drives Keras's own callbacks while
    the notebook runs (``judge.main``), the checks then find it."""
    from dl4f import tp_callbacks as tpc

    for k in range(N_Q1):
        for kind in tpc.KINDS:
            _reference_drive(seed, f"q1_{k}", kind)
    _reference_drive(seed, "q2r", "reduce_lr")


def q3_scores(s: dict) -> np.ndarray:
    """QLIKE of each epoch's forecasts (float32, as the stand-in model computes them) against the targets."""
    from dl4f import evaluation

    X = s["X"].astype("float32")
    n = X.shape[1]
    out = []
    for row in s["weights"][1:].astype("float32"):
        pred = (X @ row[:n] + row[n]).astype("float64")
        out.append(evaluation.qlike(s["y"].astype("float32").astype("float64"), pred))
    return np.array(out)


def q3_expected(s: dict) -> dict:
    """Epochs run, stop epoch (-1: none), best epoch and final weights of a correct QLIKE early stopping."""
    scores = q3_scores(s)
    patience, restore = int(s["patience"]), bool(s["restore"])
    best, best_epoch, wait, stop = np.inf, -1, 0, -1
    for epoch, value in enumerate(scores):
        if value < best:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                stop = epoch
                break
    ran = stop + 1 if stop >= 0 else len(scores)
    final = s["weights"][best_epoch + 1 if restore else ran].astype("float32").astype("float64")
    return {"scores": scores[:ran], "stop": stop, "epochs": ran, "best": best_epoch, "final": final, "script": s}


# ----------------------------------------------------------------------------------------------------
# Reading the artifacts


@dataclass
class Context:
    artifacts: Path
    source: str
    secrets: dict
    quick: bool
    seed: int
    answers: dict | None = None  # grade id -> the student's answer cell (None: not known)

    def __post_init__(self):
        self.files = art.ArtifactCache(self.artifacts)

    @functools.cached_property
    def data(self):
        from dl4f import tp_callbacks

        return tp_callbacks.load_data()

    def model(self, name: str):
        try:
            return self.files.model(name)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None

    def file(self, name: str, reader):
        try:
            return self.files.cached(name, lambda: reader(self.artifacts, name))
        except AssertionError as exc:
            raise AssertionError(f"{exc} (see export.json: did the cells run?)") from None

    def driven(self) -> dict:
        return self.file("driven.npz", art.read_npz)

    def histories(self) -> dict:
        table = self.file("histories.json", art.read_json)
        assert isinstance(table, dict), "histories.json holds no table of histories"
        return table

    def records(self) -> dict:
        table = self.file("records.json", art.read_json)
        assert isinstance(table, dict), "records.json holds no records"
        return table

    def scripts(self) -> dict:
        return self.secrets["scripts"]


def _numbers(arrays: dict, key: str, what: str, length: int | None = None) -> np.ndarray:
    if key not in arrays:
        error = arrays.get(key.rsplit("_", 1)[0] + "__error")
        errors = [str(v) for k, v in arrays.items() if k.endswith("__error")]
        detail = str(error) if error is not None else (errors[0] if errors else "no result")
        raise AssertionError(f"{what}: {detail[:300]}")
    value = arrays[key]
    assert value.dtype.kind in "fiub", f"{what}: not numbers ({value.dtype})"
    value = np.asarray(value, dtype="float64").reshape(-1)
    if length is not None:
        assert value.size == length, f"{what}: {value.size} values, expected {length} (one per epoch run)"
    assert np.isfinite(value).all(), f"{what}: holds NaN or infinite values"
    return value


def _error_of(arrays: dict, prefix: str) -> str | None:
    for key, value in arrays.items():
        if key.startswith(prefix) and key.endswith("__error"):
            return str(value)[:300]
    return None


def _series(table: dict, kind: str, key: str) -> np.ndarray:
    h = table.get(kind)
    assert isinstance(h, dict) and isinstance(h.get(key), list) and h[key], f"no {key} in the history of {kind}"
    values = np.asarray(h[key], dtype="float64")
    assert np.isfinite(values).all(), f"the {key} of {kind} holds NaN or infinite values: did the training diverge?"
    return values


# ----------------------------------------------------------------------------------------------------
# Question 1: Keras's callbacks


def _q1_tests(ctx):
    table = ctx.histories()
    from dl4f import tp_callbacks as tpc

    for kind in tpc.KINDS:
        val = _series(table, kind, "val_loss")
        assert len(val) == len(_series(table, kind, "loss")), f"{kind}: loss and val_loss differ in length"
    n = len(table["none"]["loss"])
    assert all(len(table[kind]["loss"]) <= n for kind in tpc.KINDS), \
        "no training may run longer than the one without callbacks"
    _consistent(ctx, "model_none", "none", "last")
    _consistent(ctx, "model_reduce_lr", "reduce_lr", "last")
    ran = ", ".join(f"{kind}: {len(table[kind]['loss'])} epochs" for kind in tpc.KINDS)
    return f"four trainings ran ({ran})"


def _q1_behaviour(ctx):
    from dl4f import tp_callbacks as tpc

    arrays = ctx.driven()
    checked = 0
    for k in range(N_Q1):
        for kind in tpc.KINDS:
            prefix = f"q1_{k}_{kind}"
            error = _error_of(arrays, f"make_callbacks_{kind}_{k}")
            assert error is None, f"make_callbacks({kind!r}) could not be driven: {error}"
            ref = _reference_drive(ctx.seed, f"q1_{k}", kind)
            what = f"make_callbacks({kind!r}) on a scripted training"
            epochs = int(_numbers(arrays, f"{prefix}_epochs", what)[0])
            want = int(ref["epochs"])
            assert epochs == want, (f"{what}: training ran {epochs} epochs, {want} expected (early stopping on val_loss "
                                    f"with patience {tpc.PATIENCE})" if kind in ("early_stopping", "both")
                                    else f"{what}: the training stopped after {epochs} epochs: this kind must not stop")
            lr = _numbers(arrays, f"{prefix}_lr_after", what, want)
            assert np.allclose(lr, ref["lr_after"], rtol=1e-5), (
                f"{what}: learning rates {np.round(lr, 6).tolist()}, expected {np.round(ref['lr_after'], 6).tolist()} "
                f"(ReduceLROnPlateau on val_loss, factor {tpc.LR_FACTOR}, patience {tpc.LR_PATIENCE}, min_lr "
                f"{tpc.MIN_LR})" if kind in ("reduce_lr", "both") else f"{what}: the learning rate must not change")
            final = _numbers(arrays, f"{prefix}_final", what, len(ref["final"]))
            assert np.allclose(final, ref["final"], atol=1e-6), (
                f"{what}: the final weights are not the best epoch's (restore_best_weights=True)"
                if kind in ("early_stopping", "both") else f"{what}: the final weights must be the last epoch's")
            checked += 1
    return f"make_callbacks: the four kinds behave as Keras's callbacks with the TP's parameters ({checked} scripted runs)"


def _val_mse(ctx, name: str) -> float:
    from dl4f import tp_callbacks as tpc

    model = ctx.model(name)
    _check_structure(model, name)
    pred = tpc.predict(model, ctx.data.X_val)
    return float(np.mean((pred - ctx.data.y_val.astype("float64")) ** 2))


def _check_structure(model, name: str) -> None:
    from dl4f import tp_callbacks as tpc

    shape = tuple(model.inputs[0].shape)
    assert shape == (None, tpc.WINDOW), f"{name}: the input must be (None, {tpc.WINDOW}), got {shape}"
    assert tuple(model.outputs[0].shape) == (None, 1), f"{name}: one forecast per window expected"


def _consistent(ctx, name: str, kind: str, which: str) -> float:
    """The model's validation MSE (computed here) is its history's last (or best) ``val_loss``: the same training."""
    val = _series(ctx.histories(), kind, "val_loss")
    want = float(val[-1] if which == "last" else val.min())
    got = _val_mse(ctx, name)
    assert abs(got - want) <= RESTORE_TOLERANCE * want, (
        f"{name}: validation MSE {got:.5f}, but the {'last' if which == 'last' else 'best'} val_loss of its history "
        f"is {want:.5f}: " + ("the model is not the one this history trained" if which == "last" else
                              "the model does not hold its best epoch's weights (restore_best_weights)"))
    return got


def _q1_restored(ctx):
    table = ctx.histories()
    parts = []
    for name, kind in (("model_early_stopping", "early_stopping"), ("model_both", "both")):
        got = _consistent(ctx, name, kind, "best")
        parts.append(f"{name}: {got:.4f} = best val_loss {float(_series(table, kind, 'val_loss').min()):.4f}")
    return "; ".join(parts)


def _r2(ctx, name: str) -> float:
    from dl4f import tp_callbacks as tpc

    model = ctx.model(name)
    _check_structure(model, name)
    pred = tpc.predict(model, ctx.data.X_test)
    assert np.isfinite(pred).all(), f"{name}: the forecasts hold NaN or infinite values"
    return tpc.r2(ctx.data.y_test, pred)


def _q1_scores(ctx):
    threshold = QUICK_R2_THRESHOLD if ctx.quick else R2_THRESHOLD
    parts = []
    for name in TRAINED:
        score = _r2(ctx, name)
        assert score >= threshold, (f"{name}: R² on the test split is {score:.4f}, below {threshold:.2f}, which the "
                                    "TP's model trained as in the notebook passes")
        parts.append(f"{name} {score:.3f}")
    return f"R² on the test split >= {threshold:.2f}: " + ", ".join(parts)


# ----------------------------------------------------------------------------------------------------
# Question 2: the recorder


def _q2_tests(ctx):
    record = ctx.records().get("recorder")
    assert isinstance(record, dict), "recorder: no TrainingRecorder was used in the training (variable `recorder`)"
    n = len(_series(ctx.histories(), "history_recorded", "loss"))
    for key in ("learning_rate", "update_norm"):
        values = np.asarray(record.get(key, []), dtype="float64")
        assert values.size == n, f"recorder.history[{key!r}] holds {values.size} values for {n} epochs"
        assert np.isfinite(values).all() and (values > 0).all(), f"recorder.history[{key!r}] must be positive numbers"
    _consistent(ctx, "model_recorded", "history_recorded", "last")
    return f"the recorder holds a learning rate and an update norm for each of the {n} epochs"


def _q2_driven(ctx, key: str) -> str:
    arrays = ctx.driven()
    for k in range(N_Q2):
        error = _error_of(arrays, f"TrainingRecorder_{k}")
        assert error is None, f"TrainingRecorder could not be driven: {error}"
        s = script(ctx.scripts(), f"q2_{k}")
        what = f"TrainingRecorder on a scripted training of {Q2_EPOCHS} epochs: history[{key!r}]"
        got = _numbers(arrays, f"q2_{k}_{key}", what, Q2_EPOCHS)
        if key == "learning_rate":
            want = (10.0 ** s["log_lr"]).astype("float32").astype("float64")
            hint = "the optimizer's learning rate during each epoch (model.optimizer.learning_rate)"
        else:
            w = s["weights"].astype("float32").astype("float64")
            want = np.linalg.norm(np.diff(w, axis=0), axis=1)
            hint = "the norm of the change of all the weights over each epoch, ||w_end - w_start||"
        assert np.allclose(got, want, rtol=1e-4, atol=1e-7), (
            f"{what} is {np.round(got, 6).tolist()}, expected {np.round(want, 6).tolist()}: {hint}")
    return f"TrainingRecorder records history[{key!r}] exactly on {N_Q2} scripted trainings"


def _q2_learning_rate(ctx):
    return _q2_driven(ctx, "learning_rate")


def _q2_update_norm(ctx):
    return _q2_driven(ctx, "update_norm")


def _q2_training(ctx):
    # The grader's own run, not the notebook's records: TrainingRecorder then Keras's ReduceLROnPlateau (the TP's
    # parameters) on a scripted training where the rate is lowered several times.
    arrays = ctx.driven()
    error = _error_of(arrays, "TrainingRecorder_reduce")
    assert error is None, f"TrainingRecorder could not be driven beside ReduceLROnPlateau: {error}"
    s = script(ctx.scripts(), "q2r")
    rates = 10.0 ** s["log_lr"]
    ran = _reference_drive(ctx.seed, "q2r", "reduce_lr")
    want = np.concatenate([[rates[0]], ran["lr_after"][:-1]]).astype("float32").astype("float64")
    what = f"TrainingRecorder beside ReduceLROnPlateau on a scripted training of {Q2R_EPOCHS} epochs"
    lr = _numbers(arrays, "q2r_learning_rate", what, len(want))
    assert np.allclose(lr, want, rtol=1e-4), (
        f"{what}: learning rates {np.round(lr, 6).tolist()}, but ReduceLROnPlateau set {np.round(want, 6).tolist()} "
        "(record the rate used during each epoch; the recorder comes first in the list)")
    return f"the recorded learning rates follow ReduceLROnPlateau ({len(np.unique(lr))} distinct values)"


# ----------------------------------------------------------------------------------------------------
# Question 3: early stopping on QLIKE


def _q3_tests(ctx):
    record = ctx.records().get("stopper")
    assert isinstance(record, dict), "stopper: no QLikeEarlyStopping was used in the training (variable `stopper`)"
    scores = np.asarray(record.get("scores", []), dtype="float64")
    n = len(_series(ctx.histories(), "history_qlike", "loss"))
    assert scores.size == n, f"stopper.scores holds {scores.size} values for {n} epochs"
    assert np.isfinite(scores).all(), "stopper.scores holds NaN or infinite values"
    from dl4f import tp_callbacks as tpc

    model = ctx.model("model_qlike")
    _check_structure(model, "model_qlike")
    got = tpc.qlike(ctx.data.y_val, tpc.predict(model, ctx.data.X_val))
    assert abs(got - scores.min()) <= 1e-3 * (1 + abs(got)), (
        f"model_qlike: validation QLIKE {got:.4f}, but the best of stopper.scores is {scores.min():.4f}: the model "
        "should end with its best epoch's weights")
    return f"the stopper scored each of the {n} epochs; model_qlike holds its best epoch (validation QLIKE {got:.4f})"


def _q3_each(ctx, check) -> str:
    arrays = ctx.driven()
    for k, (patience, restore) in enumerate(Q3_SCENARIOS):
        error = _error_of(arrays, f"QLikeEarlyStopping_{k}")
        assert error is None, f"QLikeEarlyStopping could not be driven: {error}"
        s = script(ctx.scripts(), f"q3_{k}")
        what = f"QLikeEarlyStopping(patience={patience}, restore_best_weights={restore}) on a scripted training"
        check(arrays, f"q3_{k}", q3_expected(s), what)
    return f"on {len(Q3_SCENARIOS)} scripted trainings"


def _q3_scores(ctx):
    def check(arrays, prefix, want, what):
        ran = int(_numbers(arrays, f"{prefix}_epochs", what)[0])
        got = _numbers(arrays, f"{prefix}_scores", what + ": scores")
        n = min(ran, want["epochs"])
        assert got.size >= n, f"{what}: scores holds {got.size} values after {ran} epochs"
        assert np.allclose(got[:n], want["scores"][:n], rtol=1e-4, atol=1e-4), (
            f"{what}: scores {np.round(got[:n], 4).tolist()}, expected {np.round(want['scores'][:n], 4).tolist()} "
            "(tpc.qlike of y_val and the model's forecasts of X_val, at the end of each epoch)")
    return "QLikeEarlyStopping scores each epoch's validation QLIKE " + _q3_each(ctx, check)


def _q3_stops(ctx):
    def check(arrays, prefix, want, what):
        ran = int(_numbers(arrays, f"{prefix}_epochs", what)[0])
        stop = int(_numbers(arrays, f"{prefix}_stop", what)[0])
        assert stop == want["stop"] and ran == want["epochs"], (
            f"{what}: {'stopped at epoch ' + str(stop) if stop >= 0 else 'never stopped'}, expected "
            f"{'a stop at epoch ' + str(want['stop']) if want['stop'] >= 0 else 'no stop'} (0-based; the best epoch "
            f"is {want['best']}: stop when QLIKE has not improved for `patience` epochs)")
    return "QLikeEarlyStopping stops at the right epoch " + _q3_each(ctx, check)


def _q3_restores(ctx):
    def check(arrays, prefix, want, what):
        # Judged on the epochs the callback ran, whether or not it stopped at the right one (that is q3_stops).
        ran = int(_numbers(arrays, f"{prefix}_epochs", what)[0])
        assert want["best"] + 2 <= ran <= Q3_EPOCHS, (
            f"{what}: {ran} epochs ran; the training must go past its best epoch ({want['best']}) to show which "
            "weights the callback keeps")
        s = want["script"]
        best = int(np.argmin(q3_scores(s)[:ran]))
        expected = s["weights"][best + 1 if bool(s["restore"]) else ran].astype("float32").astype("float64")
        final = _numbers(arrays, f"{prefix}_final", what, len(expected))
        assert np.allclose(final, expected, atol=1e-6), (
            f"{what}: the final weights are not the {'best epoch' if 'True' in what else 'last epoch'}'s "
            f"(the best of the {ran} epochs run is {best})")
    return "QLikeEarlyStopping restores the best weights when asked, and only then, " + _q3_each(ctx, check)


def _q3_model(ctx):
    from dl4f import tp_callbacks as tpc

    # The grader's own training (the TP's model and recipe, stopped by the student's QLikeEarlyStopping on the
    # validation split), not the notebook's model_qlike, which may have been chosen on the test split.
    _q3_scores(ctx)  # paired with correctness: only a callback that scores the validation QLIKE is credited
    model = ctx.model("grader_qlike")
    _check_structure(model, "the TP's model stopped by QLikeEarlyStopping")
    pred = tpc.predict(model, ctx.data.X_test)
    assert np.isfinite(pred).all(), "the QLIKE-stopped model: the forecasts hold NaN or infinite values"
    score = tpc.qlike(ctx.data.y_test, pred)
    threshold = QUICK_QLIKE_THRESHOLD if ctx.quick else QLIKE_THRESHOLD
    assert score <= threshold, (f"the TP's model stopped by your QLikeEarlyStopping (grader's run): QLIKE on the test "
                                f"split is {score:.4f}, above {threshold:.2f}, which a correct callback passes")
    return (f"the TP's model stopped by QLikeEarlyStopping (grader's run): QLIKE on the test split {score:.4f} <= "
            f"{threshold:.2f}")


_CHECKS: dict[str, Callable[[Context], str]] = {
    "q1_tests": _q1_tests, "q1_behaviour": _q1_behaviour, "q1_restored": _q1_restored, "q1_scores": _q1_scores,
    "q2_tests": _q2_tests, "q2_learning_rate": _q2_learning_rate, "q2_update_norm": _q2_update_norm,
    "q2_training": _q2_training,
    "q3_tests": _q3_tests, "q3_scores": _q3_scores, "q3_stops": _q3_stops, "q3_restores": _q3_restores,
    "q3_model": _q3_model,
}


# The rules of each question, for every one of its graded cells, visible tests included (dl4f_grading.rules).
_ANY = Rules(names=frozenset(), modules=(), task="write the answer in its cell")
QUESTIONS = {"q1": rules.Question(("make_callbacks",), _ANY, "q1_answer"),
             "q2": rules.Question(("TrainingRecorder",), _ANY, "q2_answer"),
             "q3": rules.Question(("QLikeEarlyStopping",), _ANY, "q3_answer")}
CELLS = rules.guarded(_CHECKS, QUESTIONS)


def judge(artifacts: Path, source: str, seed: int, quick: bool, cells: list[str],
          answers: dict | None = None, secrets: dict | None = None) -> dict[str, dict]:
    """Decide every graded cell in ``cells``: {grade_id: {"passed": bool, "message": str}}. Never raises.
    ``answers`` (grade id -> the student's answer cell): where given, answers count only in their own cells."""
    return decide(CELLS, lambda: Context(Path(artifacts), source, prepared(secrets, regenerate_secrets, seed), quick,
                                         seed, answers), cells)
