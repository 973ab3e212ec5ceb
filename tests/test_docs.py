"""The documentation is self-contained: citations, links and config paths resolve.

- A citation of a documentation page in code or docs (``physics.md §4b``,
  ``docs/despike.md §2``, ``formats.md "Calibration file"``, ``formats.md ``truth.npz````)
  names a page in ``docs/`` and, when it names a section, a heading of that page: ``§4b``
  a heading numbered ``4b.``, a quoted title a heading that contains it (backticks and
  case ignored). The pages the code cites most (physics, formats, despike) must exist
  even where cited without a section.
- Every relative link of README.md, docs/*.md and experiments/README.md points to an
  existing file, and an ``#anchor`` to a heading of its page.
- Every ``examples/configs/*.yaml`` or ``experiments/configs/*.yaml`` path (and every bare
  name of such a config in the docs) names an existing file.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG_DIRS = ("examples/configs", "experiments/configs")
ALWAYS_CHECKED = {"physics", "formats", "despike"}        # pages the code cites by name
SCANNED_SUFFIXES = (".py", ".md", ".yaml")
LINKING_PAGES = ["README.md", "experiments/README.md"]    # plus every docs/*.md
SECTION = "\u00a7"                                       # the section sign

CITATION = re.compile(r"(?P<prefix>(?:[\w.-]+/)*)(?P<name>[\w-]+)\.md(?=(?P<tail>[^\n]{0,80}))")
SECTIONS = re.compile(r"^(?:'s)?\s*((?:%s\s?[0-9][0-9a-z]*(?:\s*(?:,|–|-|and|to)\s*)?)+)"
                      % SECTION)
SECTION_NUMBER = re.compile(r"%s\s?([0-9][0-9a-z]*)" % SECTION)
QUOTED = re.compile(r'^(?:\'s)?\s+(?:"(?P<dq>[^"\n]+)"|``(?P<rst>[^`\n]+)``)')
MD_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CONFIG_PATH = re.compile(r"((?:examples|experiments)/configs/[\w.{},-]+?\.yaml)")
BARE_CONFIG = re.compile(r"(?<![\w/.-])((?:ablation|tried|train|testset|trainset|smoke|natural"
                         r"|camera_reference|lens|despike)_?[\w]*\.yaml)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def repository_files(suffixes) -> list[Path]:
    """The repository's files (tracked and untracked, .gitignore respected) with a suffix."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        paths = [ROOT / line for line in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):        # not a git checkout
        paths = [p for p in ROOT.rglob("*")
                 if not any(part.startswith(".") or part.endswith(".egg-info")
                            for part in p.relative_to(ROOT).parts)]
    return sorted(p for p in paths if p.suffix in suffixes and p.is_file())


def headings(page: Path) -> list[str]:
    """The headings of a markdown page, outside fenced code blocks."""
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return [h.strip() for h in HEADING.findall(text)]


def normalise(title: str) -> str:
    return " ".join(title.replace("`", "").lower().split())


def slug(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def resolve_section(page: Path, number: str | None = None, title: str | None = None) -> bool:
    """Whether ``page`` has a heading numbered ``number`` (``4b``: "## 4b. ...") or one
    that contains ``title``."""
    for h in headings(page):
        if number is not None and re.match(r"%s[.\s]" % re.escape(number), h + " "):
            return True
        if title is not None and normalise(title) in normalise(h):
            return True
    return False


def citations(text: str):
    """``(prefix, page name, section number or None, quoted title or None)`` of each
    citation whose prefix is empty or ``docs/``."""
    text = MD_LINK.sub(lambda m: m.group(1), text)          # "[a.md](a.md) §5" -> "a.md §5"
    for m in CITATION.finditer(text):
        prefix, name, tail = m.group("prefix"), m.group("name"), m.group("tail")
        if prefix not in ("", "docs/", "../docs/"):
            continue
        found = False
        sec = SECTIONS.match(tail)
        if sec:
            for number in SECTION_NUMBER.findall(sec.group(1)):
                found = True
                yield prefix, name, number, None
        else:
            quoted = QUOTED.match(tail)
            if quoted:
                found = True
                yield prefix, name, None, quoted.group("dq") or quoted.group("rst")
        if not found:
            yield prefix, name, None, None


def cited_page(path: Path, prefix: str, name: str) -> Path | None:
    """The page a citation in ``path`` (relative to the root) means: ``docs/NAME.md``
    for the three specification pages and any ``docs/`` prefix, else a ``NAME.md`` beside
    the citing file, at the root, or in ``docs/``, the first that exists."""
    if prefix or name in ALWAYS_CHECKED:
        candidates = [DOCS / f"{name}.md"]
    else:
        candidates = [(ROOT / path).parent / f"{name}.md", ROOT / f"{name}.md",
                      DOCS / f"{name}.md"]
    return next((c for c in candidates if c.is_file()), None)


def citation_problems(path: Path, text: str) -> list[str]:
    problems = []
    for prefix, name, number, title in citations(text):
        named = number is not None or title is not None
        page = cited_page(path, prefix, name)
        if page is None:
            if prefix or named or name in ALWAYS_CHECKED:
                problems.append(f"{path}: cites {prefix}{name}.md, which does not exist")
            continue
        if named and not resolve_section(page, number, title):
            what = f"{SECTION}{number}" if number is not None else repr(title)
            problems.append(f"{path}: cites {name}.md {what}: no such heading in "
                            f"{page.relative_to(ROOT)}")
    return problems


def link_problems(page: Path, root: Path = ROOT) -> list[str]:
    """Dangling relative links (and anchors) of a markdown page; paths shown from ``root``."""
    problems = []
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    own = {slug(h) for h in headings(page)}
    for target in MD_LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):          # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if path_part and not dest.exists():
            problems.append(f"{page.relative_to(root)}: link to {target}: no such file")
            continue
        if anchor and dest.suffix == ".md":
            anchors = own if dest == page else {slug(h) for h in headings(dest)}
            if anchor not in anchors:
                problems.append(f"{page.relative_to(root)}: link to {target}: no such heading")
    return problems


