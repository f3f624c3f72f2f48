"""The submission service in a real browser: headless Chromium (Debian's ``chromium``, driven by Playwright's Python
API) against ``dl4f serve`` and a ``dl4f worker`` running as real processes on 127.0.0.1 (SQLite).

A student signs in from their link, opens the TP, uploads a notebook with the form, watches the status change (the
page's own script polls ``status.json`` and shows the phase, then reloads once graded: the test never reloads), and
reads the result: the score, each question's verdict, no hidden test's code, and the notebook's output that tried to
inject a script shown as text. The instructor signs in from theirs, reads the class table and downloads the CSV.
Screenshots of both pages are saved under the test's tmp folder and copied to ``$DL4F_SCREENSHOTS`` when it is set.
One real grading, at the service tests' quick settings (``tests/service_processes.py``).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
import service_processes as sp

CHROMIUM = Path(os.environ.get("DL4F_CHROMIUM", "/usr/bin/chromium"))
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; "
                                                              "or set DL4F_CHROMIUM to its path)")
STUDENT = sp.STUDENTS[0]
# A cell a student adds at the end: its output is shown on the result page, and must stay text.
INJECTION = 'print("<script>window.dl4fInjected = 1</script><b id=\\"injected\\">bold</b>")'
# Phases the status shows before "graded" (app: queued, position k; starting; running cell k of n; exporting; judging)
PENDING = re.compile(r"^(queued|starting|running|exporting|judging)")


def _hidden_test_lines(source) -> list[str]:
    """The code lines of the source's hidden tests (never shown to a student), long enough to be specific."""
    lines, inside = [], False
    for cell in source.cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 25 and not line.strip().startswith("#"):
                lines.append(line.strip())
    return lines


