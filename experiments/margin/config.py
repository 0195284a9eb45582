"""The NTK margin γ: certified γ_K of the Table-1 digits tasks and of noisy 2-XOR, and γ of noisy 2-XOR to d = 1,000.

    python -m experiments.run --experiment=margin --out=runs/margin                  # default: 2 min of CPU
    python -m experiments.run --experiment=margin --preset=tiny --out=runs/margin-t  # 11 s of CPU, the tests' size
    python -m experiments.run --experiment=margin --preset=paper --out=runs/margin-p # larger K, d to 2,000

default: for the digits tasks (the training images of Table 1's default split) and noisy 2-XOR over its
whole support, d = 3 … 10: the certified interval of γ_K for ``gate_draws`` draws of K gates, the
fresh-gate estimate of F(q̂) ≥ γ, the SVM bound γ₂ ≥ γ (kd_theory.margin). For noisy 2-XOR to large d
(kd_theory.xor_margin, the uniform q is optimal by symmetry): γ₂ exactly and γ by Monte Carlo over gates,
d = 3 … 1,000, and the exponent of γ against d over d ≥ ``gamma.fit_from`` with its leading finite-size
corrections. Writes margin.md (the verdicts, the tables), margin.png (γ·d and γ₂·d against d beside
γ_K; the digits' γ_K draws), runs.csv (one line per certified solve), gamma.csv (one line per d),
results.json, config.json.

paper: K = 16,384 / 8,192 gates and 5 draws for the certified solves, noisy 2-XOR certified to d = 12, γ to
d = 2,000 with 4× the gates and the lattice model's resolution checked.

Expected (measured on the default run): γ·d → 1/4 and γ₂·d → 1/(2√π) from above; a plain log-log line over
d = 50 … 1,000 reads −1.004 [−1.006, −1.002], the local slope of the approach, while the exponent with two
finite-size terms, weighted by each γ's error, is −0.9997 [−1.0001, −0.9993] (χ²_red 0.8): consistent.
"""
from experiments.common.schema import Bool, Choice, Float, Int, Schema, Section, Tuple, check
from kd_theory.data import DIGIT_VARIANTS

MAX_XOR_SUPPORT_DIM = 12   # the certified solve sees all 4·2^(d−2) points: 1,024 at d = 10, 4,096 at d = 12
GAMMA_DIMS = (3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000)


def fit_parameters(config) -> int:
    """Parameters of the exponent's fit: intercept, slope and ``gamma.corrections`` terms c_k/d^k."""
    return 2 + config.gamma.corrections


def _enough_dims_to_fit(config):
    """The exponent and its interval need parameters + 1 distinct d ≥ fit_from (γ and γ₂ alike)."""
    need = fit_parameters(config) + 1
    for key in ("dims", "svm_dims"):
        dims = tuple(config.gamma[key])
        fitted = [d for d in dims if d >= config.gamma.fit_from]
        check(len(fitted) >= need, f"gamma.{key}", dims,
              f"at least {need} distinct dimensions ≥ gamma.fit_from = {config.gamma.fit_from} (found "
              f"{len(fitted)}): the fitted exponent has {fit_parameters(config)} parameters (intercept, slope, "
              f"gamma.corrections = {config.gamma.corrections} terms c_k/d^k) and its 95% interval needs one more "
              "point; add dimensions, lower gamma.fit_from or gamma.corrections")


