"""Neuron scaling of soft vs hard labels (issue 9): m*(γ, ε) on families with a measured margin.

    python -m experiments.run --experiment=scaling --out=runs/scaling               # 2 CPU cores
    python -m experiments.run --experiment=scaling --out=runs/scaling-full --config.preset=full   # GPU

Part A (training error, the theorems' quantity): noisy 2-XOR over its whole support for each d,
linearly separable data with a set margin ḡ, and the digits tasks (a training subset). γ_K is
measured with the certified estimator for ``margin_gate_seeds`` draws of K gates. Labels: hard,
soft from the kernel-limit teacher p = σ(s·z) for each scale s, soft from a trained wide teacher
σ(f/T). Regimes: "theorem" (Corollary 4 / Proposition 5 via kd_theory.bounds, steps capped at
``theorem_max_steps``), "equal" (the same B, η, T for every label) and "plain_gd" (no projection).
m*(γ, ε) = the smallest grid width at which ``success_fraction`` of the seeds reach an iteration-
averaged training error ≤ ε; bootstrap interval over seeds; slopes in 1/γ and 1/ε.

Part B (the paper's question on real data): on the digits tasks the smallest width at which hard and
soft students reach ``accuracy_targets`` × the teacher's test accuracy, each at its own regime chosen on
validation data (the Table-1 protocol, reused from experiments/table1).

``preset`` = "default" (sized for 2 shared CPU cores, < 15 min) or "full" (more d, margins, ε,
widths to 1024, longer training: sized for a GPU). Keys set on the command line override the preset.
"""
from ml_collections import config_dict

from experiments import common

# The widths of both parts: 16 even widths, about geometric from 2 to 256 (ratio ≈ 1.4 above 14).
DEFAULT_WIDTHS = (2, 4, 6, 8, 10, 12, 14, 20, 26, 36, 50, 70, 98, 134, 186, 256)
FULL_WIDTHS = DEFAULT_WIDTHS + (360, 512, 720, 1024)


def get_config():
    c = config_dict.ConfigDict()
    c.preset = "default"          # "default" (2 CPU cores) or "full" (GPU); see PRESETS
    c.seed = 0                    # base seed: teachers, gates, student inits fold_in(seed, s)
    c.seeds = 8                   # student seeds 0..seeds−1 of part A
    c.success_fraction = 0.75     # m* = smallest width where this share of seeds reach ε
    c.bootstrap = 1000            # bootstrap resamples of seeds (m* and slope intervals)
    c.level = 0.95                # interval level
    c.widths = DEFAULT_WIDTHS
    # --- data families ---
    c.xor_dims = (4, 5, 6, 7, 8)          # noisy 2-XOR, whole support (4·2^(d−2) points)
    c.separable_dim = 5
    c.separable_margins = (0.1, 0.3)      # ḡ: y⟨u, x⟩ ≥ ḡ, so γ ≥ ḡ/2
    c.separable_n = 128
    c.digits_variants = ("full", "reduced")
    c.digits_train_size = 128             # part A trains on this many digits training images (0 = all)
    # --- margin ---
    c.margin_gates = 2048                 # K gates per γ_K estimate
    c.margin_gate_seeds = 3               # independent draws of K gates (the spread of γ_K)
    c.margin_tol = 1e-3
    c.margin_max_iters = 5000
    # --- labels ---
    c.kernel_scales = (1.0, 8.0)          # s in p = σ(s·z) of the kernel-limit teacher
    c.headline_scale = 8.0                # the s whose soft labels are "soft" in the headline slopes
    c.teacher_width = 512                 # wide trained teacher (parts A and B)
    c.teacher_steps = 1000
    c.teacher_lr = 0.01
    c.teacher_temperature = 4.0           # part A soft labels σ(f/T) of the wide teacher
    # --- targets and regimes (part A) ---
    c.epsilons = (0.2, 0.1, 0.05)         # targets on the iteration-averaged training error
    c.equal_lr = 4.0                      # "equal" and "plain_gd": the same η, B, T for every label
    c.equal_B = 1.0
    c.equal_steps = 500
    c.theorem_max_steps = 500             # the cap on the theorems' T (reported with the shortfall)
    c.theorem_hard_lr = 1.0               # Proposition 5's η (≤ 1)
    c.corollary4_reading = "printed"      # "printed": η = γ²ε/3, T = 9/(γ⁴ε²); "theorem2": Theorem 2 at
                                          # β = γ²ε/32, η = γ²ε/96, T = 9216/(γ⁴ε²)
    c.theory_delta = 0.01                 # δ of the theorems' widths (c = 1: inputs on the unit sphere)
    c.headline_regime = "equal"           # the regime of results.json's "slopes"
    # --- part B: digits test accuracy at each label's own validation-chosen regime ---
    c.accuracy = config_dict.ConfigDict()
    a = c.accuracy
    a.enabled = True
    a.datasets = ("full", "reduced")
    a.data_dir = ""
    a.mnist_val_size = 10000
    a.test_fraction = 0.2
    a.val_fraction = 0.2
    a.split_seed = 0
    a.center = True
    a.select_subset = 0
    a.select_seeds = 2
    a.report_seeds = 8
    a.student_widths = DEFAULT_WIDTHS
    a.lr = (8.0,)
    a.B = (0.0, 4.0)                      # 0 = plain GD
    a.temperature = (4.0,)
    a.steps = (100, 300)
    a.targets = (0.90, 0.95)              # shares of the teacher's test accuracy
    a.seed = 0
    a.teacher = "network"
    a.teacher_width = 512
    a.teacher_steps = 2000
    a.teacher_lr = 0.01
    a.teacher_optimizer = "adam"
    a.teacher_batch_size = 0
    a.kernel_teacher_gates = 4096
    # --- engine ---
    c.init = "symmetric"
    return common.engine_keys(c)     # dtype, memory_budget_gb, executor, slurm_*, progress


# What the "full" preset changes (applied before command-line overrides win; see experiments.scaling.resolve).
PRESETS = {
    "default": {},
    "full": {
        "seeds": 16, "widths": FULL_WIDTHS, "xor_dims": (4, 5, 6, 7, 8, 9, 10),
        "separable_margins": (0.05, 0.1, 0.2, 0.3, 0.4), "separable_n": 512, "digits_train_size": 0,
        "margin_gates": 4096, "margin_gate_seeds": 5, "kernel_scales": (1.0, 4.0, 8.0, 16.0),
        "epsilons": (0.2, 0.1, 0.05, 0.02, 0.01), "equal_steps": 4000, "theorem_max_steps": 4000,
        "accuracy.report_seeds": 16, "accuracy.select_seeds": 5, "accuracy.student_widths": DEFAULT_WIDTHS,
        "accuracy.lr": (2.0, 8.0, 32.0), "accuracy.B": (0.0, 1.0, 4.0, 16.0), "accuracy.temperature": (2.0, 4.0, 16.0),
        "accuracy.steps": (100, 300, 1000, 3000),
    },
}