def _save(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000, f"{path.name} is (nearly) empty"
    target = os.environ.get("DL4F_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _course(folder: Path, port: int) -> Path:
    """``service_processes.make_course``'s course, with the student version copied from the repository rather than
    released again by nbgrader (10-30 s on 2 cores; the worker reads only the two notebooks)."""
    for kind in ("solutions", "exercises"):
        shutil.copytree(sp.ROOT / kind / sp.TP, folder / kind / sp.TP)
    (folder / "service.toml").write_text(sp.SERVICE_TOML.format(port=port, tp=sp.TP))
    (folder / "roster.csv").write_text("id,name,email\n" + "".join(f"{s},{s.title()} Doe,{s}@example.org\n"
                                                                   for s in sp.STUDENTS))
    return folder


@pytest.fixture
def service(tmp_path):
    port = sp.free_port()
    root = _course(tmp_path / "course", port)
    db = f"sqlite:///{root / 'service.db'}"
    sp.import_roster(root, db)
    running = sp.Service(root, db, port, tmp_path / "logs")
    try:
        running.start_server()
        running.start_worker()  # ready by the time the student has uploaded
        yield running
    finally:
        running.stop()


def test_a_student_submits_and_the_instructor_reads_the_class_in_a_browser(service, tmp_path):
    from playwright.sync_api import sync_playwright

    t0 = time.monotonic()
    tp, root = sp.TP, service.root
    source = nbformat.read(root / "solutions" / tp / f"{tp}.ipynb", as_version=4)
    nb = nbformat.reads(sp.honest(root).decode(), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(INJECTION))
    upload = tmp_path / f"{tp}.ipynb"
    nbformat.write(nb, upload)
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's own sandbox cannot run as root
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=[*args, "--disable-dev-shm-usage"])
        try:
            # ---------------------------------------------------------------- the student
            student = browser.new_context(viewport={"width": 1200, "height": 900})
            page = student.new_page()
            page.goto(service.url + service.link(STUDENT))
            assert page.url == service.url + "/", f"the link signs in and lands on the home page, not {page.url}"
            page.click(f'a[href="/tp/{tp}"]')
            assert page.url == f"{service.url}/tp/{tp}"
            page.set_input_files('input[type="file"][name="notebook"]', str(upload))
            page.click('button[type="submit"]')
            page.wait_for_url(re.compile(r"/submissions/[A-Za-z0-9_-]{16,}$"))
            result_url = page.url
            seen = []
            deadline = time.monotonic() + 240
            while page.locator("#score").count() == 0:  # until the page's script reloads it, graded
                assert time.monotonic() < deadline, f"not graded after 240 s; statuses seen: {seen}; worker: " \
                                                    f"{service.workers[0].text()[-2000:]}"
                try:
                    text = page.locator("#status").inner_text(timeout=2000).strip()
                except Exception:  # noqa: BLE001  (the page is reloading)
                    text = None
                if text and (not seen or seen[-1] != text):
                    seen.append(text)
                time.sleep(0.2)
            assert page.url == result_url
            final = page.locator("#status").inner_text().strip()
            assert final == "graded", (final, seen)
            assert any(PENDING.match(s) for s in seen), f"the status showed the grading in progress: {seen}"
            changes = [s for s in seen if PENDING.match(s)]
            print(f"statuses seen: {seen}")
            assert len(set(changes)) >= 2, f"the status changed by itself while grading: {seen}"

            graded = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")
                      and not c.metadata["nbgrader"].get("solution") and c.cell_type == "code"]
            max_points = sum(float(c.metadata["nbgrader"].get("points", 0)) for c in graded)
            score = page.locator("#score").inner_text().strip()
            assert score == f"{max_points:g} / {max_points:g}", f"the honest submission's score: {score}"
            assert page.locator("#grading-status").inner_text().strip().startswith("graded")
            rows = page.locator("#questions tbody tr")
            assert rows.count() == len(graded) > 0
            verdicts = [rows.nth(k).locator("td").nth(2).inner_text().strip() for k in range(rows.count())]
            assert verdicts == ["passed"] * len(graded), verdicts
            assert "(hidden test)" in page.locator("#questions").inner_text(), "hidden tests are listed by title"
            html = page.content()
            leaked = [line for line in _hidden_test_lines(source) if line in html]
            assert not leaked, f"hidden tests' code on the result page: {leaked[:3]}"
            # the notebook's output that tried to inject HTML is shown as text, and ran nothing
            assert "<script>window.dl4fInjected = 1</script>" in page.locator("#outputs").inner_text()
            assert page.locator("#injected").count() == 0
            assert page.evaluate("typeof window.dl4fInjected") == "undefined"
            _save(page, tmp_path / "student-result.png")
            page.goto(f"{service.url}/tp/{tp}")
            assert f"{max_points:g} / {max_points:g}" in page.locator("#counted").inner_text()
            assert page.locator("#attempts li").count() == 1

            # ---------------------------------------------------------------- the instructor
            instructor = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
            page = instructor.new_page()
            page.goto(service.url + service.instructor_link())
            assert page.url == service.url + "/instructor"
            table = page.locator("#class-table")
            headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
            column = headers.index(tp)
            row = table.locator("tbody tr", has_text=STUDENT)
            assert row.count() == 1
            cell = row.locator("td").nth(column).inner_text()
            assert f"{max_points:g} / {max_points:g}" in cell and "1 attempt(s)" in cell and "graded" in cell, cell
            others = table.locator("tbody tr", has_text=sp.STUDENTS[1]).locator("td").nth(column).inner_text()
            assert others.strip() == "–", f"a student who did not submit: {others!r}"
            _save(page, tmp_path / "instructor-class-table.png")
            with page.expect_download() as download:
                page.click("#csv")
            assert download.value.suggested_filename == "grades.csv"
            rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
            mine = [r for r in rows if r["student"] == STUDENT and r["tp"] == tp]
            assert len(mine) == 1, rows
            assert float(mine[0]["counted_score"]) == pytest.approx(max_points)
            assert float(mine[0]["max_score"]) == pytest.approx(max_points)
            assert (mine[0]["attempts"], mine[0]["status"]) == ("1", "graded")
            assert {r["student"] for r in rows} == set(sp.STUDENTS)  # the whole roster, one row per TP offered
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - t0:.0f} s (screenshots in {tmp_path})")
