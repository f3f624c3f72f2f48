"""The introductory TP's grading: what each graded cell checks, its points, and the thresholds. Trusted side only.

Every graded cell of ``solutions/tp-intro/tp-intro.ipynb`` (visible tests and hidden tests alike) is decided here,
from the files of a sandboxed run (``dl4f.tp_intro_artifacts``) and the student's source read as text:

- Question 1: ``mlp_forward``'s outputs on the grader's weights and inputs against NumPy in float64 here
  (``EQUIVALENCE_THRESHOLD``), and a static reading: the function reaches no framework (NumPy only);
- Questions 2 and 3: the models, reloaded with Keras's own layers only, their structure checked and their R² computed
  here on the test split this process builds from the cache (the VIX input aligned by the grader's own
  ``vix_before``); the linear regression scored from its coefficients; ``vix_before`` on a VIX series with days
  removed and dates (weekends included) drawn from the seed, against the last close strictly before each date;
- Question 4: ``MyDense``'s outputs (built, rebuilt from ``get_config``, and in a model saved then reloaded in the
  sandbox) on the grader's weights against ``activation(x W + b)`` computed here; a static reading: it subclasses
  ``Layer`` and reaches no ready-made ``Dense``;
- Question 5: ``loss_and_grads`` against the MSE gradient of a 2-layer MLP derived by hand here (float64), and the
  weights ``fit_by_hand`` reaches against plain mini-batch SGD computed here, which is what ``model.fit`` does with
  ``keras.optimizers.SGD`` and ``shuffle=False`` (``tests/test_grade_tp_intro.py`` checks that equality);
  a static reading: ``fit_by_hand`` uses JAX's gradient and never calls ``fit``.

Every cell of a question, its visible test included, is first judged with the question's rules
(``QUESTIONS``, ``dl4f_grading.rules``): NumPy only in Question 1, no ready-made ``Dense`` in Question 4 (read from
the source, and from the layers ``MyDense`` holds at run time), JAX's gradient without ``fit`` in Question 5, judged
on what its compiled JAX program computes, run by the grader where no student Python ran
(``dl4f_grading.programs``); names resolved at run time anywhere send the notebook
to the instructor's review; with the answer cells known, each answer counts only in its own cell.

``inputs(seed, folder)`` makes the files the sandbox receives; ``judge(...)`` returns, per graded cell, a verdict.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl4f import evaluation
from dl4f_grading import keras_artifacts as art
from dl4f_grading import programs, rules
from dl4f_grading.cells import decide, prepared
from dl4f_grading.source_checks import Rules

ASSIGNMENT = "tp-intro"
EXPORT_MODULE = "dl4f.tp_intro_artifacts"
RECIPE_EPOCHS = 5  # dl4f.tp_intro.RECIPE["epochs"]: fewer epochs in the sandbox means the quick thresholds

EQUIVALENCE_THRESHOLD = 1e-5  # forward passes: max |error| <= 1e-5 * max(1, max |reference|)
GRADIENT_THRESHOLD = 1e-4  # gradients and trained weights (float32 against float64): relative to 1 + max |ref|
# Minimum R² on the test split (recipe: 5 epochs of Adam 1e-3, batch 64, best validation epoch).
# Calibrated by benchmarks/calibrate_tp_intro.py over 10 seeds (chapters/intro/results/tp_intro_calibration.csv;
# numbers in the notebook's grading note): threshold = min(observed) - 3 std, rounded down to 0.01.
# Observed at 5 epochs, mean/std/min: MLP 0.260/0.038/0.194, MLP + VIX 0.274/0.039/0.192; linear regression
# 0.3004 (closed form, the same for every seed).
R2_THRESHOLDS = {"Linear regression": 0.29, "MLP": 0.07, "MLP + VIX": 0.07}
# With fewer epochs than the recipe (the instructor's `--epochs 1`: CI) only the plumbing is checked.
# Observed at 1 epoch over 10 seeds, mean/std/min: MLP 0.035/0.236/-0.522, MLP + VIX 0.056/0.188/-0.310.
QUICK_R2_THRESHOLDS = {"Linear regression": 0.29, "MLP": -1.23, "MLP + VIX": -0.88}

PUBLIC_SEED = 20240101  # the visible tests' probes: the same for every student
GRADIENT_NAMES = frozenset({"grad", "value_and_grad"})

# The rules of each question, for every one of its graded cells, visible tests included (dl4f_grading.rules).
_ANY = Rules(names=frozenset(), modules=(), task="write the answer in its cell")
NUMPY_ONLY = Rules(names=frozenset({"Dense"}), modules=("keras", "jax", "tensorflow", "tf_keras", "torch", "flax",
                                                        "dl4f", "sklearn", "scipy"),
                   task="write the forward pass with NumPy only", source_wide=False)
OWN_DENSE = Rules(names=frozenset({"Dense", "EinsumDense"}), modules=("keras.src.layers.core",),
                  task="compute x W + b yourself")
OWN_LOOP = Rules(names=frozenset(), modules=("dl4f", "sklearn", "torch", "tensorflow", "optax"),
                 task="train with JAX's gradient yourself", source_wide=False)
Q1 = rules.Question(("mlp_forward",), NUMPY_ONLY, "q1_answer")
Q2 = rules.Question(("build_mlp",), _ANY, "q2_answer")
Q3 = rules.Question(("vix_before", "build_two_inputs"), _ANY, "q3_answer")
Q4 = rules.Question(("MyDense",), OWN_DENSE, "q4_answer", layer_classes=("MyDense",))
Q5_GRADS = rules.Question(("loss_and_grads",), OWN_LOOP, "q5_answer")
Q5_FIT = rules.Question(("loss_and_grads", "fit_by_hand"), OWN_LOOP, "q5_answer",
                        attributes=frozenset({"fit", "train_on_batch", "fit_generator"}),
                        required=((GRADIENT_NAMES, "use JAX's gradient (jax.value_and_grad), directly or via a helper"),))
QUESTIONS = {"q1": Q1, "q2": Q2, "q3": Q3, "q4": Q4, "q5_tests": Q5_GRADS, "q5_gradient": Q5_GRADS, "q5": Q5_FIT}
_PASSIVE = ("InputLayer", "Flatten", "Dropout")


# ----------------------------------------------------------------------------------------------------
# The grader's inputs, from the seed


def _probe(rng, d, h, n, activation) -> dict:
    return {"X": rng.normal(0.0, 1.0, (n, d)), "W1": rng.normal(0.0, 0.5, (d, h)), "b1": rng.normal(0.0, 0.3, h),
            "W2": rng.normal(0.0, 0.5, (h, 1)), "b2": rng.normal(0.0, 0.3, 1), "activation": activation}


def make_probes(seed: int) -> list[dict]:
    """Probe 0 is public (the notebook's sizes); the others are drawn from ``seed`` (sizes, batch of 1, activation)."""
    from dl4f import tp_intro

    probes = [_probe(np.random.default_rng(PUBLIC_SEED), tp_intro.WINDOW, tp_intro.HIDDEN, 64, "relu")]
    rng = np.random.default_rng([seed, 1])
    for n, activation in ((1, ""), (23, "relu"), (40, "tanh")):
        probes.append(_probe(rng, int(rng.integers(3, 31)), int(rng.integers(1, 41)), n, activation))
    return probes


def vix_task(seed: int) -> dict:
    """The real VIX with 5% of its days removed, and 300 query dates (weekends included) after its first day."""
    import pandas as pd

    from dl4f import tp_intro

    rng = np.random.default_rng([seed, 3])
    vix = tp_intro.load_vix()
    keep = rng.random(len(vix)) > 0.05
    keep[:3] = True
    vix = vix[keep]
    days = pd.date_range(vix.index[1], vix.index[-1], freq="D")
    queries = pd.DatetimeIndex(np.sort(rng.choice(days.values, size=300, replace=False)))
    return {"vix": vix, "queries": queries, "expected": reference_vix_before(vix, queries)}


def reference_vix_before(vix, dates) -> np.ndarray:
    """The VIX close of the last day strictly before each date: what a forecast made the evening before may use."""
    import pandas as pd

    index = pd.DatetimeIndex(vix.index)
    position = index.searchsorted(pd.DatetimeIndex(dates), side="left") - 1
    values = np.asarray(vix, dtype="float64")[np.maximum(position, 0)]
    return np.where(position >= 0, values, np.nan)


# A ReLU's gradient jumps where its input crosses 0: a pre-activation within float32 rounding (~1e-6) of 0 on the
# reference's path may take the other side in the student's float32 run, and one sample's gradient then differs
# by O(1) (measured: seed 43, epoch losses off by 8e-4 against a tolerance of 1.5e-4). The grader draws its task
# again until every pre-activation of the SGD path and of the gradient probes is at least KINK_MARGIN from 0
# (100 x the float32 error; measured over 300 seeds: 1.33 draws per task, at most 5, a millisecond each).
KINK_MARGIN = 1e-4
MAX_TASK_DRAWS = 1000


def train_task(seed: int) -> dict:
    """A small regression task, initial weights, SGD settings, and gradient probes (probe 0 public), drawn until
    no ReLU input of the reference's computations lies within ``KINK_MARGIN`` of its kink."""
    rng = np.random.default_rng([seed, 5])
    for _ in range(MAX_TASK_DRAWS):
        task = _draw_train_task(rng)
        if kink_distance(task) >= KINK_MARGIN:
            return task
    raise RuntimeError(f"no training task with ReLU inputs {KINK_MARGIN} from 0 in {MAX_TASK_DRAWS} draws")


def _draw_train_task(rng: np.random.Generator) -> dict:
    d, h, n = int(rng.integers(4, 9)), int(rng.integers(5, 12)), 200
    X = rng.normal(0.0, 1.0, (n, d))
    y = np.abs(X[:, :2].sum(axis=1)) + 0.1 * rng.normal(size=n)
    task = {"X": X, "y": y, "W1": rng.normal(0, 0.5, (d, h)), "b1": rng.normal(0, 0.1, h),
            "W2": rng.normal(0, 0.5, (h, 1)), "b2": rng.normal(0, 0.1, 1),
            "epochs": 2, "batch_size": 32, "learning_rate": 0.05, "n_grad_probes": 3}
    for k in range(3):
        r = np.random.default_rng(PUBLIC_SEED + 1) if k == 0 else rng
        m = (13, 1, 50)[k]
        task.update({f"g{k}_X": r.normal(0, 1, (m, d)), f"g{k}_y": np.abs(r.normal(1, 1, m)),
                     f"g{k}_W1": r.normal(0, 0.5, (d, h)), f"g{k}_b1": r.normal(0, 0.3, h),
                     f"g{k}_W2": r.normal(0, 0.5, (h, 1)), f"g{k}_b2": r.normal(0, 0.3, 1)})
    return task


def kink_distance(task: dict) -> float:
    """The smallest |ReLU input| met by the reference SGD path and by the gradient probes of ``task``."""
    closest = _sgd(task)[2]
    for k in range(int(task["n_grad_probes"])):
        closest = min(closest, float(np.abs(task[f"g{k}_X"] @ task[f"g{k}_W1"] + task[f"g{k}_b1"]).min()))
    return closest


def build_sizes(seed: int) -> tuple[int, int]:
    rng = np.random.default_rng([seed, 7])
    return int(rng.integers(10, 41)), int(rng.integers(8, 65))


def regenerate_secrets(seed: int) -> dict:
    return {"probes": make_probes(seed), "vix": vix_task(seed), "train": train_task(seed), "sizes": build_sizes(seed)}


def inputs(seed: int, folder: Path) -> dict:
    """Write the sandbox's inputs into ``folder``; return the secrets the judge needs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    secrets = regenerate_secrets(seed)
    arrays = {"n_probes": np.array(len(secrets["probes"])), "build_window": np.array(secrets["sizes"][0]),
              "build_hidden": np.array(secrets["sizes"][1])}
    for i, p in enumerate(secrets["probes"]):
        arrays.update({f"p{i}_{k}": np.asarray(v) for k, v in p.items()})
    np.savez(folder / "intro.npz", **arrays)
    v = secrets["vix"]
    np.savez(folder / "vix.npz", values=v["vix"].to_numpy(), dates=v["vix"].index.values.astype("datetime64[ns]"),
             queries=v["queries"].values.astype("datetime64[ns]"))
    np.savez(folder / "train.npz", **{k: np.asarray(val) for k, val in secrets["train"].items()})
    return secrets


def prepare(seed: int, secrets: dict) -> None:
    """What the checks' model loading will compile, compiled while the notebook runs (the waiting judge,
    ``judge.main``): loading a ``.keras`` file builds each layer, which draws its initial weights (a JAX program per
    shape, 0.05 s each) before the file's weights replace them. Drawn here at the shapes the TP prescribes
    (``model_mlp``, ``model_vix``: ``WINDOW`` days, ``HIDDEN`` units) and at the secret sizes (the builders), for a
    hidden layer on the window or on the window and the VIX side by side."""
    import keras

    from dl4f import tp_intro

    for window, hidden in ((tp_intro.WINDOW, tp_intro.HIDDEN), tuple(secrets["sizes"])):
        for inputs in (window, window + 1):
            keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dense(1)])


# ----------------------------------------------------------------------------------------------------
# The grader's references (float64 NumPy)


def relu(x):
    return np.maximum(x, 0.0)


def mlp_reference(X, W1, b1, W2, b2) -> np.ndarray:
    return relu(X @ W1 + b1) @ W2 + b2


def dense_reference(X, W, b, activation: str) -> np.ndarray:
    z = X @ W + b
    return {"": z, "relu": relu(z), "tanh": np.tanh(z)}[activation]


def mse_and_grads(X, y, W1, b1, W2, b2) -> tuple[float, list[np.ndarray]]:
    """MSE of the 2-layer MLP and its gradient with respect to (W1, b1, W2, b2), by the chain rule."""
    z = X @ W1 + b1
    hidden = relu(z)
    pred = (hidden @ W2 + b2).reshape(-1)
    err = pred - y.reshape(-1)
    d_pred = (2.0 / len(err)) * err[:, None]
    d_hidden = (d_pred @ W2.T) * (z > 0)
    return float(np.mean(err**2)), [X.T @ d_hidden, d_hidden.sum(0), hidden.T @ d_pred, d_pred.sum(0)]


def sgd_reference(task: dict) -> tuple[list[np.ndarray], np.ndarray]:
    """Plain mini-batch SGD, batches in order (``model.fit(..., shuffle=False)`` with ``SGD``): weights, epoch losses.

    An epoch's loss is the mean of the batch losses (each computed before its update) weighted by batch size,
    as Keras reports it.
    """
    weights, losses, _ = _sgd(task)
    return weights, losses


def _sgd(task: dict) -> tuple[list[np.ndarray], np.ndarray, float]:
    """``sgd_reference``'s path, and the smallest |ReLU input| met on it."""
    X, y = np.asarray(task["X"], "float64"), np.asarray(task["y"], "float64")
    weights = [np.asarray(task[k], "float64") for k in ("W1", "b1", "W2", "b2")]
    size, lr, losses, closest = int(task["batch_size"]), float(task["learning_rate"]), [], np.inf
    for _ in range(int(task["epochs"])):
        total = 0.0
        for start in range(0, len(X), size):
            xb, yb = X[start:start + size], y[start:start + size]
            closest = min(closest, float(np.abs(xb @ weights[0] + weights[1]).min()))
            loss, grads = mse_and_grads(xb, yb, *weights)
            total += loss * len(xb)
            weights = [w - lr * g for w, g in zip(weights, grads, strict=True)]
        losses.append(total / len(X))
    return weights, np.array(losses), closest


