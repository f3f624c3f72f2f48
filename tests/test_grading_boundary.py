"""The grading boundary under attack: submissions that forge artifacts, patch the export, outlive their kernel, read
the host's secrets or die late, each graded by the real engine (``grade_class``, sandboxed, 2 workers) beside an
honest one that keeps full marks (``tests/submissions_boundary.py``, on tp-optimization: nothing to train); then
what the feedback may say (secrets redacted, drawn per attempt, each hidden test once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import numpy as np
import pytest
import submissions_boundary as corpus
import tp_course

from dl4f_grading import engine, sandbox
from dl4f_grading.redact import redact

TP = "tp-optimization"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, market_cache):
    settings = engine.Settings(epochs=1, limits=sandbox.Limits(seconds=300, memory_gb=6), cell_timeout=120)
    return tp_course.grade_corpus(tmp_path_factory.mktemp("course"), TP, corpus, settings)


def _autograded(graded, student: str) -> str:
    return (graded["root"] / "autograded" / student / TP / f"{TP}.ipynb").read_text()


def test_every_attack_gets_what_its_honest_work_earns(graded):
    tp_course.assert_scores(graded["results"], corpus.EXPECTED)


def test_the_problems_do_not_exist_while_the_cells_run_and_pre_written_files_are_not_read(graded):
    out = _autograded(graded, "forge_inputs")
    assert "inputs present: False" in out and "no problems to read: FileNotFoundError" in out


def test_a_patched_export_helper_is_refused_by_the_rules(graded):
    cells = graded["results"]["patch_export"]["cells"]
    assert all("must not be changed" in v["message"] for v in cells.values() if not v["passed"]), cells


def test_a_pickling_hook_is_sent_for_review_and_a_gradient_must_be_a_jax_program(graded):
    crafted = graded["results"]["crafted_pickle"]["cells"]
    assert "defines __reduce__" in crafted["q3_parametrisation"]["message"]
    assert "needs review" in crafted["q3_parametrisation"]["message"]
    numpy_gradient = graded["results"]["numpy_gradient"]["cells"]
    assert sorted(g for g, v in numpy_gradient.items() if not v["passed"]) == ["q3_gradient", "q3_uses_jax"]
    assert "JAX could not compile it" in numpy_gradient["q3_gradient"]["message"]


def test_a_kernel_that_dies_late_keeps_the_earlier_questions(graded):
    result = graded["results"]["late_death"]
    assert "kernel died" in result["detail"]
    lost = sorted(g for g, v in result["cells"].items() if not v["passed"])
    assert lost == ["q4_frontier", "q4_min_variance", "q4_no_lookahead", "q4_tests"], lost


def test_a_detached_process_rewrites_nothing_that_is_read(graded):
    result = graded["results"]["detached"]
    errors = [r for r in result["cell_errors"] if r["status"] == "error"]
    assert len(errors) >= 6 and any("NotImplementedError" in r.get("error", "") for r in errors), errors
    assert "NotImplementedError" in _autograded(graded, "detached")  # the feedback keeps the run's tracebacks


def test_the_host_secrets_are_out_of_reach_even_when_the_grader_is_root(graded):
    nb = nbformat.reads(_autograded(graded, "shadow"), as_version=4)
    text = "".join("".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "/etc/shadow blocked" in text and "/root/.bashrc blocked" in text and "READ" not in text, text[:2000]
    etc = text.split("etc [")[1].split("]")[0]  # the sandbox's /etc, as the cell printed it
    assert "'passwd'" in etc and "shadow" not in etc and "sudoers" not in etc, etc


def test_each_hidden_test_appears_once_in_the_feedback(graded):
    nb = nbformat.reads(_autograded(graded, "honest"), as_version=4)
    ids = Counter(c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells)
    graded_ids = graded["results"]["honest"]["cells"]
    assert {gid: ids[gid] for gid in graded_ids} == {gid: 1 for gid in graded_ids}


# ----------------------------------------------------------------------------------------------------
# Feedback: the verdict and what was wrong, never the secret inputs


def test_messages_lose_the_secret_values_and_keep_the_verdict():
    secrets = {"holdout": {"split": "2016-03-14", "window": 250, "weights": [0.2, 0.8]},
               "sizes": (13, 7), "scripts": {"q1_0_log_lr": [-2.5, -3.0], "q3_0_patience": 3}}
    message = ("hold_out: the weights use returns after 2016-03-14 00:00:00 (window 250): look-ahead; "
               "build_mlp(13, 7): the input must be (None, 13); learning rates [0.003162, 0.001], expected "
               "[0.003162, 0.0005]; the lr 0.003162 after 4 epochs; R² 0.1234 below 0.15; max error 2.1e-07; "
               "training ran 9 epochs, 5 expected; FileNotFoundError: [Errno 2] No such file, line 12 of cell 7")
    out = redact(message, secrets)
    for secret in ("2016-03-14", "250", "13", "0.003162"):
        assert secret not in out, out
    assert "look-ahead" in out and "below 0.15" in out and "R² 0.1234" in out and "2.1e-07" in out
    assert "after 4 epochs" in out and "ran 9 epochs" in out  # numbers that are no secret stay
    assert "[Errno 2]" in out and "line 12 of cell 7" in out  # an error's number, a line and a cell are never secrets
    assert "5 expected" not in out  # what the grader computed from the secrets


def test_the_feedback_keeps_a_notebooks_text_outputs_as_text_and_drops_html():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('a'); 1")])
    nb.cells[0].outputs = [nbformat.from_dict({"output_type": "stream", "name": "stdout", "text": ["a\n", "b\n"]}),
                           nbformat.from_dict({"output_type": "display_data", "metadata": {},
                                               "data": {"text/plain": ["x", "y"], "text/html": ["<script>"]}})]
    engine._sanitize(nb)
    stream, display = nb.cells[0].outputs
    assert stream["text"] == "a\nb\n" and display["data"] == {"text/plain": "xy"}


def test_secrets_are_drawn_per_attempt_and_are_deterministic():
    secret = b"k" * 32
    first = engine.student_seed(secret, TP, "ada", attempt=engine.attempt_of(b"one"))
    assert first == engine.student_seed(secret, TP, "ada", attempt=engine.attempt_of(b"one"))
    assert first != engine.student_seed(secret, TP, "ada", attempt=engine.attempt_of(b"two"))
    assert engine.student_seed(secret, TP, "ada") == engine.student_seed(secret, TP, "ada", attempt=0)


NOTEBOOK = [
    "import numpy as np\n\ndef estimate(returns):\n    return returns.mean().to_numpy(), returns.cov().to_numpy()",
    # a patched export helper, pre-written artifacts, a look for the grader's problems
    "import os\nimport dl4f.artifacts as _a\nimport dl4f.tp_optimization_artifacts as _t\n"
    "_a.callable_from = _t.callable_from = lambda ns, name, kind='function': (lambda r: (np.zeros(3), np.eye(3)))\n"
    "os.makedirs('artifacts', exist_ok=True)\nnp.savez('artifacts/stats.npz', return_0=np.zeros(4))\n"
    "print('inputs present:', os.path.exists('inputs'))\n"
    # the export's sandbox, started ahead and waiting, is out of the notebook's sight (its own PID namespace)
    "seen = [open(f'/proc/{p}/cmdline', 'rb').read() for p in os.listdir('/proc') if p.isdigit()]\n"
    "print('export visible:', any(b'export_run' in c for c in seen))",
    "import os\nos._exit(1)",  # the kernel dies here
    "def estimate(returns):\n    raise ValueError('never run')",
]


def test_the_export_runs_apart_from_the_notebook_and_keeps_what_came_before_a_death(tmp_path, market_cache):
    """The engine's two runs on a small notebook: the export calls the notebook's own ``estimate`` (not the patched
    helper's forgery) on problems that did not exist during the cells, writes into a folder the notebook never saw,
    and the kernel's death in a later cell keeps the function defined before it."""
    from dl4f_grading import compose, judge

    module = judge.tp_module(TP)
    settings = engine.Settings(limits=sandbox.Limits(seconds=120, memory_gb=4), cell_timeout=60,
                               sandboxed=sandbox.available())
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in NOTEBOOK])
    job = engine.Job(TP, "apart", b"", {}, {}, settings.as_dict(), 5)
    events = []
    names = tuple(__import__(module.EXPORT_MODULE, fromlist=["NAMES"]).NAMES)
    export = engine._start_export(job, settings, module, tmp_path)  # as the engine does: it waits, warm
    scratch, outcome, records, executed = engine._run_notebook(job, settings, compose.Composed(nb), tmp_path, names,
                                                               events.append)
    assert [r["status"] for r in records] == ["ok", "ok", "dead", "not run"], records
    printed = json.dumps(executed.cells[1].outputs) if executed is not None else ""
    assert "inputs present: False" in printed and ("export visible: False" in printed or not settings.sandboxed)
    assert events and events[-1]["cells"] == 4
    secrets = engine._draw_inputs(module, job.seed, tmp_path)  # as a judge that could not draw them leaves it
    artifacts, exported = engine._export(settings, tmp_path, scratch, export)
    assert exported.ok, exported.stderr
    assert not (artifacts / "stats.npz").exists()  # the notebook's file was never in this folder
    with np.load(artifacts / "estimate.npz") as f:
        mu = f["mu"]
    np.testing.assert_allclose(mu, secrets["holdout"]["returns"].to_numpy().mean(axis=0), rtol=1e-10)