SCHEMA = Schema(
    fields=dict(
        seed=Int(0, minimum=0, help="root of every named random stream (kd_theory.rng): the digits split, and the "
                                    "gates stream (certified solves, fresh gates, the Monte Carlo of γ)"),
        progress=Bool(True, help="progress bars with elapsed time and time left on stderr"),
        digits_variants=Tuple(("full", "reduced"), Choice(choices=DIGIT_VARIANTS), min_length=0,
                              help="Table-1 data sets whose training images get a certified γ_K (() = none)"),
        test_fraction=Float(0.2, minimum=0, maximum=1, open_minimum=True, open_maximum=True,
                            help="digits: the test share (as Table 1's default, so the images are its training set)"),
        val_fraction=Float(0.2, minimum=0, maximum=1, open_maximum=True,
                           help="digits: the share of the training images held out for validation (as Table 1)"),
        xor_dims=Tuple((3, 4, 5, 6, 7, 8, 9, 10), Int(minimum=3, maximum=MAX_XOR_SUPPORT_DIM), min_length=0,
                       increasing=True, help="noisy 2-XOR over its whole support (4·2^(d−2) points): certified γ_K; "
                                             "() = none"),
        num_gates=Int(4096, minimum=1, help="K: Monte-Carlo gates of one certified solve (digits)"),
        xor_num_gates=Int(2048, minimum=1, help="K of the certified noisy 2-XOR solves"),
        gate_draws=Int(3, minimum=2, help="independent draws of the K gates per data set: γ_K's spread (two or "
                                          "more: a spread needs two)"),
        tol=Float(1e-3, minimum=0, maximum=1, open_minimum=True, open_maximum=True,
                  help="certified solves stop when upper − lower ≤ tol · upper"),
        max_iters=Int(5000, minimum=1, help="iterations of a certified solve at most"),
        fresh_gates=Int(32768, minimum=2, help="K' fresh gates of F(q̂) ≥ γ (and of noisy 2-XOR's brute-force "
                                               "uniform-q estimate of γ)"),
        vstar=Bool(True, help="also check the primal v* = g_q̂/‖g_q̂‖ on fresh gates (min of its margins)"),
        vstar_fresh_gates=Int(8192, minimum=1, help="fresh gates of the v* check"),
        svm=Bool(True, help="also the SVM bound γ₂ ≥ γ of the closed-form kernel, per certified data set"),
        gamma=Section(
            help="noisy 2-XOR to large d by its symmetries (kd_theory.xor_margin): γ₂ exactly, γ by Monte Carlo",
            dims=Tuple(GAMMA_DIMS, Int(minimum=3, maximum=10_000), increasing=True,
                       help="d of the Monte-Carlo γ (a gate costs ~0.2 ms for d ≤ 12, ~0.5 s at d = 1,000)"),
            svm_dims=Tuple(GAMMA_DIMS, Int(minimum=3, maximum=1_000_000), increasing=True,
                           help="d of the exact γ₂ (O(d) terms: milliseconds)"),
            gates_exact=Int(10000, minimum=4, help="gates per d where ‖g(z)‖ is exact (d ≤ 24): cheap, and the "
                                                   "control variates help little there"),
            gates_lattice=Int(64, minimum=4, help="gates per d beyond (the lattice model): each costs more, and the "
                                                  "control variates cut the spread 80-500×"),
            fit_from=Int(50, minimum=3, help="the exponent of γ (and of γ₂) is fitted over d ≥ this"),
            corrections=Int(2, minimum=0, maximum=3,
                            help="finite-size terms c_k/d^k (k ≤ this) in the fit of log γ: the exponent is the "
                                 "asymptotic one; 0 = a plain log-log line (the local slope)"),
            resolution_check=Int(None, minimum=2, help="recompute this many gates per lattice d at twice the "
                                                       "lattice resolution and report the change; None = skip"),
        ),
    ),
    presets={
        "tiny": {"digits_variants": ("reduced",), "xor_dims": (3, 4), "num_gates": 256, "xor_num_gates": 256,
                 "gate_draws": 2, "fresh_gates": 1024, "vstar": False, "progress": False,
                 "gamma.dims": (3, 4, 5, 50, 100, 200, 500), "gamma.svm_dims": (3, 4, 5, 50, 100, 200, 500, 1000),
                 "gamma.gates_exact": 2000, "gamma.gates_lattice": 8, "gamma.corrections": 1},
        "paper": {"xor_dims": (3, 4, 5, 6, 7, 8, 9, 10, 11, 12), "num_gates": 16384, "xor_num_gates": 8192,
                  "gate_draws": 5, "fresh_gates": 131072, "vstar_fresh_gates": 32768,
                  "gamma.dims": GAMMA_DIMS + (1500, 2000), "gamma.svm_dims": GAMMA_DIMS + (2000, 5000, 10000),
                  "gamma.gates_exact": 40000, "gamma.gates_lattice": 128, "gamma.resolution_check": 16},
    },
    rules=[_enough_dims_to_fit],
)


def get_config(preset: str = ""):
    return SCHEMA.config(preset)
