"""The Griffe extension of the API reference (docs/hooks/griffe_docstrings.py): the reST habits of
chainrule's docstrings become Markdown that renders as intended (no site build here; fast)."""
from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

pytest.importorskip("griffe")

_PATH = Path(__file__).resolve().parents[2] / "docs" / "hooks" / "griffe_docstrings.py"
_spec = importlib.util.spec_from_file_location("griffe_docstrings", _PATH)
ext = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ext)
to_markdown = ext.to_markdown


def test_top_level_doctest_becomes_a_fenced_block():
    text = "Datasets.\n\n>>> ds = load()\n>>> ds[0][1]\n3\n\nMore text."
    assert to_markdown(text) == ("Datasets.\n\n```pycon\n>>> ds = load()\n>>> ds[0][1]\n3\n```\n\n"
                                 "More text.")


def test_google_example_section_gets_a_fence_inside_it():
    text = "Summary.\n\nExample:\n    >>> x = f()\n    >>> x.shape    # (2, 3)"
    out = to_markdown(text)
    assert out == ("Summary.\n\nExample:\n    ```pycon\n    >>> x = f()\n"
                   "    >>> x.shape    # (2, 3)\n    ```")


def test_rest_literal_block_after_example_header():
    text = "Summary.\n\nExample::\n\n    >>> rnn = RNN(10, 20)\n\nAfter."
    assert to_markdown(text) == ("Summary.\n\nExample:\n    ```pycon\n    >>> rnn = RNN(10, 20)\n"
                                 "    ```\n\nAfter.")


def test_rest_literal_block_after_a_paragraph_and_under_the_summary_line():
    text = "Summary.\n\nThe dict::\n\n    {\n      'a': 1,\n    }\n\nAfter."
    assert to_markdown(text) == ("Summary.\n\nThe dict:\n\n```text\n{\n  'a': 1,\n}\n```\n\n"
                                 "After.")
    # inspect.cleandoc leaves the block under a first-line summary at the summary's level
    text = "One console line::\n\nepoch 3/30 loss 0.41\n\nAfter."
    assert to_markdown(text) == ("One console line:\n\n```text\nepoch 3/30 loss 0.41\n```\n\n"
                                 "After.")


def test_indented_code_block_is_left_as_it_is():
    text = "Summary.\n\nFor instance:\n\n    >>> f(x)\n\nAfter."
    # "For instance:" is a Google header only when the block follows it at once; here the blank
    # line makes the block an indented code block already
    assert to_markdown(text) == text


def test_roles_tables_and_reference_like_brackets():
    assert to_markdown("See :func:`fit` and :class:`~chainrule.nn.Linear`.") == \
        "See `fit` and `chainrule.nn.Linear`."
    table = "Layers.\n\n=====  =====\nname   shape\n=====  =====\nconv   (6,)\n=====  =====\n"
    assert to_markdown(table) == ("Layers.\n\n```text\n=====  =====\nname   shape\n=====  =====\n"
                                  "conv   (6,)\n=====  =====\n```\n")
    assert to_markdown("Chunk ds[i][0], not ``t[0][i]`` nor `x[1][2]`.") == \
        "Chunk ds[i]\\[0], not ``t[0][i]`` nor `x[1][2]`."


def test_every_docstring_of_chainrule_converts_without_leftover_rest():
    chainrule = pytest.importorskip("chainrule")
    import chainrule.models  # noqa: F401
    seen = 0
    for module in (chainrule, chainrule.nn, chainrule.optim, chainrule.models):
        for name, obj in vars(module).items():
            doc = inspect.getdoc(obj) if not name.startswith("_") else None
            if not doc or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            out = to_markdown(doc)
            seen += 1
            assert ":func:`" not in out and ":class:`" not in out, name
            assert out.count("```") % 2 == 0, f"{name}: unbalanced fences in\n{out}"
            for line in out.split("\n"):
                if line.lstrip().startswith(">>>"):
                    # every doctest line is inside a fence or an indented code block
                    before = out[:out.index(line)]
                    assert before.count("```") % 2 == 1 or line.startswith("    "), \
                        f"{name}: doctest outside a code block:\n{out}"
    assert seen > 100