# ----------------------------------------------------------------------------------------------------
# Reading and comparing


_array, _close = art.array, art.close


@dataclass
class Context:
    artifacts: Path
    source: str
    secrets: dict
    quick: bool
    answers: dict | None = None  # grade id -> the student's answer cell (None: not known)
    verified: Path | None = None  # the outputs of the notebook's JAX programs, run by the grader's verifier

    def __post_init__(self):
        self.files = art.ArtifactCache(self.artifacts)

    def npz(self, name: str) -> dict:
        return self.files.npz(name)

    def model(self, name: str):
        return self.files.model(name)

    @functools.cached_property
    def data(self):
        from dl4f import tp_intro

        return tp_intro.load_data()

    @functools.cached_property
    def vix_test(self) -> np.ndarray:
        from dl4f import tp_intro

        return reference_vix_before(tp_intro.load_vix(), self.data.dates_test)[:, None] * tp_intro.VIX_SCALE

    def threshold(self, name: str) -> float:
        return (QUICK_R2_THRESHOLDS if self.quick else R2_THRESHOLDS)[name]


def _predict(model, inputs) -> np.ndarray:
    pred = np.asarray(model.predict(inputs, batch_size=2048, verbose=0), dtype="float64").reshape(-1)
    assert np.isfinite(pred).all(), "the predictions hold NaN or infinite values: did the training diverge?"
    return pred


