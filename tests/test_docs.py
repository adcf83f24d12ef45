"""The documentation in the repository: every relative link in README.md and docs/*.md resolves
to a file or folder of the repository, and code comments point only at files inside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    not (ROOT / "docs").is_dir(), reason="not running from a source checkout"
)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) with an optional "title"; images too. Autolinks and bare URLs are not relative.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(page: Path):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # http:, mailto:, an anchor in the same page
        yield target.split("#", 1)[0]


def test_the_docs_exist():
    names = {p.name for p in PAGES}
    for name in ("README.md", "design.md", "semantics.md", "write_an_op.md", "porting.md"):
        assert name in names
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = [t for t in relative_links(page) if not (page.parent / t).resolve().exists()]
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_the_link_pattern_finds_links():
    sample = ROOT / "docs" / "README.md"
    assert "design.md" in list(relative_links(sample))


SOURCES = [
    p
    for folder in ("cpp", "python", "tests", "bench")
    for p in sorted((ROOT / folder).rglob("*"))
    if p.suffix in {".cpp", ".h", ".inc", ".py", ".cmake", ".txt"} and p.is_file()
]


def test_code_points_only_at_files_in_the_repository():
    outside = re.compile(r"\b(SEMANTICS\.md|DESIGN\.md|STYLE\.md|DEVELOPERS\.md)|/work/shared")
    hits = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in SOURCES
        if p != Path(__file__).resolve()
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if outside.search(line)
    ]
    assert not hits, hits


def test_docs_paths_named_in_code_comments_exist():
    named = re.compile(r"\bdocs/[\w.-]+\.md\b")
    missing = sorted(
        {
            f"{p.relative_to(ROOT)}: {m}"
            for p in SOURCES
            for m in named.findall(p.read_text(encoding="utf-8", errors="replace"))
            if not (ROOT / m).exists()
        }
    )
    assert not missing, missing


def _blocks(page: str, language: str) -> list[str]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_write_an_op_guide_quotes_the_code_as_it_is():
    """Every line of the guide's C++ and Python excerpts is a line of the file it comes from, so
    the worked example cannot drift from what the code needs."""
    sources = [
        ROOT / "cpp/include/tapegrad/kernels.h",
        ROOT / "cpp/src/kernels/simd/ew_body.inc",
        ROOT / "cpp/src/ops/elementwise.cpp",
        ROOT / "cpp/bindings/ops.cpp",
        ROOT / "tests/op_table.py",
    ]
    lines = {line.strip() for p in sources for line in p.read_text(encoding="utf-8").splitlines()}
    blocks = _blocks("write_an_op.md", "cpp") + _blocks("write_an_op.md", "python")
    assert len(blocks) >= 4
    # Lines such as "// cpp/include/tapegrad/kernels.h" say where the next lines come from.
    quoted = [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("// cpp/")
    ]
    missing = [line for line in quoted if line not in lines]
    assert not missing, missing


def test_the_porting_guide_example_runs():
    import tapegrad as tg

    code = _blocks("porting.md", "python")[-1]
    namespace: dict = {}
    exec(compile(code, "docs/porting.md", "exec"), namespace)
    assert float(namespace["loss"]) < 1.0  # it learned: var(y) is about 5
    assert isinstance(namespace["model"], tg.models.Sequential)
