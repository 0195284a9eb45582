"""Crowdsourcing with task types (Kong, Mandal et al.): real crowds, simulated two-type crowds, and students
trained on crowd posteriors.

    python -m experiments.run --experiment=crowd --out=runs/crowd                    # default, offline
    python -m experiments.run --experiment=crowd --preset=tiny --out=runs/crowd-tiny  # the tests' size
    python -m experiments.run --experiment=crowd --preset=paper --out=runs/crowd-paper
    python -m experiments.run --experiment=crowd --preset=shared --out=runs/crowd-six # the six real crowds only

default: the bundled ``sp`` crowd (Apache-2.0, shipped in the package) with every aggregator, DS also per
type of the spectral partition; simulated two-type crowds (easy/hard, distinct skills and the same-skills
control) at d ∈ {500, 5,000, 50,000} tasks — two decades — with n = max(3, round(ρ ln d)) workers,
ρ ∈ {1, 2, 4}, 8 crowds per grid point (5 left the recovery test short of power); and the digits bridge
(students trained on crowd posteriors, labels and majority vote, paired by seed). The verdict tests Kong
et al.'s two claims on the simulated crowds: the partition + per-type Dawid-Skene beats pooled Dawid-Skene
where the types differ in difficulty (and not in the control), and type recovery tends to 1 when n grows
like ln d. tiny: sp with MV and DS, d ∈ {100, 1,000} at ρ = 4, a small bridge (32 s CPU cold, 11 s with
the compilation cache warm). paper: the six real crowds of ../shared/data/crowd; d ∈ {500, 2,000, 10,000,
50,000}, ρ ∈ {1, 2, 4, 8}, 20 crowds per grid point; MV, DS, one-coin DS, GLAD and TE pooled; DS and TE per
type (TE + weighted vote per type is Kong et al.'s own labelling). shared: the six real crowds alone.
Measured times and the paper estimate: docs/experiments/crowd.md.

Writes crowd.md (the verdict with its preconditions), crowd_real.md/.png, crowd_simulated.md/.png,
crowd_bridge.md/.png, runs.csv, results.json, config.json.
"""
from experiments.common.schema import (Choice, Float, Int, Path, Schema, Tuple, check, check_executor_installed,
                                       engine_section)
from kd_theory.crowd.evaluation import AGGREGATORS
from kd_theory.crowd.io import DUPLICATE_RULES
from kd_theory.crowd.simulate import VARIANTS

PARTS = ("real", "simulated", "bridge")
SHARED_CROWDS = "../shared/data/crowd"
AGGREGATOR_NAMES = tuple(AGGREGATORS)
METHOD = "DS"  # the claim: the partition + per-type Dawid-Skene against pooled Dawid-Skene


def _method_runs(config):
    if "simulated" in config.parts:
        for key in ("sim_aggregators", "per_type"):
            check(METHOD in config[key], key, config[key],
                  f"a tuple holding {METHOD!r}: the verdict compares the partition + per-type {METHOD} with pooled "
                  f"{METHOD}")


def _bridge(config):
    if "bridge" in config.parts and config.bridge_answers_per_task is not None:
        check(config.bridge_answers_per_task <= config.bridge_workers, "bridge_answers_per_task",
              config.bridge_answers_per_task, f"None (every worker) or at most bridge_workers={config.bridge_workers}")


def _crowds_found(config):
    if "real" in config.parts:
        from experiments.crowd.real import crowd_folders
        where = config.crowd_dir or "the bundled sp"
        check(bool(crowd_folders(config.crowd_dir)), "crowd_dir", config.crowd_dir,
              f"a folder holding answers.csv (task, worker, label) or sub-folders that do; {where} has none")


