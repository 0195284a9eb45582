"""The documentation site: it builds under ``mkdocs build --strict`` and every kd_theory module has its API page.

The strict build fails on a docstring that names a kd_theory object that does not exist (docs/_ext/sphinx_roles.py),
a broken link or anchor, and a page left out of the nav (mkdocs.yml).
"""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

DIRECTIVE = re.compile(r"^:::\s+(kd_theory(?:\.\w+)*)\s*$", re.M)


def library_modules(repo):
    """Dotted names of every module and package under kd_theory/ (folders without __init__.py hold data)."""
    names = []
    root = os.path.join(repo, "kd_theory")
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if os.path.isfile(os.path.join(folder, d, "__init__.py")))
        package = os.path.relpath(folder, repo).replace(os.sep, ".")
        for name in sorted(files):
            if name == "__init__.py":
                names.append(package)
            elif name.endswith(".py"):
                names.append(f"{package}.{name[:-3]}")
    return names


def documented(repo):
    """{page file name: the objects its ``::: kd_theory.…`` blocks render}."""
    pages = {}
    api = os.path.join(repo, "docs", "api")
    for name in sorted(os.listdir(api)):
        if name.endswith(".md"):
            with open(os.path.join(api, name), encoding="utf-8") as f:
                pages[name] = DIRECTIVE.findall(f.read())
    return pages


def test_every_module_has_an_api_page(repo):
    """kd_theory.NAME (module or package) has docs/api/NAME.md; a package's page renders each of its modules."""
    pages = documented(repo)
    modules = [m for m in library_modules(repo) if m != "kd_theory"]   # the root's docstring is the site's index
    missing_pages = sorted({f"{m.split('.')[1]}.md" for m in modules} - set(pages))
    assert not missing_pages, f"modules without a page in docs/api/: {missing_pages}"
    for module in modules:
        page = f"{module.split('.')[1]}.md"
        assert module in pages[page], f"docs/api/{page} has no '::: {module}' block"
    stale = sorted({name for names in pages.values() for name in names} - set(modules))
    assert not stale, f"docs/api/ renders objects that are not kd_theory modules: {stale}"
    with open(os.path.join(repo, "mkdocs.yml"), encoding="utf-8") as f:
        config = f.read()
    not_in_nav = [page for page in pages if f"api/{page}" not in config]
    assert not not_in_nav, f"docs/api pages missing from the nav in mkdocs.yml: {not_in_nav}"


def test_mkdocs_build_strict(repo, tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[test]' installs it with mkdocstrings)")
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")   # Material's end-of-life banner, printed on every build
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=repo,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    # every API page carries the anchors of what it documents (mkdocstrings rendered it, not an empty page)
    for page, names in documented(repo).items():
        with open(site / "api" / page[:-3] / "index.html", encoding="utf-8") as f:
            html = f.read()
        for name in names:
            assert f'id="{name}"' in html, f"{name} was not rendered on api/{page}"


def test_experiment_pages_generated_parts_are_current():
    """Each docs/experiments/NAME.md's config table and results block are what the code and docs/results give
    (python -m experiments.common.docs rewrites them)."""
    from experiments.common import docs
    from experiments.report import discovery
    assert docs.main(["--check"]) == 0
    reportable = discovery.reportable()
    for name, path in docs.pages().items():
        with open(path, encoding="utf-8") as fh:
            page = fh.read()
        # every page has its config table; an experiment whose results the report shows also has its results
        kinds = ("config", "results") if name in reportable else ("config",)
        for begin, end in (docs.MARKERS[k] for k in kinds):
            assert begin in page and end in page, f"{path} lacks {begin} … {end}"
