"""docs/notes.md, the map from the notes' formulas to code, tests and recipes, stays true: every
link resolves, every function, class and test it names exists in the linked file, every test in
tests/notes/ is on the map, every section of the notes has its heading, and every recipe it names
is one ``chainrule list`` knows."""
import ast
import functools
import re
from pathlib import Path

import pytest

from chainrule import recipes

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "notes.md"
SECTIONS = ["1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "2.4", "2.5", "3.1", "3.2", "3.3", "3.4",
            "4.1", "4.2", "4.3", "4.4", "4.5"]
LINK = re.compile(r"\[([^\]]*)\]\(([^)#\s]+)(#[^)]*)?\)")

pytestmark = pytest.mark.skipif(not DOC.exists(), reason="docs/notes.md is not in this checkout")


def _links():
    return LINK.findall(DOC.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _defined_names(path):
    """Top-level functions and classes of a Python file, and 'Class.method' for their methods."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{m.name}" for m in node.body if isinstance(m, ast.FunctionDef)}
    return names


def test_every_link_resolves_and_every_named_object_exists():
    links = _links()
    assert len(links) > 50
    for text, target, _anchor in links:
        if target.startswith(("http://", "https://")):
            continue
        path = (DOC.parent / target).resolve()
        assert path.exists(), f"docs/notes.md links to a missing {target}"
        if path.suffix != ".py" or ":" not in text:
            continue
        names = re.findall(r"`([A-Za-z_][A-Za-z_0-9.]*)`", text.split(":", 1)[1])
        assert names, f"no name given for {target} in [{text}]"
        defined = _defined_names(path)
        for name in names:
            assert name in defined, f"docs/notes.md names {name} in {target}, which lacks it"


def test_every_test_of_the_notes_is_on_the_map():
    text = DOC.read_text(encoding="utf-8")
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        for name in _defined_names(path):
            if name.startswith("test_"):
                assert f"`{name}`" in text, f"{path.name}::{name} is missing from docs/notes.md"


def test_every_section_of_the_notes_has_its_heading():
    headings = re.findall(r"^### (\d\.\d) ", DOC.read_text(encoding="utf-8"), flags=re.M)
    rows = re.findall(r"^\| (\d\.\d) ", DOC.read_text(encoding="utf-8"), flags=re.M)
    assert sorted(set(headings) | set(rows)) == SECTIONS


def test_every_named_recipe_exists():
    named = set(re.findall(r"`chainrule train ([a-z0-9_]+)", DOC.read_text(encoding="utf-8")))
    assert named and named <= set(recipes.RECIPES), named - set(recipes.RECIPES)


def test_tables_have_four_columns():
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("|"):
            cells = re.sub(r"`[^`]*`", "``", line)        # a pipe inside code would split a cell
            assert cells.count("|") == 5, line
