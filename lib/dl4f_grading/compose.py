"""The notebook that the sandbox runs: the student version's own cells, with the student's answers in it.

A submission is untrusted data. It is read as JSON (never executed here) and merged into the released
student version, not the other way round: every locked cell (the set-up, the visible tests, the helpers) comes
from the release, whatever the submission did to it (edited, emptied, deleted); from the submission come only
the answer cells (nbgrader ``solution`` cells, matched by ``grade_id``) and the cells the student added
(exploration, helper functions), each kept after the release cell it followed. Hidden tests are never in it:
the grader decides outside the student's process.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import nbformat

MAX_BYTES = 50 * 1024**2  # a notebook larger than this is refused (outputs included)


class UnreadableSubmission(ValueError):
    """The submission is not a notebook that can be graded; the message says why."""


@dataclass
class Composed:
    notebook: nbformat.NotebookNode
    notes: list[str] = field(default_factory=list)  # what was restored or missing, for the feedback
    answers: dict[str, str] = field(default_factory=dict)  # grade_id -> the student's answer source
    code_answers: list[str] = field(default_factory=list)  # the answers that are code cells
    extra_code: list[str] = field(default_factory=list)  # code cells the student added


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def read_submission(raw: bytes) -> nbformat.NotebookNode:
    """Parse a submission's bytes as a notebook; raise ``UnreadableSubmission`` with the reason."""
    if len(raw) > MAX_BYTES:
        raise UnreadableSubmission(f"the file is {len(raw) / 1024**2:.0f} MB, over the {MAX_BYTES // 1024**2} MB limit "
                                   "(clear the outputs before submitting)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableSubmission(f"the file is not a Jupyter notebook (not valid JSON: {exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise UnreadableSubmission("the file is JSON but not a Jupyter notebook (no list of cells)")
    try:
        nb = nbformat.from_dict(data)
        if nb.get("nbformat", 4) < 4:
            nb = nbformat.convert(nb, 4)
    except Exception as exc:  # noqa: BLE001  (any malformed structure)
        raise UnreadableSubmission(f"the notebook's structure is invalid: {exc}") from exc
    for cell in nb.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise UnreadableSubmission("the notebook holds a cell that is not code, markdown or raw")
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(str(s) for s in cell["source"])
        if not isinstance(cell.get("source", ""), str):
            raise UnreadableSubmission("a cell's source is not text")
    return nb


def compose(release: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> Composed:
    """Merge ``submission``'s answers and added cells into a copy of the ``release`` (see the module docstring)."""
    release = copy.deepcopy(release)
    positions = {}
    for k, cell in enumerate(release.cells):
        gid = _meta(cell).get("grade_id")
        if gid:
            positions[gid] = k
    answers, notes = {}, []
    extras: dict[int, list] = {}
    anchor = -1
    for cell in submission.cells:
        meta = _meta(cell)
        gid = meta.get("grade_id")
        if gid in positions:
            anchor = positions[gid]
            rel = release.cells[anchor]
            if _meta(rel).get("solution"):
                if gid not in answers:
                    answers[gid] = cell.get("source", "")
            elif cell.get("source", "").strip() != rel.source.strip():
                notes.append(f"cell {gid} was modified: the original was run instead")
            continue
        if meta:
            notes.append("a cell copied with nbgrader metadata of an unknown cell was kept as an added cell")
        new = (nbformat.v4.new_code_cell(cell.get("source", "")) if cell.get("cell_type") == "code"
               else nbformat.v4.new_markdown_cell(cell.get("source", "")))
        extras.setdefault(anchor, []).append(new)
    seen = set(answers)
    for gid, k in positions.items():
        meta = _meta(release.cells[k])
        if gid not in seen and not meta.get("solution"):
            if not any(_meta(c).get("grade_id") == gid for c in submission.cells):
                notes.append(f"cell {gid} was deleted: the original was run instead")
        if meta.get("solution") and gid not in answers:
            notes.append(f"answer cell {gid} is missing from the submission: graded as unanswered")
    cells = list(extras.get(-1, []))
    for k, cell in enumerate(release.cells):
        gid = _meta(cell).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        cells.extend(extras.get(k, []))
    release.cells = cells
    extra_code = [c.source for group in extras.values() for c in group if c.cell_type == "code"]
    code_answers = [answers[gid] for gid, k in positions.items()
                    if gid in answers and release.cells[k].cell_type == "code"]
    return Composed(release, notes, answers, code_answers, extra_code)


def code_cells(composed: Composed) -> list[str]:
    """The code cells of the notebook that runs (locked cells, answers, added cells), in order, for static checks."""
    return [c.source for c in composed.notebook.cells if c.cell_type == "code"]
