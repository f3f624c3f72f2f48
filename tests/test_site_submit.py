"""The "Submit" button of the TP pages: a link to the course's submission service (``dl4f serve``) when
``_quarto.yml`` sets its address (``dl4f: submission-url:``, one setting for the whole site), nothing at all when not.

Quarto cannot run here: the pages' chunks are run as Quarto runs them (in the page's folder, with
``QUARTO_PROJECT_ROOT`` pointing at the project), on a copy of ``_quarto.yml`` with the setting set or unset.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

from dl4f.site import SUBMISSION_SETTING, project_config, submission_url, submit_button

ROOT = Path(__file__).resolve().parents[1]
TP_PAGES = {p.stem: p.relative_to(ROOT).as_posix() for p in sorted(ROOT.glob("chapters/*/tp-*.qmd"))
            if not p.stem.endswith("-corrected")}
URL = "https://grader.example.org/dl4f"


def _config(section) -> dict:
    return {SUBMISSION_SETTING[0]: section}


def _project(tmp_path: Path, value: str | None) -> Path:
    """A copy of the site's ``_quarto.yml`` in ``tmp_path`` with the setting set to ``value`` (None: unset)."""
    text = (ROOT / "_quarto.yml").read_text()
    line = re.compile(r"^([ \t]*submission-url:).*$", flags=re.MULTILINE)
    assert len(line.findall(text)) == 1, "_quarto.yml sets `submission-url:` once, under `dl4f:`"
    text = line.sub(lambda m: m.group(1) + (f' "{value}"' if value is not None else ""), text)
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "_quarto.yml").write_text(text)
    return tmp_path


def _submit_chunk(page: str) -> str:
    """The source of the page's chunk that prints the Submit button (exactly one)."""
    nb = jupytext.reads((ROOT / page).read_text(), fmt="Rmd")
    chunks = [c.source for c in nb.cells if c.cell_type == "code" and "submit_button" in c.source]
    assert len(chunks) == 1, f"{page}: one chunk prints the Submit button, found {len(chunks)}"
    return chunks[0]


def _run_chunks(project: Path) -> dict[str, str]:
    """``{tp: what its page's Submit chunk prints}``, each run in its page's folder as Quarto runs it."""
    script = (
        "import contextlib, io, json, os, sys\n"
        "pages = json.loads(sys.argv[1])\n"
        "out = {}\n"
        "for tp, (folder, code) in pages.items():\n"
        "    os.chdir(folder)\n"
        "    buffer = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buffer):\n"
        "        exec(code, {})\n"
        "    out[tp] = buffer.getvalue()\n"
        "print(json.dumps(out))\n"
    )
    pages = {tp: [str((ROOT / page).parent), _submit_chunk(page)] for tp, page in TP_PAGES.items()}
    env = {**os.environ, "QUARTO_PROJECT_ROOT": str(project)}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(pages)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the function


def test_the_button_links_the_tp_upload_page_of_the_service():
    md = submit_button("tp-rnn", config=_config({"submission-url": URL + "/"}))
    assert f"]({URL}/tp/tp-rnn){{.btn .btn-success}}" in md, md  # the trailing "/" of the setting is dropped
    assert re.search(r"^\[<i class=\"bi bi-send\"></i> Submit tp-rnn\.ipynb for grading\]", md, flags=re.MULTILINE)
    assert md.startswith("::: {.tp-download .tp-submit}\n") and md.rstrip().endswith(":::")
    local = submit_button("tp-intro", config=_config({"submission-url": " http://127.0.0.1:8000 "}))
    assert "](http://127.0.0.1:8000/tp/tp-intro)" in local


@pytest.mark.parametrize("config", [{}, {"dl4f": None}, _config({}), _config({"submission-url": None}),
                                    _config({"submission-url": ""}), _config({"submission-url": "   "})])
def test_no_button_at_all_when_the_course_sets_no_service(config):
    assert submission_url(config) is None
    assert submit_button("tp-rnn", config=config) == ""


