"""The documentation site builds with warnings as errors, offline, and documents every public name.

Needs the ``docs`` extra (``pip install -e ".[docs]"``); without it these tests skip, except under
CI (``CI`` set), where a missing tool is a failure: CI installs the extra.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

import micrograd_nd

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Public modules without a page of their own: their names are re-exported, and shown, by the
# top-level page (``micrograd_nd``) or by the module named here.
COVERED_ELSEWHERE = {"creation": "micrograd_nd", "modes": "micrograd_nd", "custom": "micrograd_nd",
                     "visualize": "micrograd_nd", "history": "micrograd_nd.training"}


def require(module: str):
    """Import a docs tool or skip (fail under CI, which installs the ``docs`` extra)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        reason = f"{module} is not installed: pip install -e '.[docs]'"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must install the docs extra)")
        pytest.skip(reason)


def public_submodules() -> list[str]:
    """The first-level submodules and subpackages of micrograd_nd not named with ``_``."""
    return sorted(info.name for info in pkgutil.iter_modules(micrograd_nd.__path__)
                  if not info.name.startswith("_"))


def read_inventory(path: Path) -> dict[str, str]:
    """Object name → page URL, from a Sphinx-format ``objects.inv`` (as mkdocstrings writes it)."""
    header, _, compressed = path.read_bytes().partition(b"zlib.\n")
    assert header.startswith(b"# Sphinx inventory version 2"), header[:60]
    entries = {}
    for line in zlib.decompress(compressed).decode().splitlines():
        name, _domain_role, _priority, location, _display = line.split(" ", 4)
        entries[name] = location
    return entries


def documented_as(inventory: dict[str, str], module: str, name: str) -> bool:
    """Is ``module.name`` in the site: under its own path, the page that covers its module, or
    the object's home module?"""
    short = module.removeprefix("micrograd_nd.")
    places = {module, COVERED_ELSEWHERE.get(short, module)}
    if any(f"{place}.{name}" in inventory for place in places):
        return True
    if module == "micrograd_nd" and name in COVERED_ELSEWHERE:
        return True  # a submodule whose names the top-level page shows
    value = getattr(importlib.import_module(module), name)
    home = getattr(value, "__module__", None)
    return home is not None and f"{home}.{getattr(value, '__qualname__', name)}" in inventory


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    require("mkdocs")
    require("mkdocstrings_handlers.python")
    out = tmp_path_factory.mktemp("site")
    # Offline: any attempt to fetch over HTTP(S) goes to a closed local port and fails.
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead,
           "http_proxy": dead, "https_proxy": dead, "NO_PROXY": "", "no_proxy": ""}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-4000:]}"
    return out


def test_every_public_module_has_a_reference_page():
    pages = {page.stem: page.read_text(encoding="utf-8")
             for page in (DOCS / "reference").glob("*.md")}
    missing = [name for name in public_submodules()
               if name not in COVERED_ELSEWHERE
               and f"::: micrograd_nd.{name}\n" not in pages.get(name, "")]
    assert not missing, (
        f"no API page for {missing}: add docs/reference/<name>.md with a title and the line "
        f"'::: micrograd_nd.<name>' (or list the module in COVERED_ELSEWHERE)")
    assert "::: micrograd_nd\n" in pages["index"]


def test_every_public_name_is_in_the_reference(site):
    inventory = read_inventory(site / "objects.inv")
    modules = ["micrograd_nd"] + [f"micrograd_nd.{name}" for name in public_submodules()]
    missing = [f"{module}.{name}" for module in modules
               for name in getattr(importlib.import_module(module), "__all__", ())
               if not documented_as(inventory, module, name)]
    assert not missing, f"public names absent from the API reference: {missing}"


def test_the_site_loads_nothing_from_other_hosts(site):
    remote = re.compile(r"<(?:script|img|iframe)[^>]*\ssrc=\"(?:https?:)?//"
                        r"|<link[^>]*\shref=\"(?:https?:)?//")
    offenders = [str(page.relative_to(site)) for page in site.rglob("*.html")
                 if remote.search(page.read_text(encoding="utf-8"))]
    assert not offenders, f"pages that load remote resources: {offenders}"


def test_guide_pages_are_in_the_site(site):
    for page in DOCS.glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built"


# ---- the link hook (scripts/docs_support.py), on hand-made pages -------------------------

@pytest.fixture(scope="module")
def docs_support():
    require("griffe")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module("docs_support")
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def rewrite(docs_support, markdown: str, src_path: str = "guide.md") -> str:
    page = SimpleNamespace(file=SimpleNamespace(src_path=src_path))
    return docs_support.on_page_markdown(markdown, page, {"docs_dir": str(DOCS)}, None)


def test_a_link_to_a_module_file_goes_to_its_reference_page_and_object(docs_support):
    got = rewrite(docs_support, "see [`reference.sigmoid`](../micrograd_nd/reference.py).")
    anchor = "#micrograd_nd.reference.sigmoid"
    assert got == f"see [`reference.sigmoid`](reference/reference.md{anchor})."
    got = rewrite(docs_support, "[the table](../../micrograd_nd/primitives.py)", "reference/x.md")
    assert got == "[the table](../reference/primitives.md)"
    # A submodule without a page of its own is documented on its package's page.
    got = rewrite(docs_support, "[layers](../micrograd_nd/nn/layers.py)")
    assert got == "[layers](reference/nn.md)"


def test_a_link_to_another_repository_file_becomes_its_path(docs_support):
    got = rewrite(docs_support, "[the runner](../benchmarks/run_all.py)")
    assert got == "the runner (`benchmarks/run_all.py`)"
    got = rewrite(docs_support, "[`examples/two_moons.py`](../examples/two_moons.py)")
    assert got == "`examples/two_moons.py`"


def test_a_link_to_a_missing_file_fails_the_build(docs_support):
    missing = r"spec/backprop-formulas\.md.*not a file of the repository"
    with pytest.raises(ValueError, match=missing):
        rewrite(docs_support, "as in [the spec](../spec/backprop-formulas.md)")


def test_links_within_the_site_and_urls_are_left_alone(docs_support):
    text = "[errors](errors.md#rows), [web](https://example.org/x.py), [here](#top), ![i](a.png)"
    assert rewrite(docs_support, text) == text


def test_rest_roles_and_literal_markers_become_markdown(docs_support):
    griffe = require("griffe")
    module = griffe.Module("m")
    module.docstring = griffe.Docstring(
        "Uses :class:`Module` and :func:`~micrograd_nd.nn.save`.\n\nExample::\n\n    x = 1\n",
        parent=module)
    docs_support.DocstringsForMarkdown().on_package(pkg=module, loader=None)
    assert module.docstring.value == (
        "Uses `Module` and `micrograd_nd.nn.save`.\n\nExample:\n\n    x = 1")
