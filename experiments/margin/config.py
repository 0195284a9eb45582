"""Certified NTK margin γ of the Table-1 data sets and of noisy 2-XOR over d.

    python -m experiments.run --experiment=margin --out=/tmp/margin_out

About 1-2 minutes on 2 CPU cores. Writes results.json ({"experiment": "margin", "rows": [...]}),
runs.csv, margin.md (the table) and margin.png (γ vs d on log axes with a 1/d line) and config.json.
Expected: γ(digits full) ≈ 0.035 < γ(digits reduced) ≈ 0.064; noisy 2-XOR γ·d ≈ 0.5 → 0.3 for
d = 3..10 (fitted log-log slope ≈ −1.4 over this range, flattening toward −1 as d grows).
"""
import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.seed = 0                    # PRNG seed of the gates (one key per data set, folded in)
    config.num_gates = 4096            # K: Monte-Carlo gates of the certified solver
    config.tol = 1e-3                  # stop when upper − lower ≤ tol · upper
    config.max_iters = 5000
    config.fresh_gates = 8192          # out-of-sample check of v* on fresh gates (0 = skip)
    config.digits_variants = ("full", "reduced")  # Table-1 data sets (() = none)
    config.digits_split_seed = 0
    config.xor_dims = (3, 4, 5, 6, 7, 8, 9, 10)  # noisy 2-XOR over its whole support (4·2^(d−2) points)
    config.xor_num_gates = 2048        # K for the certified XOR solves
    config.xor_symmetric_gates = 32768 # gates of the unbiased uniform-q estimate of the population γ
    config.svm = True                  # also the SVM bound γ₂ of the closed-form kernel
    return config
