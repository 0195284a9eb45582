"""mkdocs hook: the repository's README.md becomes the site page ``readme.md``.

The README lives at the repository root and links into ``docs/`` (figures, results, the report); on the
site those files sit at the root of the docs folder, so the ``docs/`` prefix of its relative links is dropped.
Every other link is left to mkdocs' link validation (a strict build fails on a broken one).
"""
import os
import re

from mkdocs.structure.files import File

README_PAGE = "readme.md"
DOCS_PREFIX = re.compile(r"(\]\(|\bsrc=\")docs/")


def on_files(files, config):
    readme = os.path.join(os.path.dirname(config.config_file_path), "README.md")
    files.append(File.generated(config, README_PAGE, abs_src_path=readme))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != README_PAGE:
        return markdown
    return DOCS_PREFIX.sub(r"\1", markdown)
