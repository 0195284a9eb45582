"""Typed experiment configs: each field says its type and what values it allows, next to its default.

An experiment's ``config.py`` declares its schema and presets and exposes ``get_config``:

    SCHEMA = Schema(
        fields=dict(
            seed=Int(0, minimum=0, help="root of every named random stream"),
            lr=Tuple((8.0, 32.0), Float(minimum=0, open_minimum=True), help="learning rates, chosen on validation"),
            data_dir=Path(None, help="MNIST IDX files; None = the bundled 8×8 digits"),
            engine=ENGINE,
        ),
        presets={"tiny": {"lr": (8.0,)}, "paper": {"data_dir": "../shared/data/mnist"}},
    )

    def get_config(preset: str = ""):
        return SCHEMA.config(preset)

The launcher loads ``experiments/NAME/config.py:PRESET`` through ml_collections' ``config_flags``
(``--preset=tiny`` on the command line), applies ``--config.KEY=VALUE`` overrides, then
:meth:`Schema.validate` checks every field (and the schema's cross-field ``rules``) before anything is
written. "Unset" is ``None`` (an ml_collections placeholder of the field's type), never −1, 0 or "".
A refusal is a ``ValueError`` reading ``--config.KEY=VALUE is not allowed: <what is allowed>``.
"""
from __future__ import annotations

import math
import os
from typing import Callable, Sequence

import numpy as np

PRESET_NAMES = ("default", "tiny", "paper")   # every experiment has these three; more are allowed


def refuse(key: str, value, allowed: str):
    raise ValueError(f"--config.{key}={value!r} is not allowed: {allowed}")


def check(condition: bool, key: str, value, allowed: str):
    """Raise ValueError('--config.KEY=VALUE is not allowed: ALLOWED') unless ``condition``."""
    if not condition:
        refuse(key, value, allowed)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


class Field:
    """A typed config field: ``default`` (None = unset), a ``help`` line, and the check of a value."""
    python_type: type = object

    def __init__(self, default=None, *, help: str = ""):
        self.default = default
        self.help = help

    def describe(self) -> str:
        """What the field allows, in words (the end of a refusal)."""
        raise NotImplementedError

    def ok(self, value) -> bool:
        raise NotImplementedError

    def validate(self, key: str, value):
        if value is None:
            check(self.default is None, key, value, f"{self.describe()} (this field cannot be unset)")
            return
        check(self.ok(value), key, value, self.describe())

    def value(self):
        """The default as the ConfigDict holds it: a typed placeholder when unset."""
        from ml_collections import config_dict
        return config_dict.placeholder(self.python_type) if self.default is None else self.default


class Int(Field):
    python_type = int

    def __init__(self, default=None, *, minimum=None, maximum=None, even: bool = False, help: str = ""):
        super().__init__(default, help=help)
        self.minimum, self.maximum, self.even = minimum, maximum, even

    def describe(self) -> str:
        bounds = []
        if self.minimum is not None:
            bounds.append(f"≥ {self.minimum:,}")
        if self.maximum is not None:
            bounds.append(f"≤ {self.maximum:,}")
        return ("an even integer" if self.even else "an integer") + (" " + " and ".join(bounds) if bounds else "")

    def ok(self, v) -> bool:
        return (_is_int(v) and (self.minimum is None or v >= self.minimum)
                and (self.maximum is None or v <= self.maximum) and (not self.even or v % 2 == 0))