# ----------------------------------------------------------------------------------------------------
# Question 1: the forward pass in NumPy


def _check_forward(ctx: Context, public: bool) -> str:
    arrays = ctx.npz("q1.npz")
    worst = 0.0
    for i, p in enumerate(ctx.secrets["probes"]):
        if (i == 0) != public:
            continue
        ref = mlp_reference(p["X"], p["W1"], p["b1"], p["W2"], p["b2"])
        got = _array(arrays, f"out_{i}", ref.shape, f"mlp_forward on {p['X'].shape[0]} samples x {p['X'].shape[1]} "
                     f"inputs, {p['W1'].shape[1]} hidden units (output of shape {ref.shape})")
        worst = max(worst, _close(got, ref, "mlp_forward: relu(X W1 + b1) W2 + b2", EQUIVALENCE_THRESHOLD))
    return f"mlp_forward matches the reference forward pass (max error {worst:.1e})"


def _q1_tests(ctx):
    return _check_forward(ctx, public=True)


def _q1_forward(ctx):
    return _check_forward(ctx, public=False)


def _q1_numpy(ctx):
    _check_forward(ctx, public=False)  # NumPy only: the question's rules, checked for every Question 1 cell
    return "mlp_forward is NumPy only"


# ----------------------------------------------------------------------------------------------------
# Questions 2 and 3: Keras models


