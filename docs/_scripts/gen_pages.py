"""mkdocs-gen-files script: the pages that are not written by hand in docs/.

- ``index.md`` is README.md (the front page on GitHub and on the site: one text), its links rewritten from
  the repository's layout to the site's;
- ``changelog.md`` is CHANGELOG.md and ``datasets.md`` is datasets/README.md, as they are;
- the reference pages come from the code (reference.py).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import mkdocs_gen_files

sys.path.insert(0, str(Path(__file__).parent))
import reference  # noqa: E402  (docs tooling beside this script, not a package)

ROOT = reference.ROOT
#: repository paths the README links to -> their page on the site
SITE_PATHS = {"CHANGELOG.md": "changelog.md", "datasets/README.md": "datasets.md"}


def site_links(markdown: str) -> str:
    """README links as the site needs them: ``docs/x.md`` -> ``x.md``, other repository files -> their page."""

    def replace(match: re.Match[str]) -> str:
        target = match.group(2)
        if target.startswith("docs/"):
            target = target.removeprefix("docs/")
        target = SITE_PATHS.get(target, target)
        return f"{match.group(1)}({target})"

    return re.sub(r"(\]|\]\s*)\(([^)\s#]+)\)", replace, markdown)


def write(page: str, text: str, edit_path: str | None = None) -> None:
    with mkdocs_gen_files.open(page, "w") as handle:
        handle.write(text)
    if edit_path:
        mkdocs_gen_files.set_edit_path(page, edit_path)


write("index.md", site_links((ROOT / "README.md").read_text(encoding="utf-8")), "../README.md")
write("changelog.md", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), "../CHANGELOG.md")
write("datasets.md", (ROOT / "datasets" / "README.md").read_text(encoding="utf-8"), "../datasets/README.md")
for page, render in reference.PAGES.items():
    write(page, render())
