"""Publish a corrected TP page on the site only when the instructor says so: Quarto's draft pages.

The corrected page (``chapters/rnn/tp-rnn-corrected.ipynb``, written by ``dl4f.assignments.execute``) carries
``draft: true`` in its front matter (its first, raw cell) until ``publish`` removes it; ``unpublish`` puts it back.

How Quarto (1.5 and later) treats a draft page of a website (https://quarto.org/docs/websites/website-drafts.html):
``draft: true`` in the page's front matter makes it a draft; ``website: draft-mode:`` in ``_quarto.yml`` says how
it is rendered: ``gone`` (the default) renders an EMPTY page and links it nowhere, ``unlinked`` renders it in full
but links it nowhere, ``visible`` renders and links it. A draft is left out of the sidebar, navbar and footer (the
entry that names it is removed), of search, listings and the sitemap, and a link to it from another page is
dropped (its text kept): quarto-cli PR #8509, "Feature - Website Drafts". This course sets ``draft-mode: gone``:
with ``unlinked`` the solutions would be rendered at a guessable URL (``chapters/rnn/tp-rnn-corrected.html``),
and the previous/next page links can still point at an unlinked draft (quarto-cli issue #13964).
``quarto preview`` shows drafts whatever the mode (with a "Draft" banner): preview is not what students see.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml

from dl4f.assignments import CORRECTED, ROOT

_DRAFT_LINE = re.compile(r"^draft\s*:")


def _front_matter_cell(nb):
    """The notebook's front-matter cell (a raw cell that opens with ``---``), or None."""
    if nb.cells and nb.cells[0].cell_type == "raw" and nb.cells[0].source.lstrip().startswith("---"):
        return nb.cells[0]
    return None


def _front_matter(text: str) -> dict:
    """The YAML between the first two ``---`` lines of ``text`` ({} when there is none)."""
    match = re.match(r"^\s*---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.DOTALL)
    if match is None:
        return {}
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else {}


def is_draft(path) -> bool:
    """Whether the page ``path`` (a notebook or a ``.qmd``/``.md`` page) says ``draft: true`` in its front matter."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no page {path}")
    if path.suffix == ".ipynb":
        cell = _front_matter_cell(nbformat.read(path, as_version=4))
        text = cell.source if cell is not None else ""
    else:
        text = path.read_text(encoding="utf-8")
    return _front_matter(text).get("draft") is True


def set_draft(notebook_path, draft: bool) -> bool:
    """Add (``draft=True``) or remove the ``draft: true`` line of a notebook page's front matter.

    Only the front-matter cell changes (one line, after the title); every other cell, output and metadata is
    written back as it was read. A notebook without front matter gets one (``---\\ndraft: true\\n---``) when made a
    draft, removed again when it is published. Returns True if the file changed (False: it was already in that
    state, and is not rewritten).
    """
    path = Path(notebook_path)
    if path.suffix != ".ipynb":
        raise ValueError(f"{path}: set_draft edits notebook pages (.ipynb); edit a .qmd page's front matter by hand")
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {path}: build it first (dl4f tp execute)")
    nb = nbformat.read(path, as_version=4)
    cell = _front_matter_cell(nb)
    if cell is None:
        if not draft:
            return False
        nb.cells.insert(0, nbformat.v4.new_raw_cell("---\ndraft: true\n---"))
    else:
        lines = cell.source.strip().splitlines()
        close = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
        if close is None:
            raise ValueError(f"{path}: the front-matter cell has no closing '---' line; fix its first cell")
        body = [line for line in lines[1:close] if not _DRAFT_LINE.match(line)]
        if draft:
            body.append("draft: true")
        rest = lines[close + 1:]
        if not body and not rest:  # nothing left but the draft line: remove the cell set_draft added
            nb.cells.pop(0)
        else:
            source = "\n".join(["---", *body, "---", *rest])
            if source == cell.source:
                return False
            cell.source = source
    nbformat.write(nb, path)
    return True


def corrected_page(tp: str, root: Path = ROOT) -> Path:
    """The corrected page of the TP ``tp`` (``dl4f.assignments.CORRECTED``), which must exist."""
    if tp not in CORRECTED:
        raise ValueError(f"no corrected page for {tp!r}; the TPs with one are {sorted(CORRECTED)}")
    path = Path(root) / CORRECTED[tp]
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: build it with `dl4f tp execute {tp}`")
    return path


def publish(tp: str, root: Path = ROOT) -> Path:
    """Publish the corrected page of ``tp``: remove its ``draft: true`` (the next ``quarto render`` shows it)."""
    path = corrected_page(tp, root)
    set_draft(path, False)
    return path


def unpublish(tp: str, root: Path = ROOT) -> Path:
    """Make the corrected page of ``tp`` a draft again (the next ``quarto render`` empties and unlinks it)."""
    path = corrected_page(tp, root)
    set_draft(path, True)
    return path
