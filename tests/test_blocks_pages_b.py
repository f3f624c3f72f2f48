"""The embeddings, attention and encoder-decoder chapters: in the sidebar and the render list, with their titles."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECTION = "Essential Building Blocks of Modern Neural Networks"
PAGES = {
    "chapters/building-blocks/embeddings.qmd": "Neural Network Embeddings: Learning Meaningful Representations",
    "chapters/building-blocks/attention.qmd": "Attention Mechanisms: Learning What to Focus On",
    "chapters/building-blocks/encoder-decoder.qmd": "Encoder-Decoder Architectures",
}
# Pages of the same module that come before these three, when they exist.
EARLIER = ["chapters/building-blocks/residual.qmd", "chapters/building-blocks/convolutions.qmd"]


def _config() -> dict:
    return yaml.safe_load((ROOT / "_quarto.yml").read_text())


def _section_entries() -> list[str]:
    sections = [item for item in _config()["website"]["sidebar"]["contents"]
                if isinstance(item, dict) and item.get("section") == SECTION]
    assert len(sections) == 1, f"the sidebar has {len(sections)} sections named {SECTION!r}"
    return [entry if isinstance(entry, str) else entry.get("href") for entry in sections[0]["contents"]]


def _title(rel: str) -> str:
    text = (ROOT / rel).read_text()
    assert text.startswith("---\n"), f"{rel} has no YAML front matter"
    return yaml.safe_load(text.split("---\n")[1])["title"]


@pytest.mark.parametrize("rel, title", PAGES.items())
def test_page_has_its_exact_title_and_is_rendered(rel, title):
    assert _title(rel) == title
    assert rel in _config()["project"]["render"]


def test_pages_in_the_module_sidebar_in_order_after_the_overview_and_earlier_chapters():
    entries = _section_entries()
    assert entries[0] == "chapters/building-blocks/index.qmd"
    positions = [entries.index(rel) for rel in PAGES]  # ValueError (a failure) when a page is missing
    assert positions == sorted(positions) and positions == list(range(positions[0], positions[0] + 3))
    for earlier in EARLIER:
        if earlier in entries:
            assert entries.index(earlier) < positions[0], f"{earlier} comes before the embeddings chapter"
    # plain file entries: the sidebar shows each page's own title
    section = next(item for item in _config()["website"]["sidebar"]["contents"]
                   if isinstance(item, dict) and item.get("section") == SECTION)
    assert all(rel in section["contents"] for rel in PAGES)
