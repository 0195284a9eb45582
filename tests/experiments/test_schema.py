"""The typed config layer: fields refuse what they do not allow, naming the key; presets apply."""
import pytest

from experiments.common import schema as S


def _schema():
    return S.Schema(
        fields=dict(seed=S.Int(0, minimum=0), lr=S.Tuple((8.0, 32.0), S.Float(minimum=0, open_minimum=True)),
                    data_dir=S.Path(None, exists="dir"), kind=S.Choice("network", ("network", "kernel")),
                    widths=S.Tuple((4, 6), S.Int(minimum=2, even=True), increasing=True),
                    engine=S.engine_section()),
        presets={"tiny": {"lr": (8.0,), "engine.progress": False}, "paper": {"seed": 1}},
        rules=[lambda c: S.check(c.kind != "kernel" or c.lr == (1.0,), "lr", c.lr, "(1.0,) with kind=kernel")])


def test_defaults_and_presets():
    s = _schema()
    c = s.config()
    assert c.seed == 0 and c.data_dir is None and c.engine.memory_budget_gb is None
    s.validate(c)
    tiny = s.config("tiny")
    assert tiny.lr == (8.0,) and tiny.engine.progress is False
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        s.config("huge")


@pytest.mark.parametrize("key, value, message", [
    ("seed", -1, "--config.seed=-1 is not allowed: an integer ≥ 0"),
    ("seed", True, "an integer"),
    ("lr", (0.0,), "--config.lr=(0.0,) is not allowed"),
    ("lr", (8.0, 8.0), "distinct"),
    ("lr", (), "at least one"),
    ("data_dir", "/nonexistent/dir", "an existing directory"),
    ("kind", "wide", "one of network, kernel"),
    ("widths", (6, 4), "increasing"),
    ("widths", (5,), "even"),
])
def test_bad_values_name_the_field(key, value, message):
    s = _schema()
    c = s.config()
    c[key] = value
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        s.validate(c)


def test_nested_and_cross_field_and_unset_fields():
    s = _schema()
    c = s.config()
    c.engine.memory_budget_gb = float("inf")
    with pytest.raises(ValueError, match="engine.memory_budget_gb=inf"):
        s.validate(c)
    c = s.config()
    c.kind = "kernel"
    with pytest.raises(ValueError, match="with kind=kernel"):
        s.validate(c)
    c = s.config()
    c.seed = None
    with pytest.raises(ValueError, match="cannot be unset"):
        s.validate(c)


def test_every_experiment_has_the_three_presets_and_each_validates():
    import importlib

    from experiments import run
    for name in run.EXPERIMENTS:
        module = importlib.import_module(f"experiments.{name}.config")
        assert set(S.PRESET_NAMES) <= set(module.SCHEMA.presets), name
        for preset in module.SCHEMA.presets:
            config = module.get_config(preset)
            try:
                importlib.import_module(f"experiments.{name}").validate(config)
            except ValueError as exc:  # a preset whose data folder this machine lacks (../shared): only that
                assert "is not allowed: an existing" in str(exc), (name, preset, str(exc))