def expand_braces(path: str) -> list[str]:
    """``a_{x,y}.yaml`` -> ``a_x.yaml``, ``a_y.yaml`` (one brace group)."""
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [path[:m.start()] + part + path[m.end():] for part in m.group(1).split(",")]


def config_problems(path: Path, text: str, bare: bool) -> list[str]:
    problems = []
    for mention in CONFIG_PATH.findall(text):
        for candidate in expand_braces(mention):
            if not (ROOT / candidate).is_file():
                problems.append(f"{path}: names {candidate}, which does not exist")
    if bare:
        known = {p.name for d in CONFIG_DIRS for p in (ROOT / d).glob("*.yaml")}
        for name in BARE_CONFIG.findall(CONFIG_PATH.sub("", text)):
            if name not in known:
                problems.append(f"{path}: names the config {name}, which is in neither "
                                + " nor ".join(CONFIG_DIRS))
    return problems


# ---------------------------------------------------------------------------------------
def test_every_citation_resolves_to_a_page_and_heading_in_docs():
    problems = []
    for path in repository_files(SCANNED_SUFFIXES):
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        problems += citation_problems(path.relative_to(ROOT), text)
    assert not problems, "\n".join(problems)


def test_every_relative_link_of_the_docs_points_to_a_file():
    pages = [ROOT / p for p in LINKING_PAGES] + sorted(DOCS.glob("*.md"))
    problems = [msg for page in pages if page.is_file() for msg in link_problems(page)]
    assert not problems, "\n".join(problems)


def test_every_config_path_names_an_existing_config():
    problems = []
    for path in repository_files(SCANNED_SUFFIXES + (".sh",)):
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(ROOT)
        bare = path.suffix == ".md" or rel.parts[0] in ("examples", "experiments")
        problems += config_problems(rel, text, bare)
    assert not problems, "\n".join(problems)


def test_docs_have_an_index_that_lists_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = {Path(t).name for t in MD_LINK.findall(index)}
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs/index.md does not list {sorted(pages - linked)}"


# ------------------------------------------------------------------ the checker itself
@pytest.mark.parametrize("text, ok", [
    (f"physics.md {SECTION}4b", True),
    (f"(physics.md {SECTION}4, last paragraph)", True),
    (f"physics.md {SECTION}4, {SECTION}4b", True),
    (f"docs/despike.md {SECTION}2", True),
    ('despike.md "How it is judged"', True),
    ('despike.md "``spikerestore run``: the contract"', True),
    ("formats.md ``truth.npz``", True),
    ("formats.md's sample directory", True),
    (f"[calibration.md](calibration.md) {SECTION}5", True),
    (f"physics.md {SECTION}9", False),
    (f"physics.md {SECTION}4c", False),
    ('formats.md "No such section"', False),
    ("docs/no-such-page.md", False),
    (f'physics.md {SECTION}4 and formats.md "Nowhere"', False),   # the second one dangles
    ("nosuchspec.md", True),                     # a bare .md that is not a docs page
    ('nosuchspec.md "Some section"', False),     # ... cited by section: it must exist
    ('README.md "Layout and conventions"', True),
])
def test_the_citation_checker_accepts_and_refuses(text, ok):
    """The accepted forms are those the code and docs use; the refused ones dangle."""
    assert (not citation_problems(Path("x.py"), text)) is ok


def test_the_link_and_config_checkers_refuse_dangling_targets(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[a](missing.md) [b](#title) [c](#nowhere)\n", encoding="utf-8")
    problems = link_problems(page, root=tmp_path)
    assert len(problems) == 2 and "missing.md" in problems[0] and "#nowhere" in problems[1]
    text = "spikerestore train --config experiments/configs/ablation_v2_{full,no_such}.yaml"
    assert [p for p in config_problems(Path("x.md"), text, bare=True)] == [
        "x.md: names experiments/configs/ablation_v2_no_such.yaml, which does not exist"]
    assert config_problems(Path("x.md"), "see tried_nothing.yaml", bare=True)