SCHEMA = Schema(
    fields=dict(
        seed=Int(0, minimum=0, maximum=2**31 - 1,
                 help="root of every named random stream (kd_theory.rng): crowd (simulated and bridge crowds), "
                      "partition, split, student"),
        parts=Tuple(PARTS, Choice(choices=PARTS), help="which parts run: real crowds, simulated crowds, the bridge"),
        per_type=Tuple(("DS",), Choice(choices=AGGREGATOR_NAMES),
                       help="aggregators also run per type: after the spectral partition (real and simulated) and "
                            "with the true types (simulated: the oracle)"),
        # real crowds
        crowd_dir=Path(None, exists="dir", help="a crowd folder (answers.csv [+ truth.csv]) or a folder of them; "
                                                "None = the bundled sp"),
        duplicates=Choice("keep", DUPLICATE_RULES,
                          help="repeated (task, worker) answers: keep every row as a vote (crowd-kit's rule), the "
                               "first or the last row, or refuse the crowd"),
        labels=Tuple(None, Int(), help="the crowds' label set, if declared (rare labels inside it are accepted, "
                                       "labels outside it refused); None = undeclared"),
        real_aggregators=Tuple(AGGREGATOR_NAMES, Choice(choices=AGGREGATOR_NAMES),
                               help="aggregators scored on the real crowds' gold labels (TE, SML: binary crowds)"),
        # simulated two-type crowds
        sim_variants=Tuple(VARIANTS, Choice(choices=VARIANTS),
                           help="easy_hard (v1), distinct_skills (v2), same_skills (control: types do not matter)"),
        sim_tasks=Tuple((500, 5000, 50000), Int(minimum=20), increasing=True, help="crowd sizes d (tasks)"),
        sim_worker_ratios=Tuple((1.0, 2.0, 4.0), Float(minimum=0, open_minimum=True), increasing=True,
                                help="ρ = n_workers / ln d; n = max(3, round(ρ ln d))"),
        sim_answers_per_task=Int(None, minimum=1, help="answers per task; None = every worker answers every task "
                                                       "(the paper's model)"),
        sim_beta=Float(0.5, minimum=0, maximum=1, open_minimum=True, open_maximum=True,
                       help="share of type-0 tasks (exactly round(β d) of them)"),
        sim_seeds=Int(8, minimum=2, help="crowds per (variant, d, ρ); gaps are paired by crowd"),
        sim_aggregators=Tuple(("MV", "DS"), Choice(choices=AGGREGATOR_NAMES),
                              help="aggregators run on all tasks (pooled)"),
        # the bridge: digits students trained on crowd labels
        bridge_variant=Choice("distinct_skills", VARIANTS, help="worker skills by digit type (type 1 = digits 1, 4, "
                                                                "7, 9)"),
        bridge_workers=Int(20, minimum=3, help="workers labelling the training images"),
        bridge_answers_per_task=Int(None, minimum=1, help="answers per training image; None = every worker"),
        bridge_aggregator=Choice("DS", tuple(a for a in AGGREGATOR_NAMES if a != "MV"),
                                 help="its posteriors are the soft targets, pooled and per type (MV is always a "
                                      "target)"),
        select_seeds=Int(5, minimum=1, help="seeds (crowd and student init) that choose (lr, steps) per target on "
                                            "validation accuracy"),
        report_seeds=Int(5, minimum=2, help="the next seeds, whose test accuracy is reported"),
        student_widths=Tuple((8,), Int(minimum=2, even=True), increasing=True, help="student widths m (symmetric "
                                                                                    "init: even)"),
        lr=Tuple((8.0, 32.0), Float(minimum=0, open_minimum=True), increasing=True, help="learning rates"),
        steps=Tuple((100, 300, 1000), Int(minimum=1), increasing=True, help="checkpoints of one trajectory"),
        test_fraction=Float(0.2, minimum=0, maximum=1, open_minimum=True, open_maximum=True,
                            help="the digits' test share"),
        val_fraction=Float(0.2, minimum=0, maximum=1, open_minimum=True, open_maximum=True,
                           help="share of the training images held out for validation (gold labels)"),
        alpha=Float(0.05, minimum=0, maximum=1, open_minimum=True, open_maximum=True,
                    help="family-wise level of the Holm-corrected tests"),
        engine=engine_section(),
    ),
    presets={
        "tiny": {"real_aggregators": ("MV", "DS"), "sim_variants": ("easy_hard", "same_skills"),
                 "sim_tasks": (100, 1000), "sim_worker_ratios": (4.0,), "sim_seeds": 2,
                 "bridge_workers": 6, "select_seeds": 2, "report_seeds": 2, "student_widths": (4,),
                 "lr": (8.0,), "steps": (10, 30), "engine.progress": False},
        "paper": {"crowd_dir": SHARED_CROWDS, "per_type": ("DS", "TE"),
                  "sim_tasks": (500, 2000, 10000, 50000), "sim_worker_ratios": (1.0, 2.0, 4.0, 8.0), "sim_seeds": 20,
                  "sim_aggregators": ("MV", "DS", "OneCoinDS", "GLAD", "TE"),
                  "select_seeds": 5, "report_seeds": 10},
        "shared": {"crowd_dir": SHARED_CROWDS, "parts": ("real",)},
    },
    rules=[_method_runs, _bridge, _crowds_found, check_executor_installed],
)


def get_config(preset: str = ""):
    return SCHEMA.config(preset)