def structural_layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ not in _PASSIVE]


def _activation(layer) -> str:
    act = getattr(layer, "activation", None)
    return "linear" if act is None else getattr(act, "__name__", str(act))


def check_mlp(model, what: str, window: int, hidden: int, *, sequential: bool = True) -> None:
    import keras

    if sequential:
        assert isinstance(model, keras.Sequential), f"{what}: use the Sequential API"
    layers = structural_layers(model)
    types = [type(layer).__name__ for layer in layers]
    assert types == ["Dense", "Dense"], f"{what}: expected Dense({hidden}, relu) -> Dense(1), got {types}"
    assert layers[0].units == hidden and _activation(layers[0]) == "relu", (
        f"{what}: the hidden layer must be Dense({hidden}, relu), is Dense({layers[0].units}, {_activation(layers[0])})")
    assert layers[1].units == 1 and _activation(layers[1]) == "linear", f"{what}: the output must be Dense(1), linear"
    assert tuple(model.inputs[0].shape) == (None, window), f"{what}: the input must be (None, {window})"
    assert tuple(model.outputs[0].shape) == (None, 1), f"{what}: the output must be (None, 1)"


def _linear(ctx: Context) -> tuple[np.ndarray, float]:
    from dl4f import tp_intro

    arrays = ctx.npz("model_linear.npz")
    coef = _array(arrays, "coef", (tp_intro.WINDOW,), "model_linear: one coefficient per day of the window")
    intercept = _array(arrays, "intercept", (1,), "model_linear: the intercept")
    return coef, float(intercept[0])


