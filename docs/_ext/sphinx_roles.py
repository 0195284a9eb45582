"""Griffe extension: Sphinx roles in kd_theory's docstrings become checked mkdocstrings cross-references.

The docstrings name other objects the Sphinx way (``:func:`estimate_margin```, ``:mod:`~kd_theory.protocol.task```),
which reads well in ``help()``. Here each role is resolved the way Python resolves the name: in the object's own
members, then in each enclosing scope up to the package (so ``nets.neuron_init`` works from any kd_theory module),
or as an absolute ``kd_theory.…`` path. A resolved name becomes ``[`name`][canonical.path]`` (a link to the one
place the object is documented, through aliases); ``~`` shows only the last component, as in Sphinx.
A name outside kd_theory (``scipy.stats.ttest_1samp``) stays plain code. A name that looks like ours but does not
resolve is a warning, so ``mkdocs build --strict`` fails on a stale reference.
"""
import re

from griffe import Extension, logger

ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|obj|exc|const):`(~?)([\w.]+)`")


def _walk(obj):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _lookup(scope, dotted):
    """The object ``dotted`` names from ``scope`` (its canonical path followed through aliases), or None."""
    obj = scope
    for part in dotted.split("."):
        if part not in obj.members:
            return None
        obj = obj.members[part]
        if obj.is_alias:
            obj = _canonical(obj)
            if obj is None:
                return None
    return obj


def _canonical(alias):
    """The object an alias points to inside the loaded package, without needing resolved aliases."""
    root = alias.package
    path = alias.target_path
    if not path.startswith(root.path + "."):
        return None
    return _lookup(root, path[len(root.path) + 1:])


def _resolve(obj, name, package):
    if name == package.path:
        return package
    if name.startswith(package.path + "."):
        return _lookup(package, name[len(package.path) + 1:])
    scope = obj
    while scope is not None:
        found = _lookup(scope, name)
        if found is not None:
            return found
        scope = scope.parent
    return None


class SphinxRoles(Extension):
    def on_package(self, *, pkg, **kwargs):
        for obj in _walk(pkg):
            if obj.docstring is None:
                continue

            def link(match, obj=obj):
                tilde, name = match.groups()
                shown = name.rsplit(".", 1)[-1] if tilde else name
                target = _resolve(obj, name, pkg)
                if target is not None:
                    return f"[`{shown}`][{target.path}]"
                if "." not in name or name.startswith(pkg.path + "."):
                    logger.warning(f"{obj.path}: docstring names `{name}`, which is not in {pkg.path}")
                return f"`{shown}`"

            obj.docstring.value = ROLE.sub(link, obj.docstring.value)
