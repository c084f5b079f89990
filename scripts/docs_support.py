"""Build helpers for the documentation site (``mkdocs build --strict``), loaded by mkdocs.yml.

Two jobs, both about making pages written for a repository browser read well as a site:

- :class:`DocstringsForMarkdown`, a Griffe extension: docstrings use reST roles
  (``:class:`Module```, ``:func:`fit```) and ``Example::`` literal-block markers; Markdown has
  neither, so a role becomes a plain code span and ``::`` a colon. A public function made by a
  factory (``equal = _comparison(P.EQUAL)``) has no docstring a source reader can see: it gets
  its run-time signature and docstring.
- :func:`on_page_markdown`, an MkDocs hook: guide pages link source files
  (``[`reference.sigmoid`](../micrograd_nd/reference.py)``). On the site such a link goes to the
  API page of that module (to the object's own anchor when the link text names it); a link to
  another repository file (an example, a benchmark) becomes the file's path in a code span,
  since the site holds no source. Every such target must exist in the repository: a link to a
  file that is not there fails the build, so the docs cannot cite a missing file.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import griffe

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "micrograd_nd"

LITERAL_BLOCK_MARKER = re.compile(r"(?<=\w)::$", re.MULTILINE)
REST_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc|obj):`~?\.?([^`]+)`")
MARKDOWN_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)")
API_DIRECTIVE = re.compile(r"^:::\s*(\S+)", re.MULTILINE)


class DocstringsForMarkdown(griffe.Extension):
    """Docstrings written for reST and for ``help()``, made readable as Markdown."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in objects_of(pkg):
            if obj.docstring is None and obj.is_attribute:
                text = runtime_function_doc(obj.module.path, obj.name)
                if text:
                    obj.docstring = griffe.Docstring(text, parent=obj)
            if obj.docstring is not None:
                text = REST_ROLE.sub(r"`\1`", obj.docstring.value)
                obj.docstring.value = LITERAL_BLOCK_MARKER.sub(":", text)


def objects_of(root: griffe.Object) -> list[griffe.Object]:
    """``root`` and every object defined under it (aliases, i.e. imports, left out)."""
    found, pending = [], [root]
    while pending:
        obj = pending.pop()
        found.append(obj)
        pending.extend(member for member in obj.members.values() if not member.is_alias)
    return found


def runtime_function_doc(module_name: str, name: str) -> str | None:
    """``name(signature)`` and the docstring of a function a factory made at import time."""
    value = getattr(importlib.import_module(module_name), name, None)
    if not (inspect.isfunction(value) and value.__doc__):
        return None
    # Annotations as the source spells them (postponed: strings), without the quotes.
    signature = str(inspect.signature(value)).replace("'", "")
    return f"`{name}{signature}`\n\n{inspect.cleandoc(value.__doc__)}"


def documented_modules(docs_dir: Path) -> dict[str, str]:
    """Dotted module name → the reference page (relative to docs_dir) whose ``:::`` shows it."""
    pages = {}
    for page in sorted((docs_dir / "reference").glob("*.md")):
        for name in API_DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            pages.setdefault(name, page.relative_to(docs_dir).as_posix())
    return pages


def site_target(repo_path: Path, text: str, pages: dict[str, str]) -> str | None:
    """The reference page (and anchor) that documents the repository file ``repo_path``."""
    parts = repo_path.relative_to(REPO).with_suffix("").parts
    if not parts or parts[0] != PACKAGE:
        return None
    if parts[-1] == "__init__":
        parts = parts[:-1]
    module = ".".join(parts)
    while module and module not in pages:  # a submodule documented on its package's page
        module = module.rpartition(".")[0]
    if not module:
        return None
    named = re.fullmatch(r"`([A-Za-z_][\w.]*)`", text.strip())
    if named and named.group(1).endswith(".py"):
        named = None
    anchor = f"#{PACKAGE}.{named.group(1)}" if named else ""
    return pages[module] + anchor


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Point links to source files at the API reference; fail on links to missing files."""
    docs_dir = Path(config["docs_dir"]).resolve()
    page_dir = (docs_dir / page.file.src_path).parent
    pages = documented_modules(docs_dir)
    depth = len(Path(page.file.src_path).parent.parts)

    def rewrite(match: re.Match[str]) -> str:
        text, target = match.group("text"), match.group("target")
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)  # a URL (http:, mailto:) or an anchor on this page
        path_part = target.split("#", 1)[0]
        resolved = (page_dir / path_part).resolve()
        if resolved.is_relative_to(docs_dir):
            return match.group(0)  # a page of the site: MkDocs itself checks it
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            raise ValueError(
                f"{page.file.src_path} links {target!r}, which is not a file of the repository"
            )
        in_site = site_target(resolved, text, pages)
        if in_site is None:
            path = resolved.relative_to(REPO).as_posix()
            return text if path in text else f"{text} (`{path}`)"
        return f"[{text}]({'../' * depth}{in_site})"

    return MARKDOWN_LINK.sub(rewrite, markdown)