def linear_r2(ctx: Context) -> float:
    coef, intercept = _linear(ctx)
    return evaluation.r2(ctx.data.y_test, ctx.data.X_test @ coef + intercept)


def mlp_r2(ctx: Context) -> float:
    return ctx.files.cached("r2_mlp", lambda: evaluation.r2(ctx.data.y_test,
                                                            _predict(ctx.model("model_mlp"), ctx.data.X_test)))


def vix_r2(ctx: Context) -> float:
    def score():
        model = ctx.model("model_vix")
        assert len(model.inputs) == 2, "model_vix must have two inputs: the returns window, then the VIX"
        return evaluation.r2(ctx.data.y_test, _predict(model, [ctx.data.X_test, ctx.vix_test]))
    return ctx.files.cached("r2_vix", score)


def _r2_check(ctx: Context, name: str, score: float) -> str:
    threshold = ctx.threshold(name)
    assert score >= threshold, (f"{name}: R² on the test split is {score:.4f}, below {threshold:.2f}, which a correct "
                                "model trained with the recipe passes")
    return f"{name}: R² = {score:.4f} >= {threshold:.2f}"


def _q2_tests(ctx):
    from dl4f import tp_intro

    check_mlp(ctx.model("model_mlp"), "model_mlp", tp_intro.WINDOW, tp_intro.HIDDEN)
    floor = min(0.0, ctx.threshold("MLP"))  # 0 with the recipe; a trained model may not beat it after 1 epoch
    assert mlp_r2(ctx) > floor and linear_r2(ctx) > 0, f"the models should beat the mean forecast (R² > {floor:g})"
    return "model_mlp has the expected layers and both models beat the mean forecast"


