"""Docs, docstrings, examples and tests never mention a repository file that does not exist.

A path like ``docs/derivation.md`` or ``../micrograd_nd/reference.py`` written anywhere in the
project's text must name a file of the repository (relative to the root, to the mentioning
file, or to ``docs/``, where guide pages link from). Paths outside the repository (absolute
ones, ``outputs/`` made at run time) are not mentions of repository files.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md", "docs/**/*.md", "micrograd_nd/**/*.py",
           "examples/**/*.py", "benchmarks/**/*.py", "scripts/**/*.py", "tests/**/*.py"]
# Files whose missing paths are deliberate (they test that missing files are caught).
FIXTURES = {"tests/test_docs_site.py", "tests/test_mentioned_files.py"}
# Mentions known to be wrong and being removed by work in progress. Empty this at merge: the
# last test fails once an entry is no longer mentioned anywhere.
KNOWN_MISSING: set[str] = set()
PATH = re.compile(r"(?<![\w/.:~-])((?:\.\./)*[A-Za-z_][\w.-]*(?:/[\w.-]+)+"
                  r"\.(?:md|py|txt|json|ya?ml|toml|cfg|ini))\b")


def mentions() -> dict[str, set[str]]:
    """Path mentioned → the files that mention it, for paths that name no repository file."""
    missing: dict[str, set[str]] = {}
    for pattern in SCANNED:
        for file in sorted(ROOT.glob(pattern)):
            relative = file.relative_to(ROOT).as_posix()
            if relative in FIXTURES or ".venv" in file.parts:
                continue
            for path in PATH.findall(file.read_text(encoding="utf-8")):
                if path.startswith("outputs/"):
                    continue
                if not any((base / path).exists() for base in (ROOT, file.parent, ROOT / "docs")):
                    missing.setdefault(path, set()).add(relative)
    return missing


def test_every_mentioned_repository_file_exists():
    unexpected = {path: sorted(files) for path, files in mentions().items()
                  if path not in KNOWN_MISSING}
    assert not unexpected, f"files mentioned but not in the repository: {unexpected}"


def test_the_known_missing_list_is_not_stale():
    stale = KNOWN_MISSING - set(mentions())
    assert not stale, f"no longer mentioned anywhere, remove from KNOWN_MISSING: {sorted(stale)}"
