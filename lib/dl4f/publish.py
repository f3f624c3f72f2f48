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

The draft flag alone is not enough: Quarto's page navigation (previous/next, ``<link rel="next">``) still links a
draft listed in the sidebar, and a rendered draft's figures are still written into ``<page>_files/``. So an
unpublished corrected page is also left out of ``_quarto.yml`` altogether (``project: render`` and the sidebar):
Quarto never renders it, nothing links it, no file of it reaches ``_site``. ``publish`` removes ``draft: true`` AND
adds the page to both lists (right after its TP page, labelled ``CORRECTED_TITLES[tp]``: "TP Corrected: <TP title>"
for every TP); ``unpublish`` does the reverse. ``_quarto.yml`` is edited as text (two entries, comments kept).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import yaml

from dl4f.assignments import CORRECTED, CORRECTED_TITLES, ROOT

CONFIG = "_quarto.yml"

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


def tp_page(tp: str) -> str:
    """The TP page (``chapters/<module>/<tp>.qmd``) after which the corrected page is listed."""
    if tp not in CORRECTED:
        raise ValueError(f"no corrected page for {tp!r}; the TPs with one are {sorted(CORRECTED)}")
    return (CORRECTED[tp].parent / f"{tp}.qmd").as_posix()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _site_lists(text: str) -> tuple[list, list[str]]:
    """(render list, flat list of the sidebar's hrefs) of a ``_quarto.yml`` text."""
    config = yaml.safe_load(text) or {}

    def hrefs(items):
        out = []
        for item in items or []:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):
                if "href" in item:
                    out.append(item["href"])
                out.extend(hrefs(item.get("contents")))
        return out

    render = (config.get("project") or {}).get("render") or []
    sidebar = ((config.get("website") or {}).get("sidebar") or {}).get("contents")
    return render, hrefs(sidebar)


def is_listed(tp: str, root: Path = ROOT) -> tuple[bool, bool]:
    """(in ``project: render``, in the sidebar) for the corrected page of ``tp``."""
    render, sidebar = _site_lists((Path(root) / CONFIG).read_text(encoding="utf-8"))
    tp_page(tp)  # a known TP, or a clear error
    page = CORRECTED[tp].as_posix()
    return page in render, page in sidebar


def _item_end(lines: list[str], start: int) -> int:
    """Index after the YAML list item that opens at ``lines[start]`` (its more-indented continuation lines)."""
    end, indent = start + 1, _indent(lines[start])
    while end < len(lines) and lines[end].strip() and _indent(lines[end]) > indent:
        end += 1
    return end


def add_to_site(tp: str, root: Path = ROOT) -> bool:
    """List the corrected page of ``tp`` in ``_quarto.yml``: rendered, and in the sidebar after its TP page.

    Returns True if the file changed (False: already listed in both). Raises ``ValueError`` when the TP page is not
    listed exactly once in the render list and in the sidebar (the corrected page has no place to go).
    """
    tp_qmd = tp_page(tp)  # a known TP, or a clear error
    page = CORRECTED[tp].as_posix()
    path = Path(root) / CONFIG
    text = path.read_text(encoding="utf-8")
    render, sidebar = _site_lists(text)
    lines = text.split("\n")
    if page not in render:
        at = [i for i, line in enumerate(lines) if line.strip() == f"- {tp_qmd}"]
        if len(at) != 1:
            raise ValueError(f"{path}: {tp_qmd} must be listed once in `project: render` to publish {page} after it")
        lines.insert(at[0] + 1, " " * _indent(lines[at[0]]) + f"- {page}")
    if page not in sidebar:
        at = [i for i, line in enumerate(lines) if line.strip() == f"- href: {tp_qmd}"]
        if len(at) != 1:
            raise ValueError(f"{path}: the sidebar must have one entry `- href: {tp_qmd}` to publish {page} after it")
        end, indent = _item_end(lines, at[0]), " " * _indent(lines[at[0]])
        title = CORRECTED_TITLES[tp].replace('"', '\\"')
        lines[end:end] = [f"{indent}- href: {page}", f'{indent}  text: "{title}"']
    new = "\n".join(lines)
    if new == text:
        return False
    new_render, new_sidebar = _site_lists(new)
    if page not in new_render or page not in new_sidebar:  # pragma: no cover (a layout this text edit does not know)
        raise RuntimeError(f"{path}: could not list {page}; add it by hand after {tp_qmd}")
    path.write_text(new, encoding="utf-8")
    return True


def remove_from_site(tp: str, root: Path = ROOT) -> bool:
    """Take the corrected page of ``tp`` out of ``_quarto.yml`` (render list and sidebar). True if it changed."""
    path = Path(root) / CONFIG
    text = path.read_text(encoding="utf-8")
    tp_page(tp)  # a known TP, or a clear error
    page = CORRECTED[tp].as_posix()
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped == f"- {page}":
            i += 1
        elif stripped == f"- href: {page}":
            i = _item_end(lines, i)
        else:
            out.append(lines[i])
            i += 1
    new = "\n".join(out)
    if new == text:
        return False
    if any(page in listed for listed in _site_lists(new)):
        raise RuntimeError(f"{path}: {page} is still listed in a form publish does not write; remove it by hand")
    path.write_text(new, encoding="utf-8")
    return True


def publish(tp: str, root: Path = ROOT) -> Path:
    """Publish the corrected page of ``tp``: remove its ``draft: true`` and list it in ``_quarto.yml`` (render list
    and sidebar, after its TP page); the next ``quarto render`` shows it."""
    path = corrected_page(tp, root)
    add_to_site(tp, root)
    set_draft(path, False)
    return path


def unpublish(tp: str, root: Path = ROOT) -> Path:
    """Make the corrected page of ``tp`` a draft again and take it out of ``_quarto.yml`` (never rendered)."""
    path = corrected_page(tp, root)
    set_draft(path, True)
    remove_from_site(tp, root)
    return path