class Float(Field):
    python_type = float

    def __init__(self, default=None, *, minimum=None, maximum=None, open_minimum: bool = False,
                 open_maximum: bool = False, help: str = ""):
        super().__init__(default, help=help)
        self.minimum, self.maximum = minimum, maximum
        self.open_minimum, self.open_maximum = open_minimum, open_maximum

    def describe(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return (f"a number in {'(' if self.open_minimum else '['}{self.minimum:g}, {self.maximum:g}"
                    f"{')' if self.open_maximum else ']'}")
        if self.minimum is not None:
            return f"a finite number {'>' if self.open_minimum else '≥'} {self.minimum:g}"
        if self.maximum is not None:
            return f"a finite number {'<' if self.open_maximum else '≤'} {self.maximum:g}"
        return "a finite number"

    def ok(self, v) -> bool:
        if not _is_number(v) or not math.isfinite(v):
            return False
        if self.minimum is not None and (v <= self.minimum if self.open_minimum else v < self.minimum):
            return False
        return not (self.maximum is not None and (v >= self.maximum if self.open_maximum else v > self.maximum))


class Bool(Field):
    python_type = bool

    def describe(self) -> str:
        return "True or False"

    def ok(self, v) -> bool:
        return isinstance(v, (bool, np.bool_))


class Str(Field):
    python_type = str

    def describe(self) -> str:
        return "a non-empty string"

    def ok(self, v) -> bool:
        return isinstance(v, str) and v != ""


class Choice(Field):
    python_type = str

    def __init__(self, default=None, choices: Sequence = (), *, help: str = ""):
        super().__init__(default, help=help)
        self.choices = tuple(choices)

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))

    def ok(self, v) -> bool:
        return isinstance(v, str) and v in self.choices


class Path(Field):
    """A file-system path; ``exists`` = "dir" or "file" checks it is there (at validation time)."""
    python_type = str

    def __init__(self, default=None, *, exists: str | None = None, help: str = ""):
        super().__init__(default, help=help)
        self.exists = exists

    def describe(self) -> str:
        return {"dir": "an existing directory", "file": "an existing file"}.get(self.exists, "a path")

    def ok(self, v) -> bool:
        if not isinstance(v, str) or v == "":
            return False
        return {"dir": os.path.isdir, "file": os.path.isfile}.get(self.exists, lambda p: True)(v)


class Tuple(Field):
    """A tuple of values of one ``element`` field (a single value is taken as a tuple of one), at least
    ``min_length`` long, its entries distinct unless ``distinct=False``, increasing when ``increasing``."""
    python_type = tuple

    def __init__(self, default=None, element: Field | None = None, *, min_length: int = 1, max_length=None,
                 distinct: bool = True, increasing: bool = False, none: str | None = None, help: str = ""):
        super().__init__(None if default is None else tuple(default), help=help)
        self.element = element
        self.min_length, self.max_length = min_length, max_length
        self.distinct, self.increasing = distinct, increasing
        self.none = none  # when given, None is an allowed entry and means this

    def describe(self) -> str:
        what = self.element.describe() if self.element else "values"
        parts = ["a tuple of " + ("distinct " if self.distinct else "") + what.removeprefix("a ").removeprefix("an ")]
        if self.min_length > 1:
            parts.append(f"at least {self.min_length} of them")
        elif self.min_length == 1:
            parts.append("at least one")
        else:
            parts.append("() allowed")
        if self.max_length is not None:
            parts.append(f"at most {self.max_length}")
        if self.increasing:
            parts.append("increasing")
        if self.none:
            parts.append(f"None = {self.none}")
        return ", ".join(parts)

    @staticmethod
    def as_tuple(v) -> tuple:
        return tuple(v) if isinstance(v, (tuple, list)) else (v,)

    def ok(self, v) -> bool:
        values = self.as_tuple(v)
        if len(values) < self.min_length or (self.max_length is not None and len(values) > self.max_length):
            return False
        if any(e is None for e in values) and not self.none:
            return False
        if self.element is not None and not all(e is None or self.element.ok(e) for e in values):
            return False
        if self.distinct:
            try:
                if len(set(values)) != len(values):
                    return False
            except TypeError:  # unhashable entries
                return False
        return not (self.increasing and list(values) != sorted(values))

    def validate(self, key: str, value):
        if value is not None and self.element is not None:  # name the bad entry when there is one
            for e in self.as_tuple(value):
                if e is not None and not self.element.ok(e):
                    refuse(key, value, f"{self.describe()} ({e!r} is not {self.element.describe()})")
        super().validate(key, value)


class Section:
    """A nested group of fields (``--config.SECTION.KEY=…``)."""

    def __init__(self, help: str = "", **fields):
        self.help = help
        self.fields = fields


