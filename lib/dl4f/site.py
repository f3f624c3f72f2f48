"""Helpers of the course website (``_quarto.yml``, ``chapters/``): a notebook shown as a page.

``notebook_markdown`` turns a student notebook into Markdown that a Quarto page prints with
``#| output: asis``: markdown cells as they are (headings one level down, under the page title; relative
links and images rewritten for the page's folder), code cells as Python code blocks, raw cells (front
matter) and cells tagged ``remove-cell`` (which Quarto leaves out of a rendered notebook too: the
placeholders of hidden tests) left out. Outputs are never shown: the page is the assignment as the
student receives it.

``submit_button`` is the "Submit" button of a TP page: a link to the course's submission service (``dl4f serve``)
when ``_quarto.yml`` sets its address (``dl4f: submission-url:``, one setting for the whole site), and nothing at
all when it does not (the public site of a self-learner, or a course that collects notebooks by hand).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import nbformat

_HEADING = re.compile(r"^(#{1,5})(\s)")
_FENCE = re.compile(r"^\s*(```|~~~)")
# [text](target) and ![alt](target): the target up to a space (a title may follow) or the closing parenthesis
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)")


def _is_relative(target: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, flags=re.IGNORECASE)


def _rewrite_links(line: str, source_dir: Path, page_dir: Path) -> str:
    def fix(match):
        target = match.group(2)
        if not _is_relative(target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        new = Path(os.path.relpath(source_dir / path, page_dir)).as_posix()
        return match.group(1) + new + (f"#{anchor}" if anchor else "")

    return _LINK.sub(fix, line)


def _markdown_cell(text: str, drop_first_h1: bool, source_dir: Path, page_dir: Path) -> tuple[str, bool]:
    """Headings one level down outside code fences, links rebased; optionally drop the first ``# title``."""
    out, in_fence, dropped = [], False, False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            if drop_first_h1 and not dropped and re.match(r"^#\s", line):
                dropped = True
                continue
            line = _HEADING.sub(lambda m: "#" + m.group(1) + m.group(2), line)
            line = _rewrite_links(line, source_dir, page_dir)
        out.append(line)
    return "\n".join(out), dropped


def _fence_for(source: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", source)), default=0)
    return "`" * max(3, longest + 1)


def notebook_markdown(path, *, page_dir=None, drop_title: bool = True) -> str:
    """The cells of the notebook at ``path`` as one Markdown document (see the module docstring).

    ``page_dir`` is the folder of the page that prints it (default: the current directory, which is the
    page's folder when Quarto executes it); relative links of the notebook are rewritten to resolve from there.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: build the student notebook first (see README)")
    source_dir = path.resolve().parent
    page_dir = Path(page_dir or Path.cwd()).resolve()
    nb = nbformat.read(path, as_version=4)
    parts, title_dropped = [], not drop_title
    for cell in nb.cells:
        source = cell.source.rstrip()
        if not source or cell.cell_type == "raw" or "remove-cell" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "markdown":
            text, dropped = _markdown_cell(source, not title_dropped, source_dir, page_dir)
            title_dropped = title_dropped or dropped
            if text.strip():
                parts.append(text)
        elif cell.cell_type == "code":
            fence = _fence_for(source)
            parts.append(f"{fence}python\n{source}\n{fence}")
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------- the Submit button

SUBMISSION_SETTING = ("dl4f", "submission-url")  # `dl4f: submission-url:` in _quarto.yml
_TP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Characters that would end or break a Markdown link target, or smuggle HTML into the page.
_UNSAFE_URL = re.compile(r"""[\s"'<>()\[\]{}\\`|^]""")


def project_config(start=None) -> Path:
    """The site's ``_quarto.yml``: in ``$QUARTO_PROJECT_ROOT`` (which Quarto sets while it executes a page), else the
    nearest one in ``start`` (default: the current directory, the page's folder when Quarto runs it) or above."""
    root = os.environ.get("QUARTO_PROJECT_ROOT")
    if root:
        candidates = [Path(root)]
    else:
        here = Path(start or Path.cwd()).resolve()
        candidates = [here, *here.parents]
    for folder in candidates:
        if (folder / "_quarto.yml").is_file():
            return folder / "_quarto.yml"
    raise FileNotFoundError(f"no _quarto.yml in {candidates[0]}" + (" or above it" if not root else "")
                            + ": run this from a page of the course site")


def submission_url(config=None) -> str | None:
    """The address of the course's submission service (``dl4f: submission-url:`` in ``_quarto.yml``, without a
    trailing ``/``), or None when the course sets none (key absent, null or empty). ``config``: the path of the
    ``_quarto.yml`` to read (default: ``project_config()``) or its already parsed content (a dict)."""
    if not isinstance(config, dict):
        import yaml  # (lazy: only the site's pages need it)

        path = Path(config) if config is not None else project_config()
        config = yaml.safe_load(path.read_text()) or {}
    section, key = SUBMISSION_SETTING
    settings = config.get(section) or {}
    value = settings.get(key) if isinstance(settings, dict) else None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    url = str(value).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment \
            or _UNSAFE_URL.search(url):
        raise ValueError(f"_quarto.yml: `{section}: {key}: {url}` is not the address of a submission service: give "
                         f"its http(s) address, e.g. https://grader.example.org (no spaces, quotes, query or #), "
                         f"or leave it empty for no Submit button")
    return url.rstrip("/")


def submit_button(tp: str, *, config=None) -> str:
    """The Markdown of the "Submit" button of the page of ``tp`` (its upload page on the submission service, where
    the student signed in with their link uploads the notebook and sees the grade), or ``""`` when the course sets
    no service. A TP page prints it from a chunk with ``#| output: asis``."""
    if not _TP_NAME.match(tp):
        raise ValueError(f"{tp!r} is not a TP's name (e.g. tp-rnn)")
    url = submission_url(config)
    if url is None:
        return ""
    return (
        "::: {.tp-download .tp-submit}\n"
        f'[<i class="bi bi-send"></i> Submit {tp}.ipynb for grading]({url}/tp/{tp}){{.btn .btn-success}}\n\n'
        "Once the visible tests pass (`dl4f tp check`), submit your notebook to the course's grading service (sign "
        "in with the personal link your instructor sent you): it runs the hidden tests and shows your score and each "
        "question's feedback within minutes, and you may resubmit until the deadline.\n"
        ":::\n"
    )
