"""A Griffe extension (loaded by mkdocstrings, see mkdocs.yml) that lets the API reference render
chainrule's docstrings as they are written: Google style with reST habits.

Before a docstring is parsed, it rewrites

- doctest runs (``>>>`` lines and what follows them up to a blank line) that Markdown would not
  show as code (top-level ones, and those under an ``Example:`` header) into fenced ``pycon``
  blocks; runs that are already indented code blocks are left as they are;
- reST literal blocks (a paragraph ending in ``::``, then an indented block) into a ``:`` and a
  fenced block, which keeps its layout under a Google section header such as ``Example:``;
- reST roles ``:func:`x```, ``:class:`x```, ... into the code span ```x```;
- reST simple tables (rows framed by ``=====  =====`` rules) into fenced text blocks;
- ``a[i][j]`` in prose into ``a[i]\\[j]``, so that Markdown does not take it for a reference link.

It changes nothing in the source files; it only runs when the site is built.
"""
from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|obj|exc|ref|const):`~?([^`]+)`")
_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")
_HEADER = re.compile(r"^\s*[A-Z][A-Za-z ]*:\s*$")  # a Google section header ("Example:")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fence_tables(lines: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        if _RULE.match(lines[i]):
            # a simple table is: rule, header, rule, rows, rule
            rules = [j for j in range(i, len(lines)) if _RULE.match(lines[j])][:3]
            if len(rules) == 3:
                pad = " " * _indent(lines[i])
                if out and out[-1].strip():
                    out.append("")
                out += [pad + "```text", *lines[i:rules[2] + 1], pad + "```"]
                i = rules[2] + 1
                if i < len(lines) and lines[i].strip():
                    out.append("")
                continue
        out.append(lines[i])
        i += 1
    return out


def _fence_doctests(lines: list[str]) -> list[str]:
    out, i, in_fence = [], 0, False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if in_fence or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        ind = _indent(line)
        end = i
        while end < len(lines) and lines[end].strip() and _indent(lines[end]) >= ind:
            end += 1
        prev = next((p for p in reversed(out) if p.strip()), "")
        blank_before = bool(out) and not out[-1].strip()
        already_code = blank_before and ind - _indent(prev) >= 4  # an indented code block
        if already_code:
            out += lines[i:end]
        else:
            pad = " " * ind
            if out and out[-1].strip() and not _HEADER.match(out[-1]):
                out.append("")
            out += [pad + "```pycon", *lines[i:end], pad + "```"]
            if end < len(lines) and lines[end].strip():
                out.append("")
        i = end
    return out


def _literal_blocks(lines: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.rstrip().endswith("::"):
            out.append(line)
            i += 1
            continue
        ind = _indent(line)
        # the block: the lines indented under this one (under the summary line, whose block
        # cleandoc dedented to its level: the lines up to the first blank line after them)
        limit = -1 if i == 0 else ind
        end = i + 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > limit):
            if i == 0 and not lines[end].strip() and lines[end - 1].strip() and end > i + 1:
                break
            end += 1
        while end > i + 1 and not lines[end - 1].strip():
            end -= 1
        block = lines[i + 1:end]
        while block and not block[0].strip():
            block.pop(0)
        if not block:  # "::" with nothing under it: leave the line alone
            out.append(line)
            i += 1
            continue
        head = line.rstrip()[:-1]
        inner = min(_indent(b) for b in block if b.strip())
        lang = "pycon" if block[0].lstrip().startswith(">>>") else "text"
        if head.strip() == "Example:":
            # Google's "Example:" header: Griffe takes the indented block as its content
            out += [head, " " * inner + "```" + lang, *block, " " * inner + "```"]
        else:
            if head.strip() != ":":
                out.append(head)
            pad = ind + 4 if i and ind > 0 else 0  # under an item: its continuation
            out += ["", " " * pad + "```" + lang,
                    *[" " * pad + b[inner:] if b.strip() else "" for b in block],
                    " " * pad + "```"]
        if end < len(lines) and lines[end].strip():
            out.append("")
        i = end
    return out


_CODE_SPAN = re.compile(r"(`+).+?\1")


def _escape_outside_code_spans(line: str) -> str:
    out, last = [], 0
    for m in _CODE_SPAN.finditer(line):
        out += [line[last:m.start()].replace("][", "]\\["), m.group(0)]
        last = m.end()
    out.append(line[last:].replace("][", "]\\["))
    return "".join(out)


def _escape_reference_links(lines: list[str]) -> list[str]:
    """Escape ``a[i][j]`` in prose, which Markdown and autorefs would read as a reference link
    (and the strict build fail on); code spans, fences and indented code blocks are left alone."""
    out, in_fence, code_at, prose_indent, blank = [], False, None, 0, True
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and stripped:
            ind = _indent(line)
            if code_at is not None and ind < code_at:
                code_at = None
            if code_at is None and blank and ind >= prose_indent + 4:
                code_at = ind  # an indented code block starts
            if code_at is None:
                prose_indent = ind
                if "][" in line:
                    line = _escape_outside_code_spans(line)
        blank = not stripped
        out.append(line)
    return out


def to_markdown(text: str) -> str:
    """The docstring ``text`` with the rewrites listed in the module's docstring."""
    text = _ROLE.sub(r"`\1`", text)
    lines = _fence_tables(text.split("\n"))
    lines = _literal_blocks(lines)
    lines = _fence_doctests(lines)
    lines = _escape_reference_links(lines)
    return "\n".join(lines)


class DocstringsToMarkdown(griffe.Extension):
    """Rewrite each object's docstring with :func:`to_markdown` before Griffe parses it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
