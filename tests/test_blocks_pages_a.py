"""The residual and convolution chapters, the module overview and the projects page: sidebar, titles, content."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECTION = "Essential Building Blocks of Modern Neural Networks"
OVERVIEW = "chapters/building-blocks/index.qmd"
PAGES = {
    "chapters/building-blocks/residual.qmd": "Residual Connections and Gating Mechanisms",
    "chapters/building-blocks/convolutions.qmd": "Convolutional Layers: From Images to Time Series",
}
MODULE_CHAPTERS = [
    "residual.qmd", "convolutions.qmd", "embeddings.qmd", "attention.qmd", "encoder-decoder.qmd",
]
PROJECTS = "chapters/projects/index.qmd"
PROJECT_FIELDS = ("**Question.**", "**Data.**", "**Baseline to beat.**", "**Evaluation.**", "**Chapters.**")


def _config() -> dict:
    return yaml.safe_load((ROOT / "_quarto.yml").read_text())


def _section_contents(name: str) -> list:
    sections = [item for item in _config()["website"]["sidebar"]["contents"]
                if isinstance(item, dict) and item.get("section") == name]
    assert len(sections) == 1, f"the sidebar has {len(sections)} sections named {name!r}"
    return sections[0]["contents"]


def _front_matter(rel: str) -> dict:
    text = (ROOT / rel).read_text()
    assert text.startswith("---\n"), f"{rel} has no YAML front matter"
    return yaml.safe_load(text.split("---\n")[1])


@pytest.mark.parametrize("rel, title", PAGES.items())
def test_chapter_has_its_exact_title_and_is_rendered(rel, title):
    assert _front_matter(rel)["title"] == title
    assert rel in _config()["project"]["render"]


def test_chapters_come_right_after_the_overview_as_plain_entries():
    contents = _section_contents(SECTION)
    assert contents[0] == {"href": OVERVIEW, "text": "Overview"}
    assert contents[1:3] == list(PAGES), "residual.qmd then convolutions.qmd, as plain file entries (own titles)"
    render = _config()["project"]["render"]
    start = render.index(OVERVIEW)
    assert render[start : start + 3] == [OVERVIEW, *PAGES]


def test_overview_links_the_five_chapters_then_the_tp():
    text = (ROOT / OVERVIEW).read_text()
    links = re.findall(r"\]\(([^)#]+\.qmd)\)", text)
    assert links == [*MODULE_CHAPTERS, "tp-transformer.qmd"], f"the overview links the chapters then the TP, got {links}"
    assert "Building a Transformer-Based Architecture for Time Series Forecasting" in text


def _projects() -> dict[str, str]:
    text = (ROOT / PROJECTS).read_text()
    parts = re.split(r"^## (Project \d+: .+)$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def test_projects_page_lists_at_least_five_complete_projects():
    projects = _projects()
    assert len(projects) >= 5, f"the projects page lists {len(projects)} projects: {list(projects)}"
    numbers = [int(re.match(r"Project (\d+)", name).group(1)) for name in projects]
    assert numbers == list(range(1, len(projects) + 1)), "projects are numbered 1, 2, 3, ..."
    for name, body in projects.items():
        missing = [field for field in PROJECT_FIELDS if field not in body]
        assert not missing, f"{name} lacks {missing}"
        baseline = body.split("**Baseline to beat.**")[1].split("\n\n")[0]
        assert len(baseline.split()) >= 8, f"{name}: the baseline is named and described"
        data = body.split("**Data.**")[1].split("\n\n")[0]
        assert re.search(r"\^GSPC|\^VIX|stocks", data), f"{name}: the data is one of the offline datasets"
        chapters = body.split("**Chapters.**")[1]
        assert re.search(r"\]\(\.\./[a-z-]+/[a-z-]+\.qmd\)", chapters), f"{name}: links to the chapters it uses"


def test_projects_link_only_course_pages():
    text = (ROOT / PROJECTS).read_text()
    for target in re.findall(r"\]\(([^)#]+\.qmd)\)", text):
        path = (ROOT / PROJECTS).parent / target
        assert path.is_file(), f"the projects page links to {target}, which does not exist"


@pytest.mark.parametrize("rel", [*PAGES, PROJECTS])
def test_figures_fit_the_text_column(rel):
    sizes = re.findall(r"figsize=\(([\d.]+),\s*([\d.]+)\)", (ROOT / rel).read_text())
    assert sizes, f"{rel} sets the size of its figures"
    for width, height in sizes:
        assert float(width) <= 7 and float(height) <= 4.5, f"{rel}: figure {width} x {height} in is too large"