@pytest.mark.parametrize("url", ["grader.example.org", "ftp://grader.example.org", "https://", "https://g.org/a b",
                                 'https://g.org/")<script>', "https://g.org/?next=x", "https://g.org/#top", "8000"])
def test_a_malformed_address_is_a_clear_error(url):
    with pytest.raises(ValueError, match=r"submission-url: .* is not the address of a submission service: give its "
                                         r"http\(s\) address"):
        submit_button("tp-rnn", config=_config({"submission-url": url}))


def test_a_bad_tp_name_is_refused():
    with pytest.raises(ValueError, match="is not a TP's name"):
        submit_button("../tp-rnn", config=_config({"submission-url": URL}))


def test_the_config_is_the_quarto_project_root_s_or_the_nearest_above_the_page(tmp_path, monkeypatch):
    monkeypatch.delenv("QUARTO_PROJECT_ROOT", raising=False)
    assert project_config(ROOT / "chapters" / "rnn") == ROOT / "_quarto.yml"
    monkeypatch.chdir(ROOT / "chapters" / "rnn")
    assert project_config() == ROOT / "_quarto.yml"
    _project(tmp_path / "site", URL)
    monkeypatch.setenv("QUARTO_PROJECT_ROOT", str(tmp_path / "site"))  # Quarto's variable wins
    assert project_config() == tmp_path / "site" / "_quarto.yml"
    assert submission_url() == URL
    monkeypatch.setenv("QUARTO_PROJECT_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no _quarto.yml in"):
        project_config()


def test_the_site_declares_the_setting_once_and_it_is_valid():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    section, key = SUBMISSION_SETTING
    assert key in (config.get(section) or {}), f"_quarto.yml: `{section}: {key}:` is where a course sets its service"
    submission_url(ROOT / "_quarto.yml")  # raises on a malformed address


# --------------------------------------------------------------------------- the pages


def test_the_five_tp_pages_print_their_own_button_right_after_the_download():
    assert sorted(TP_PAGES) == ["tp-callbacks", "tp-intro", "tp-optimization", "tp-rnn", "tp-transformer"]
    for tp, page in TP_PAGES.items():
        chunk = _submit_chunk(page)
        assert re.search(r"^#\|\s*output:\s*asis\s*$", chunk, flags=re.MULTILINE), f"{page}: printed as Markdown"
        assert re.search(r"^#\|\s*echo:\s*false\s*$", chunk, flags=re.MULTILINE), f"{page}: its code is not shown"
        assert f'print(submit_button("{tp}"))' in chunk, f"{page}: the button of {tp}"
        text = (ROOT / page).read_text()
        download = text.index("::: {.tp-download}")
        assert download < text.index("submit_button") < text.index("## The assignment"), page


def test_tp_pages_show_the_button_only_when_the_site_sets_the_address(tmp_path):
    shown = _run_chunks(_project(tmp_path / "set", URL))
    for tp in TP_PAGES:
        assert f"]({URL}/tp/{tp}){{.btn .btn-success}}" in shown[tp], (tp, shown[tp])
    hidden = _run_chunks(_project(tmp_path / "unset", None))  # (empty or absent: the unit tests above)
    assert hidden == {tp: "\n" for tp in TP_PAGES}, hidden  # nothing but print()'s newline: no button, no text


def test_a_tp_page_executed_in_a_fresh_kernel_shows_the_button(tmp_path, market_cache):
    """The whole page as Quarto executes it (``tests/test_site.py``'s kernel run), with the address set."""
    from test_site import execute_page, instructor_environment

    env = {**instructor_environment(), "QUARTO_PROJECT_ROOT": str(_project(tmp_path, URL))}
    nb, _ = execute_page(TP_PAGES["tp-intro"], env=env)
    printed = ["".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream")
               for c in nb.cells if c.cell_type == "code"]
    button = [text for text in printed if "Submit tp-intro.ipynb" in text]
    assert len(button) == 1 and f"]({URL}/tp/tp-intro){{.btn .btn-success}}" in button[0], printed
    assert any("```python" in text for text in printed), "the assignment is still shown below"