def _q2_structure(ctx):
    window, hidden = ctx.secrets["sizes"]
    model = ctx.model("build_mlp")
    check_mlp(model, f"build_mlp({window}, {hidden})", window, hidden)
    p = _probe(np.random.default_rng(0), window, hidden, 16, "relu")
    model.set_weights([p[k].astype("float32") for k in ("W1", "b1", "W2", "b2")])
    err = _close(_predict(model, p["X"].astype("float32"))[:, None], mlp_reference(p["X"], p["W1"], p["b1"], p["W2"],
                 p["b2"]), "build_mlp with copied weights against the NumPy forward pass", EQUIVALENCE_THRESHOLD)
    return f"build_mlp({window}, {hidden}) is Dense({hidden}, relu) -> Dense(1), equal to the forward pass ({err:.1e})"


def _q2_r2(ctx):
    return _r2_check(ctx, "Linear regression", linear_r2(ctx)) + "; " + _r2_check(ctx, "MLP", mlp_r2(ctx))


def _q3_model(model, what: str, window: int, hidden: int) -> None:
    import keras

    assert not isinstance(model, keras.Sequential), f"{what}: use the functional API (keras.Model(inputs, outputs))"
    shapes = [tuple(x.shape) for x in model.inputs]
    assert shapes == [(None, window), (None, 1)], (
        f"{what}: two inputs expected, the returns window (None, {window}) then the VIX (None, 1); got {shapes}")
    assert tuple(model.outputs[0].shape) == (None, 1), f"{what}: the output must be (None, 1)"
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert any(layer.units == hidden and _activation(layer) == "relu" for layer in dense), (
        f"{what}: a hidden Dense({hidden}, relu) layer is expected")
    assert dense and dense[-1].units == 1 and _activation(dense[-1]) == "linear", f"{what}: the output must be Dense(1)"


def _q3_tests(ctx):
    # The visible test's own assertion: a Monday's forecast uses Friday's close (checked on the grader's Mondays).
    task = ctx.secrets["vix"]
    mondays = np.flatnonzero((task["queries"].day_of_week == 0) & np.isfinite(task["expected"]))
    got = _array(ctx.npz("q3.npz"), "values", task["expected"].shape, "vix_before on the grader's dates")
    wrong = [k for k in mondays if not np.isclose(got[k], task["expected"][k], rtol=1e-12, atol=0)]
    assert not wrong, (f"vix_before: on Monday {task['queries'][wrong[0]].date()} it does not return the previous "
                       "trading day's close: use the last VIX close strictly before the date")
    assert len(ctx.model("model_vix").inputs) == 2, "model_vix must have two inputs"
    floor = min(0.0, ctx.threshold("MLP + VIX"))
    assert vix_r2(ctx) > floor, f"model_vix should beat the mean forecast (R² > {floor:g})"
    return "model_vix has two inputs and beats the mean forecast"


def _q3_alignment(ctx):
    task = ctx.secrets["vix"]
    expected = task["expected"]
    arrays = ctx.npz("q3.npz")
    got = _array(arrays, "values", expected.shape, f"vix_before on {len(expected)} dates (one value per date)")
    same_day = np.asarray(task["vix"].reindex(task["queries"]), dtype="float64")
    wrong = ~np.isclose(got, expected, rtol=1e-12, atol=0)
    if wrong.any():
        lookahead = np.isfinite(same_day) & np.isclose(got, same_day, rtol=1e-12, atol=0) & wrong
        if lookahead.any():
            day = task["queries"][int(np.flatnonzero(lookahead)[0])].date()
            raise AssertionError(f"vix_before: on {day} it returns the VIX of that same day, known only at its close: "
                                 "look-ahead (use the last close strictly before the date)")
        day = task["queries"][int(np.flatnonzero(wrong)[0])].date()
        raise AssertionError(f"vix_before: wrong on {int(wrong.sum())} of {len(expected)} dates (first: {day}); "
                             "the VIX of the last day strictly before each date is expected, whatever the calendar")
    return f"vix_before returns the last VIX close strictly before each of {len(expected)} dates: no look-ahead"


def _q3_structure(ctx):
    from dl4f import tp_intro

    window, hidden = ctx.secrets["sizes"]
    _q3_model(ctx.model("build_two_inputs"), f"build_two_inputs({window}, {hidden})", window, hidden)
    _q3_model(ctx.model("model_vix"), "model_vix", tp_intro.WINDOW, tp_intro.HIDDEN)
    return "a functional model of two inputs, a hidden Dense(relu) layer and one linear output"