def test_the_export_carries_the_notebooks_settings_and_imports_keras_only_for_one(tmp_path):
    """``export_run.apply_config``: float64 in the notebook is float64 in the export; the defaults need no import of
    Keras (3 s of every export of a TP without Keras)."""
    code = ("import json, sys; from pathlib import Path; from dl4f import export_run\n"
            "export_run.apply_config(Path(sys.argv[1]))\n"
            "floatx = sys.modules['keras'].config.floatx() if 'keras' in sys.modules else None\n"
            "x64 = sys.modules['jax'].config.jax_enable_x64 if 'jax' in sys.modules else None\n"
            "print(json.dumps([floatx, x64]))")
    seen = []
    for config in ({"keras_floatx": "float32", "jax_enable_x64": False}, {"keras_floatx": "float64"},
                   {"jax_enable_x64": True}, {"keras_floatx": "import os"}):
        (tmp_path / "config.json").write_text(json.dumps(config))
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                              env={**{k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}, "KERAS_BACKEND": "jax"},
                              check=True)
        seen.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert seen == [[None, None], ["float64", False], [None, True], [None, None]], seen  # Keras imports JAX


def test_after_the_exports_warm_up_the_notebooks_float64_holds(tmp_path):
    """The export's warm-up builds Keras layers before ``go`` (``tp_intro_artifacts.warm``), and the first layer
    built fixes Keras's default dtype policy from ``floatx``: without ``export_run.forget_warm_up`` the notebook's
    float64 (applied after it) would not reach the layers the export builds; with it, they are float64 and named as
    in a fresh process, whether the warm-up ended or ``go`` stopped it."""
    code = ("import json, sys; from pathlib import Path; import keras; from dl4f import export_run\n"
            "keras.layers.Dense(2).build((None, 3))  # what a warm-up leaves\n"
            "if sys.argv[2] == 'forget': export_run.forget_warm_up()\n"
            "export_run.apply_config(Path(sys.argv[1]))\n"
            "layer = keras.layers.Dense(2); layer.build((None, 3))\n"
            "print(json.dumps([str(layer.kernel.dtype), layer.name]))")
    (tmp_path / "config.json").write_text(json.dumps({"keras_floatx": "float64"}))
    seen = {}
    for mode in ("keep", "forget"):
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path), mode], capture_output=True, text=True,
                              env={**os.environ, "KERAS_BACKEND": "jax"}, check=True)
        seen[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen == {"keep": ["float32", "dense_1"], "forget": ["float64", "dense"]}, seen


def test_the_work_folder_of_a_killed_grading_process_is_swept_and_a_live_ones_kept(tmp_path, monkeypatch):
    """A grading process killed mid-submission (a service worker, an interrupted ``dl4f tp grade``) leaves its work
    folder: the next grading process removes it; a running process's folder, or one kept on purpose, stays."""
    monkeypatch.setattr(engine.tempfile, "tempdir", str(tmp_path))
    code = ("import os, sys, time; from dl4f_grading import engine; w = engine.new_work_folder('ada'); "
            "(w / 'scratch').mkdir(); (w / 'scratch' / 'out.txt').write_text('x'); print(w, flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    killed = Path(proc.stdout.readline().strip())
    assert killed.parent == tmp_path and (killed / engine.OWNER_FILE).exists()
    assert engine.sweep_work_folders() == []  # its owner still runs
    proc.kill()
    proc.wait()
    alive = engine.new_work_folder("bob")  # this process's
    kept = tmp_path / "dl4f-grade-kept-1"  # DL4F_GRADING_KEEP's: no owner record
    kept.mkdir()
    other = tmp_path / "unrelated"
    other.mkdir()
    assert engine.sweep_work_folders() == [killed]
    assert not killed.exists() and alive.is_dir() and kept.is_dir() and other.is_dir()
