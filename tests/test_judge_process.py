"""The judge's process (``dl4f_grading.judge``): started ahead, it draws the grader's inputs while the notebook runs;
every verdict it writes is redacted with the attempt's secrets.

The waiting judge (``WarmJudge``) is the grader's own code: it writes the inputs (problems, probes, scripted
trainings) into a folder no sandbox mounts, keeps their secrets for the checks and the redaction, and says when the
inputs are there; a judge that cannot draw them says so, and the grader draws them itself (the error shows there).
"""

from __future__ import annotations

import json
import types

import numpy as np

from dl4f_grading import engine, judge

TP = "tp-optimization"


def _arrays(folder) -> dict:
    out = {}
    for path in sorted(folder.glob("*.npz")):
        with np.load(path, allow_pickle=False) as f:
            out.update({f"{path.name}/{key}": f[key] for key in f.files})
    return out


def test_a_waiting_judge_draws_the_inputs_copies_them_and_then_judges(tmp_path, stocks):
    """The inputs the waiting judge drew are the grader's (the same arrays as the TP's ``inputs`` of the seed), a
    copy of them is in the waiting export's folder (a copy that cannot be made leaves nothing half-written), and
    the same process then decides a request (here on an empty export: every cell fails, with a reason)."""
    module = judge.tp_module(TP)
    (tmp_path / "export").mkdir()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "inputs").write_text("a file where the copy would go")
    copies = (tmp_path / "taken" / "inputs", tmp_path / "export" / "inputs")
    waiting = judge.WarmJudge(TP, 11, tmp_path / "inputs", copies=copies)
    try:
        assert waiting.inputs_ready() is True
        drawn = _arrays(tmp_path / "inputs")
        module.inputs(11, tmp_path / "again")
        again = _arrays(tmp_path / "again")
        assert drawn.keys() == again.keys() and len(drawn) > 10
        for key, value in again.items():
            np.testing.assert_array_equal(drawn[key], value, err_msg=key)
        copied = _arrays(tmp_path / "export" / "inputs")
        assert copied.keys() == drawn.keys() and all(np.array_equal(copied[k], drawn[k]) for k in drawn)
        assert [p.name for p in (tmp_path / "export").iterdir()] == ["inputs"]
        assert [p.name for p in (tmp_path / "taken").iterdir()] == ["inputs"]  # no "inputs.part" left
        assert (tmp_path / "taken" / "inputs").read_text() == "a file where the copy would go"
        (tmp_path / "artifacts").mkdir()
        cells = ["q1_estimate", "q2_optimum"]
        verdicts = waiting.judge({"tp": TP, "artifacts": str(tmp_path / "artifacts"), "source": "", "seed": 11,
                                  "quick": False, "cells": cells}, tmp_path)
    finally:
        waiting.stop()
    assert waiting.proc.returncode == 0
    assert set(verdicts) == set(cells) and not any(v["passed"] for v in verdicts.values()), verdicts
    assert all(v["message"] for v in verdicts.values())


def test_a_judge_that_cannot_draw_the_inputs_says_so_and_the_grader_draws_them(tmp_path, stocks):
    """No folder can be made where a file is: the judge says so, the grader draws the inputs itself, and a judge
    that ended before its request is replaced by a fresh one."""
    (tmp_path / "inputs").write_text("a file where the folder should be")
    waiting = judge.WarmJudge(TP, 11, tmp_path / "inputs")
    try:
        assert waiting.inputs_ready() is False
        assert waiting.inputs_ready() is False  # asked once: no second wait
    finally:
        waiting.stop()
    (tmp_path / "inputs").unlink()
    engine._inputs(engine.Job(TP, "ada", b"", {}, {}, {}, 11), judge.tp_module(TP), tmp_path, waiting)
    assert (tmp_path / engine.INPUTS / "problems.npz").exists()  # drawn by the grader itself
    (tmp_path / "artifacts").mkdir()
    verdicts = waiting.judge({"tp": TP, "artifacts": str(tmp_path / "artifacts"), "source": "", "seed": 11,
                              "quick": False, "cells": ["q1_estimate"]}, tmp_path)  # it ended: a fresh judge decides
    assert not verdicts["q1_estimate"]["passed"]
    assert "could not check" not in verdicts["q1_estimate"]["message"], verdicts


def test_every_verdict_is_redacted_with_the_attempts_secrets(tmp_path, monkeypatch):
    """The judge's messages lose the secrets of the request's seed (``dl4f_grading.redact``), whoever wrote them."""
    def regenerate_secrets(seed):
        return {"split": "2016-03-14", "window": 250 + seed}

    def decide(artifacts, source, seed, quick, cells, answers=None, secrets=None):
        return {gid: {"passed": False, "message": f"the weights use returns after {secrets['split']} (window "
                                                  f"{secrets['window']}): look-ahead; after 4 epochs"} for gid in cells}

    fake = types.SimpleNamespace(regenerate_secrets=regenerate_secrets, judge=decide)
    monkeypatch.setattr(judge, "tp_module", lambda tp: fake)
    request, out = judge._write_request({"tp": TP, "artifacts": str(tmp_path), "source": "", "seed": 3,
                                         "quick": False, "cells": ["q5_holdout"]}, tmp_path)
    assert judge.main([str(request)]) == 0
    message = json.loads(out.read_text())["q5_holdout"]["message"]
    assert "2016-03-14" not in message and "253" not in message, message
    assert "look-ahead" in message and "after 4 epochs" in message
