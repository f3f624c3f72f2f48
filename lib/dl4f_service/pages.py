"""What the result and status pages show, from a submission's row: phase text, questions, outputs (plain data;
the templates escape every string)."""

from __future__ import annotations

import json

from dl4f_service.models import Submission


def phase_text(sub: Submission, position: int | None) -> str:
    if sub.state == "queued":
        return f"queued, position {position}" if position else "queued"
    if sub.state == "running":
        if sub.phase == "running" and sub.cells:
            return f"running cell {sub.cell or 0} of {sub.cells}"
        return sub.phase or "running"
    if sub.state == "failed":
        return f"failed: {sub.detail}"
    return "graded"


def status_json(sub: Submission, position: int | None) -> dict:
    return {"state": sub.state, "phase": phase_text(sub, position), "cell": sub.cell, "cells": sub.cells,
            "position": position, "done": sub.state in ("graded", "failed")}


def grading_status(sub: Submission) -> str:
    """The run's status as ``dl4f tp grade`` prints it: ``status (detail)``."""
    return sub.status + (f" ({sub.detail})" if sub.detail else "")


def questions(sub: Submission) -> list[dict]:
    """Each graded cell: title (its comment lines, never a hidden test's code), points, verdict, the judge's message
    (already redacted by the judge: ``dl4f_grading.redact``)."""
    if not sub.result:
        return []
    result = json.loads(sub.result)
    rows = []
    for cell in result.get("graded", []):
        verdict = result.get("cells", {}).get(cell["grade_id"], {})
        title = " ".join(line.lstrip("# ").strip() for line in cell.get("title", "").splitlines()).strip()
        rows.append({"id": cell["grade_id"], "title": title or cell["grade_id"], "hidden": cell.get("hidden", False),
                     "points": verdict.get("points", 0.0), "max": verdict.get("max", cell.get("points", 0.0)),
                     "verdict": "passed" if verdict.get("passed") else "failed", "message": verdict.get("message", "")})
    return rows


def notes(sub: Submission) -> list[str]:
    return json.loads(sub.result).get("notes", []) if sub.result else []


def outputs(sub: Submission, limit: int = 2000) -> list[dict]:
    """The text outputs of the autograded notebook's code cells (the engine kept only plain text and images)."""
    if not sub.autograded:
        return []
    nb = json.loads(sub.autograded)
    shown = []
    for k, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        texts = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                text = out.get("text", "")
                texts.append("".join(text) if isinstance(text, list) else str(text))
            elif kind == "error":
                texts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
            elif kind in ("execute_result", "display_data"):
                plain = out.get("data", {}).get("text/plain")
                if plain:
                    texts.append("".join(plain) if isinstance(plain, list) else str(plain))
        if texts:
            shown.append({"cell": k, "text": "".join(texts)[:limit]})
    return shown
