"""Corrected TP pages are Quarto drafts until the instructor publishes them (``dl4f.publish``).

The round trips run on a temporary copy of the committed corrected notebook: only the front-matter line
``draft: true`` may change, every other cell, output and byte stays as it was.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest
import yaml

from dl4f import publish
from dl4f.assignments import CORRECTED, CORRECTED_TITLES, ROOT


@pytest.fixture
def corrected(tmp_path):
    """A copy of the committed corrected page and of _quarto.yml, under the same paths in a temporary course root."""
    target = tmp_path / CORRECTED["tp-rnn"]
    target.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / CORRECTED["tp-rnn"], target)
    shutil.copyfile(ROOT / "_quarto.yml", tmp_path / "_quarto.yml")
    return target


@pytest.fixture
def course(tmp_path):
    """A temporary course root with _quarto.yml and every corrected page, as committed."""
    shutil.copyfile(ROOT / "_quarto.yml", tmp_path / "_quarto.yml")
    for rel in CORRECTED.values():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tmp_path / rel)
    return tmp_path


def sidebar_entries(config):
    """Every sidebar entry as a dict ({"href": ...} for a bare path), depth first."""
    out = []

    def walk(items):
        for item in items or []:
            item = {"href": item} if isinstance(item, str) else item
            out.append(item)
            walk(item.get("contents"))

    walk(config["website"]["sidebar"]["contents"])
    return out


def cells_without_front_matter(path):
    nb = nbformat.read(path, as_version=4)
    return nb.metadata, nb.cells[1:]


def test_draft_round_trip_changes_only_the_draft_line(corrected):
    publish.set_draft(corrected, False)  # whatever the committed state, start from a published page
    published = corrected.read_bytes()
    metadata, cells = cells_without_front_matter(corrected)
    assert not publish.is_draft(corrected)

    assert publish.set_draft(corrected, True) is True
    assert publish.is_draft(corrected)
    front = nbformat.read(corrected, as_version=4).cells[0]
    title = f'title: "{CORRECTED_TITLES["tp-rnn"]}"'
    assert front.source.splitlines() == ["---", title, "draft: true", "---"]  # the title stays on line 2
    assert cells_without_front_matter(corrected) == (metadata, cells)  # every other cell and output identical
    assert sum(len(c.get("outputs", [])) for c in cells) > 10

    assert publish.set_draft(corrected, True) is False  # already a draft: file untouched
    assert publish.set_draft(corrected, False) is True
    assert corrected.read_bytes() == published
    assert publish.set_draft(corrected, False) is False


def test_publish_and_unpublish_the_corrected_page(corrected, tmp_path):
    assert publish.unpublish("tp-rnn", root=tmp_path) == corrected
    assert publish.is_draft(corrected)
    assert publish.is_listed("tp-rnn", root=tmp_path) == (False, False)
    assert publish.publish("tp-rnn", root=tmp_path) == corrected
    assert not publish.is_draft(corrected)
    assert publish.is_listed("tp-rnn", root=tmp_path) == (True, True)
    with pytest.raises(ValueError, match=r"no corrected page for 'tp-cnn'; the TPs with one are \[.*'tp-rnn'.*\]"):
        publish.publish("tp-cnn", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="dl4f tp execute tp-rnn"):
        publish.unpublish("tp-rnn", root=tmp_path / "empty")


def test_a_notebook_without_front_matter_gets_one_and_loses_it_again(tmp_path):
    path = tmp_path / "page.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A page")]), path)
    before = path.read_bytes()
    assert publish.set_draft(path, False) is False
    assert publish.set_draft(path, True) is True
    assert [c.cell_type for c in nbformat.read(path, as_version=4).cells] == ["raw", "markdown"]
    assert publish.is_draft(path)
    assert publish.set_draft(path, False) is True
    assert path.read_bytes() == before


def test_is_draft_reads_qmd_front_matter_and_set_draft_refuses_it(tmp_path):
    page = tmp_path / "page.qmd"
    page.write_text('---\ntitle: "A page"\ndraft: true\n---\n\nText.\n')
    assert publish.is_draft(page)
    page.write_text('---\ntitle: "A page"\ndraft: false\n---\n\ndraft: true\n')  # only the front matter counts
    assert not publish.is_draft(page)
    with pytest.raises(ValueError, match="edit a .qmd page's front matter by hand"):
        publish.set_draft(page, True)
    with pytest.raises(FileNotFoundError):
        publish.is_draft(tmp_path / "nope.qmd")


def test_front_matter_without_closing_line_is_an_error(tmp_path):
    path = tmp_path / "page.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell("---\ntitle: x")]), path)
    with pytest.raises(ValueError, match="no closing '---' line"):
        publish.set_draft(path, True)


def test_site_renders_drafts_empty_and_unlinked():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    assert config["website"].get("draft-mode") == "gone", "a draft corrected page must be empty, not just unlinked"


def test_committed_corrected_pages_are_drafts_exactly_when_unlisted():
    """An unpublished corrected page is in neither the render list nor the sidebar; a published one in both."""
    for tp, rel in CORRECTED.items():
        listed = publish.is_listed(tp)
        if publish.is_draft(ROOT / rel):
            assert listed == (False, False), f"{rel} is a draft but listed in _quarto.yml (render, sidebar): {listed}"
        else:
            assert listed == (True, True), f"{rel} is published but not listed in _quarto.yml (render, sidebar): {listed}"


@pytest.mark.parametrize("tp", sorted(CORRECTED))
def test_publish_lists_the_page_after_its_tp_and_unpublish_restores_the_config(course, tp):
    before = (course / "_quarto.yml").read_text()
    publish.unpublish(tp, root=course)  # whatever the committed state, start from an unpublished page
    unpublished = (course / "_quarto.yml").read_text()
    page, tp_qmd = CORRECTED[tp].as_posix(), publish.tp_page(tp)

    publish.publish(tp, root=course)
    config = yaml.safe_load((course / "_quarto.yml").read_text())
    render = config["project"]["render"]
    assert render[render.index(tp_qmd) + 1] == page, "rendered right after its TP page"
    entries = sidebar_entries(config)
    hrefs = [e.get("href") for e in entries]
    tp_entry, entry = entries[hrefs.index(tp_qmd)], entries[hrefs.index(tp_qmd) + 1]
    assert entry == {"href": page, "text": CORRECTED_TITLES[tp]}, "in the sidebar right after its TP page"
    # the same label scheme for every corrected TP: "TP Corrected: " + the TP's own title
    assert entry["text"] == "TP Corrected: " + tp_entry["text"].removeprefix("TP: ")
    assert not publish.is_draft(course / CORRECTED[tp])
    assert publish.add_to_site(tp, root=course) is False  # publishing twice changes nothing

    publish.unpublish(tp, root=course)
    assert (course / "_quarto.yml").read_text() == unpublished  # byte for byte, comments included
    assert publish.is_draft(course / CORRECTED[tp])
    assert publish.remove_from_site(tp, root=course) is False
    if publish.is_draft(ROOT / CORRECTED[tp]):
        assert unpublished == before


def test_publish_needs_the_tp_page_listed(course):
    config = course / "_quarto.yml"
    config.write_text(config.read_text().replace("chapters/rnn/tp-rnn.qmd", "chapters/rnn/tp-other.qmd"))
    with pytest.raises(ValueError, match=r"chapters/rnn/tp-rnn.qmd must be listed once in `project: render`"):
        publish.publish("tp-rnn", root=course)
    with pytest.raises(ValueError, match="no corrected page for 'tp-cnn'"):
        publish.is_listed("tp-cnn", root=course)