def _q3_r2(ctx):
    return _r2_check(ctx, "MLP + VIX", vix_r2(ctx))


# ----------------------------------------------------------------------------------------------------
# Question 4: the custom Dense layer


def _check_dense(ctx: Context, public: bool, keys=("out",)) -> float:
    arrays = ctx.npz("q4.npz")
    worst = 0.0
    for i, p in enumerate(ctx.secrets["probes"]):
        if (i == 0) != public:
            continue
        act = str(p["activation"])
        what = f"MyDense({p['W1'].shape[1]}, activation={act or None!r}) on {p['X'].shape[0]} x {p['X'].shape[1]}"
        for key in keys:
            if key == "out" or key == "config_out":
                ref = dense_reference(p["X"], p["W1"], p["b1"], act)
            else:
                ref = dense_reference(p["X"], p["W1"], p["b1"], act) @ p["W2"] + p["b2"]
            got = _array(arrays, f"{key}_{i}", ref.shape, f"{what} ({key.replace('_', ' ')})")
            worst = max(worst, _close(got, ref, f"{what}: {key.replace('_', ' ')} against activation(x W + b)",
                                      EQUIVALENCE_THRESHOLD))
    return worst


def _own_dense(ctx: Context) -> None:
    import ast

    # Static rules (no Dense under any name, a Layer subclass) are the question's; here the run-time fact: the
    # layers MyDense holds, as built in the sandbox.
    configs = art.read_json(ctx.artifacts, "q4_config.json")
    held = [c for k, v in (configs.items() if isinstance(configs, dict) else ()) if k.startswith("sublayers_")
            and isinstance(v, list) for c in v]
    problems = rules.sublayer_problems(held, OWN_DENSE.names, "MyDense")
    assert not problems, "; ".join(problems)
    tree = ast.parse(ctx.source)
    cls = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MyDense"][-1]
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    missing = sorted({"build", "call", "get_config"} - methods)
    assert not missing, f"MyDense must define {', '.join(missing)}"


def _q4_tests(ctx):
    _own_dense(ctx)
    err = _check_dense(ctx, public=True)
    return f"MyDense equals activation(x W + b) on the notebook's sizes (max error {err:.1e})"


def _q4_equals_dense(ctx):
    _own_dense(ctx)
    err = _check_dense(ctx, public=False)
    return f"MyDense equals keras.layers.Dense with the same weights on the grader's probes (max error {err:.1e})"


def _q4_config(ctx):
    _own_dense(ctx)
    configs = art.read_json(ctx.artifacts, "q4_config.json")
    assert isinstance(configs, dict) and configs, "get_config: nothing was exported (see export.json)"
    for i, p in enumerate(ctx.secrets["probes"]):
        config = configs.get(str(i))
        if i == 0 or config is None:
            continue
        assert isinstance(config, dict), "get_config must return a dict"
        assert config.get("units") == p["W1"].shape[1], (
            f"get_config must hold units={p['W1'].shape[1]}, holds {config.get('units')!r}")
        assert "activation" in config, "get_config must hold the activation"
    assert any(k.isdigit() and k != "0" for k in configs), "get_config: no configuration on the grader's probes"
    _check_dense(ctx, public=False, keys=("config_out",))
    return "get_config holds units and activation, and from_config rebuilds an equal layer"


def _q4_save(ctx):
    _own_dense(ctx)
    err = _check_dense(ctx, public=False, keys=("model_out", "reloaded_out"))
    return f"a model with MyDense gives the same outputs after model.save and load_model (max error {err:.1e})"


# ----------------------------------------------------------------------------------------------------
# Question 5: the training loop by hand


def _program(ctx: Context, k: int, shapes: list[tuple]) -> list[np.ndarray]:
    """``loss_and_grads`` on probe ``k`` as its JAX program computes it, run by the grader's verifier where no student
    Python ran (``dl4f_grading.programs``): the loss, then the gradient of each weight."""
    calls = programs.outputs(ctx.verified, f"loss_and_grads_{k}", "loss_and_grads",
                             ctx.npz("q5.npz").get(f"program_error_{k}"))
    assert len(calls) == 1 and len(calls[0]) == 1 + len(shapes) and all(
        g.size == int(np.prod(s)) for g, s in zip(calls[0][1:], shapes, strict=True)), (
        "loss_and_grads(model, trainable, X, y) must return the loss and a list of one gradient per weight, "
        "in the order of model.trainable_variables")
    return [calls[0][0].reshape(1)] + [g.reshape(s) for g, s in zip(calls[0][1:], shapes, strict=True)]