class Schema:
    """The fields of an experiment's config, its named presets, and cross-field ``rules`` (functions of
    the config that raise ValueError through :func:`check`)."""

    def __init__(self, fields: dict, presets: dict | None = None, rules: Sequence[Callable] = ()):
        self.fields = fields
        self.presets = {"default": {}, **(presets or {})}
        missing = [p for p in PRESET_NAMES if p not in self.presets]
        if missing:
            raise ValueError(f"a schema needs the presets {PRESET_NAMES}; missing {missing}")
        self.rules = tuple(rules)

    # ---- building -------------------------------------------------------------------------------
    def _build(self, fields: dict):
        from ml_collections import config_dict
        c = config_dict.ConfigDict()
        for key, field in fields.items():
            c[key] = self._build(field.fields) if isinstance(field, Section) else field.value()
        return c

    def config(self, preset: str = ""):
        """The defaults with preset ``preset`` ("" = "default") applied: a ConfigDict."""
        name = preset or "default"
        if name not in self.presets:
            raise ValueError(f"unknown preset {name!r}; presets: {', '.join(self.presets)}")
        c = self._build(self.fields)
        for dotted, value in self.presets[name].items():
            node = c
            *parents, key = dotted.split(".")
            for p in parents:
                node = node[p]
            if key not in node:
                raise KeyError(f"preset {name!r} sets {dotted!r}, which is not a field")
            node[key] = value
        return c

    # ---- checking -------------------------------------------------------------------------------
    def field(self, dotted: str) -> Field:
        node = self.fields
        *parents, key = dotted.split(".")
        for p in parents:
            node = node[p].fields
        return node[key]

    def items(self, fields=None, prefix: str = ""):
        """(dotted key, field) for every field, sections flattened."""
        for key, field in (fields or self.fields).items():
            if isinstance(field, Section):
                yield from self.items(field.fields, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", field

    def validate(self, config):
        """Every field's type and range, then the cross-field rules; the first refusal raises ValueError
        naming the field and what it allows. Keys the schema does not know are refused too."""
        known = dict(self.items())
        for dotted in _flat_keys(config):
            check(dotted in known, dotted, _get(config, dotted),
                  "no such field (the fields and their defaults are in the experiment's config.py)")
        for dotted, field in known.items():
            field.validate(dotted, _get(config, dotted))
        for rule in self.rules:
            rule(config)

    def help_table(self) -> list[tuple[str, str, str, str]]:
        """(key, default, allowed, help) of every field, for the docs pages."""
        return [(k, repr(f.default), f.describe(), f.help) for k, f in self.items()]


def _get(config, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node[part]
    return node


def _flat_keys(config, prefix: str = ""):
    from ml_collections import config_dict
    for key in config.keys():
        value = config[key]
        if isinstance(value, (config_dict.ConfigDict, dict)):
            yield from _flat_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def engine_section():
    """The engine's fields, the same in every experiment that trains through the sweep engine."""
    from kd_theory.protocol.engine import DTYPES
    from kd_theory.sweep.executors import EXECUTORS
    return Section(
        help="how the sweeps run (kd_theory.protocol.EngineConfig)",
        dtype=Choice("float32", DTYPES, help="dtype of the students"),
        memory_budget_gb=Float(None, minimum=0, open_minimum=True,
                               help="GiB a chunk may use; None = measured from the device (half a GPU's memory, "
                                    "a quarter of RAM up to 8 GiB on CPU)"),
        executor=Choice("local", tuple(EXECUTORS), help="local, submitit-local or slurm"),
        slurm_partition=Str(None, help="Slurm partition (executor=slurm); None = the cluster's default"),
        slurm_timeout_min=Int(60, minimum=1, help="Slurm time limit of a chunk's job, minutes"),
        progress=Bool(True, help="progress lines with elapsed time and time left on stderr"),
    )


def check_executor_installed(config):
    """A rule: a submitit executor needs submitit installed (checked before any work is done)."""
    if config.engine.executor != "local":
        import importlib.util
        check(importlib.util.find_spec("submitit") is not None, "engine.executor", config.engine.executor,
              "local (submitit is not installed: pip install submitit)")
