"""Calibrate the R² thresholds of the transformer TP (``dl4f_grading.tp_transformer``) over several seeds.

Trains the solution's two networks (their builders are read from the solution notebook itself,
``solutions/tp-transformer/tp-transformer.ipynb``: the definitions of its answer cells, nothing else) with the
TP's recipe (``dl4f.tp_transformer.fit_kwargs``) for each seed, at the recipe's epochs and at 1 epoch (the
instructor's quick runs), scores them on the test split, and writes one row per (model, epochs, seed) into
``chapters/building-blocks/results/tp_transformer_calibration.csv`` with a summary on stdout. A threshold is
``min - 3 std`` over the seeds, rounded down to 0.01. The HAR regression is fitted once (closed form).

    DL4F_DATA_DIR=/tmp/dl4f-cache .venv/bin/python benchmarks/calibrate_tp_transformer.py --seeds 10
"""

from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path

# isort: off
import dl4f  # noqa: F401  (sets KERAS_BACKEND=jax: must come before keras)
import keras
# isort: on
import nbformat
from calibration import write_summary

from dl4f import evaluation
from dl4f import tp_transformer as tpt
from dl4f_grading import source_checks

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "tp-transformer" / "tp-transformer.ipynb"
OUT = ROOT / "chapters" / "building-blocks" / "results" / "tp_transformer_calibration.csv"


def solution_definitions(path: Path = SOLUTION) -> dict:
    """The solution's setup cell and the imports, functions and classes of its answer cells, executed."""
    nb = nbformat.read(path, as_version=4)
    code = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type != "code" or not (gid == "setup" or gid.endswith("_answer")):
            continue
        tree = ast.parse(source_checks.clean_cell(cell.source))
        kept = [node for node in tree.body if gid == "setup" or isinstance(
            node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))]
        code.append(ast.unparse(ast.Module(body=kept, type_ignores=[])))
    namespace: dict = {}
    exec(compile("\n\n".join(code), str(path), "exec"), namespace)  # noqa: S102  (the instructor's own solution)
    return namespace


def train(build, data, seed: int, epochs: int):
    keras.utils.set_random_seed(seed)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(tpt.learning_rate()), loss="mse")
    model.fit(data.inputs("train"), data.y_train, **tpt.fit_kwargs(epochs))
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    solution = solution_definitions()
    data = tpt.load_data()
    from sklearn.linear_model import LinearRegression

    har = solution["har_features"]
    model_har = LinearRegression().fit(har(data.X_train), data.y_train)
    rows = [{"model": "HAR", "epochs": 0, "seed": -1,
             "r2": evaluation.r2(data.y_test, model_har.predict(har(data.X_test))), "seconds": 0.0}]
    for epochs in (tpt.RECIPE["epochs"], 1):
        for seed in range(args.seeds):
            for name, build in (("Transformer", solution["build_transformer"]), ("LSTM", solution["build_lstm"])):
                t0 = time.perf_counter()
                model = train(build, data, seed, epochs)
                pred = model.predict(data.inputs("test"), batch_size=4096, verbose=0).reshape(-1)
                rows.append({"model": name, "epochs": epochs, "seed": seed, "r2": evaluation.r2(data.y_test, pred),
                             "seconds": time.perf_counter() - t0})
                print(rows[-1], flush=True)
    write_summary(rows, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