def _check_gradients(ctx: Context, public: bool) -> str:
    task = ctx.secrets["train"]
    arrays = ctx.npz("q5.npz")
    worst = 0.0
    for k in range(int(task["n_grad_probes"])):
        if (k == 0) != public:
            continue
        weights = [task[f"g{k}_{n}"] for n in ("W1", "b1", "W2", "b2")]
        loss, grads = mse_and_grads(task[f"g{k}_X"], task[f"g{k}_y"], *weights)
        shapes = [g.shape if n != "b2" else (1,) for n, g in zip(("W1", "b1", "W2", "b2"), grads, strict=True)]
        program = _program(ctx, k, shapes)
        got = _array(arrays, f"loss_{k}", (1,), f"loss_and_grads on {len(task[f'g{k}_y'])} samples: the loss")
        programs.same_as_python(program[0], got, "loss_and_grads (the loss)")
        worst = max(worst, _close(program[0], [loss], "loss_and_grads: the MSE loss", GRADIENT_THRESHOLD))
        for n, g, shape, computed in zip(("W1", "b1", "W2", "b2"), grads, shapes, program[1:], strict=True):
            got = _array(arrays, f"grad_{k}_{n}", shape, f"loss_and_grads: the gradient of {n} (shape {shape})")
            programs.same_as_python(computed, got, f"loss_and_grads (the gradient of {n})")
            worst = max(worst, _close(computed, g.reshape(shape), f"loss_and_grads: the gradient of {n}",
                                      GRADIENT_THRESHOLD))
    return (f"loss_and_grads: the MSE and its gradient match the chain rule (max error {worst:.1e}), computed by its "
            "JAX program")


def _q5_tests(ctx):
    return _check_gradients(ctx, public=True)


def _q5_gradient(ctx):
    return _check_gradients(ctx, public=False)


def _q5_matches_fit(ctx):
    task = ctx.secrets["train"]
    arrays = ctx.npz("q5.npz")
    _program(ctx, 0, [np.shape(task[f"g0_{n}"]) if n != "b2" else (1,) for n in ("W1", "b1", "W2", "b2")])
    weights, losses = sgd_reference(task)
    got = _array(arrays, "losses", losses.shape, f"fit_by_hand: one loss per epoch ({len(losses)} epochs)")
    _close(got, losses, "fit_by_hand: the epoch losses (mean over the epoch's samples)", GRADIENT_THRESHOLD)
    worst = 0.0
    for n, w in zip(("W1", "b1", "W2", "b2"), weights, strict=True):
        shape = w.shape
        got = _array(arrays, f"trained_{n}", shape, f"fit_by_hand: the trained {n}")
        worst = max(worst, _close(got, w, f"fit_by_hand: the trained {n} (against mini-batch SGD in order)",
                                  GRADIENT_THRESHOLD))
    return f"fit_by_hand reaches model.fit's weights and losses (max error {worst:.1e}; losses {np.round(losses, 4)})"


_CHECKS: dict[str, Callable[[Context], str]] = {
    "q1_tests": _q1_tests, "q1_forward": _q1_forward, "q1_numpy": _q1_numpy,
    "q2_tests": _q2_tests, "q2_structure": _q2_structure, "q2_r2": _q2_r2,
    "q3_tests": _q3_tests, "q3_alignment": _q3_alignment, "q3_structure": _q3_structure, "q3_r2": _q3_r2,
    "q4_tests": _q4_tests, "q4_equals_dense": _q4_equals_dense, "q4_config": _q4_config, "q4_save": _q4_save,
    "q5_tests": _q5_tests, "q5_gradient": _q5_gradient, "q5_matches_fit": _q5_matches_fit,
}
CELLS = rules.guarded(_CHECKS, QUESTIONS)


def judge(artifacts: Path, source: str, seed: int, quick: bool, cells: list[str],
          answers: dict | None = None, verified: str | None = None, secrets: dict | None = None) -> dict[str, dict]:
    """Decide every graded cell in ``cells``: {grade_id: {"passed": bool, "message": str}}. Never raises.
    ``answers`` (grade id -> the student's answer cell): where given, answers count only in their own cells."""
    return decide(CELLS, lambda: Context(Path(artifacts), source, prepared(secrets, regenerate_secrets, seed), quick,
                                         answers, Path(verified) if verified else None), cells)
