"""Hidden tests inside the instructor's own notebook (``dl4f tp execute``): the same checks as at grading.

The source notebook's hidden-test cells call ``hidden_test("q1_lstm_r2", globals())``: the notebook's variables
are exported exactly as a graded run exports them (``<tp>``'s export module, into a temporary folder), then the
cell's trusted check runs on those files and raises ``AssertionError`` with its message when it fails. This is
only for notebooks the instructor trusts (the solution): students' notebooks are graded by ``dl4f tp grade``,
whose checks run outside the student's process.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from dl4f_grading import judge

SEED = 0  # the instructor's run uses fixed probes; students' runs use a secret per-student seed


def _source(namespace: dict) -> str:
    """The code the notebook ran, less the instructor's own hidden-test cells (they call ``hidden_test(...,
    globals())`` on purpose, which the rules refuse in a student's code)."""
    from dl4f_grading import source_checks

    history = namespace.get("In")
    if not isinstance(history, list):
        return ""
    return source_checks.notebook_code([s for s in history if isinstance(s, str) and "BEGIN HIDDEN TESTS" not in s])


def hidden_test(grade_id: str, namespace: dict, tp: str = "tp-rnn", *, quick: bool | None = None) -> None:
    """Export ``namespace``'s artifacts, run the check of ``grade_id``; print its message or raise AssertionError."""
    module = judge.tp_module(tp)
    if quick is None:
        import os

        epochs = os.environ.get("DL4F_TP_EPOCHS", "").strip()
        quick = epochs.isdigit() and int(epochs) < module.RECIPE_EPOCHS
    with tempfile.TemporaryDirectory(prefix="dl4f-hidden-") as tmp:
        folder = Path(tmp)
        module.inputs(SEED, folder / "inputs")
        importlib.import_module(module.EXPORT_MODULE).export_artifacts(namespace, folder / "artifacts", folder / "inputs")
        verdict = module.judge(folder / "artifacts", _source(namespace), SEED, quick, [grade_id])[grade_id]
    if not verdict["passed"]:
        raise AssertionError(verdict["message"])
    print(verdict["message"])
