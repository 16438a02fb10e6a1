"""MkDocs hook (see mkdocs.yml): pages of the site for the repository's files that the docs link to.

docs/notes.md links each formula to the source file that implements it and to the test that checks
it, with links relative to the repository (``../src/chainrule/ops/linalg.py``, ``../tests/notes/``):
they work in a clone and on a Git host, but point outside docs/, where MkDocs finds nothing. For
each such link to a file that exists, this hook adds a page showing the file (highlighted, with line
numbers; outside the navigation and the search index) at ``_code/<path>.html`` and points the link
there; a link to a folder gets a page that lists the folder's files. A link to a file or folder that
does not exist is left as it is, so the strict build still fails on it.
"""
from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import unquote

from mkdocs.structure.files import File, InclusionLevel

PREFIX = "_code"
# inline links ](target "title") and reference definitions [name]: target
_INLINE = re.compile(r"(\]\(\s*<?)([^)\s>]+)(>?(?:\s+\"[^\"]*\")?\s*\))")
_REFDEF = re.compile(r"(^[ ]{0,3}\[[^\]]+\]:[ \t]*<?)(\S+?)(>?(?:[ \t]+\"[^\"]*\")?[ \t]*$)", re.M)
_LANG = {".py": "python", ".md": "markdown", ".toml": "toml", ".yml": "yaml", ".yaml": "yaml",
         ".sh": "bash", ".json": "json", ".txt": "text"}
_SKIP = ("__pycache__", ".pyc", ".pyo")

_targets: dict[str, str] = {}  # absolute path of a linked file or folder -> its page's src_uri


def _repo_root(config) -> str:
    return os.path.dirname(os.path.abspath(config.config_file_path))


def _resolve(page_abs, target, config):
    """The absolute path a relative link of a page points to, if it leaves docs/ for the repo."""
    if "://" in target or target.startswith(("/", "#", "mailto:")):
        return None
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    if not path:
        return None
    resolved = os.path.normpath(os.path.join(os.path.dirname(page_abs), path))
    docs, repo = os.path.abspath(config.docs_dir), _repo_root(config)
    inside = lambda root: resolved == root or resolved.startswith(root + os.sep)  # noqa: E731
    if inside(docs) or not inside(repo) or not os.path.exists(resolved):
        return None
    return resolved


def _links(markdown):
    for pattern in (_INLINE, _REFDEF):
        for m in pattern.finditer(markdown):
            yield m.group(2)


def _fence(text):
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _file_page(rel, path):
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    lang = _LANG.get(os.path.splitext(path)[1], "text")
    fence = _fence(text)
    return (f"---\nsearch:\n  exclude: true\n---\n\n# `{rel}`\n\n"
            f"{fence}{lang} linenums=\"1\"\n{text.rstrip()}\n{fence}\n")


def _folder_page(rel, path, names):
    items = "\n".join(f"- [`{name}`]({name}.md)" for name in names)
    return f"---\nsearch:\n  exclude: true\n---\n\n# `{rel}/`\n\n{items or 'No files.'}\n"


def _listed(path):
    return sorted(n for n in os.listdir(path)
                  if not n.startswith(".") and not n.endswith(_SKIP)
                  and os.path.isfile(os.path.join(path, n)))


def on_files(files, config):
    _targets.clear()
    repo = _repo_root(config)
    wanted = set()
    for page in files.documentation_pages():
        if page.abs_src_path is None:
            continue
        for target in _links(page.content_string):
            resolved = _resolve(page.abs_src_path, target, config)
            if resolved:
                wanted.add(resolved)
    pages = {}
    for path in sorted(wanted):
        rel = os.path.relpath(path, repo).replace(os.sep, "/")
        if os.path.isdir(path):
            names = _listed(path)
            uri = f"{PREFIX}/{rel}/index.md"
            pages[uri] = _folder_page(rel, path, names)
            for name in names:
                pages.setdefault(f"{PREFIX}/{rel}/{name}.md",
                                 _file_page(f"{rel}/{name}", os.path.join(path, name)))
        else:
            uri = f"{PREFIX}/{rel}.md"
            pages.setdefault(uri, _file_page(rel, path))
        _targets[path] = uri
    for uri, content in pages.items():
        files.append(File.generated(config, uri, content=content,
                                    inclusion=InclusionLevel.NOT_IN_NAV))
    return files


def on_page_markdown(markdown, page, config, files):
    if not _targets or page.file.abs_src_path is None:
        return markdown
    here = posixpath.dirname(page.file.src_uri)

    def relink(m):
        target = m.group(2)
        resolved = _resolve(page.file.abs_src_path, target, config)
        if resolved not in _targets:
            return m.group(0)
        anchor = "#" + target.split("#", 1)[1] if "#" in target else ""
        link = posixpath.relpath(_targets[resolved], here or ".")
        return m.group(1) + link + anchor + m.group(3)

    return _REFDEF.sub(relink, _INLINE.sub(relink, markdown))
