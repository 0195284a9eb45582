"""Certified NTK margin γ_K of the Table-1 data sets and of noisy 2-XOR over d.

    python -m experiments.run --experiment=margin --out=/tmp/margin_out

About 2 minutes on 2 CPU cores. Writes results.json ({"experiment": "margin", "rows": [...], "summary":
{...}}), runs.csv (one line per certified solve), margin.md (the tables) and margin.png (noisy-XOR γ vs
d on log axes with a 1/d line; the digits' γ_K draws beside the fresh-gate upper estimate) and config.json.
Re-render margin.md / margin.png from results.json alone: ``experiments.margin.render.render(results, out)``.
"""
import ml_collections


def get_config():
    config = ml_collections.ConfigDict()
    config.seed = 0                    # root PRNG seed; keys per (data set, named stream, index) fold in from it
    config.num_gates = 4096            # K: Monte-Carlo gates of one certified solve (digits)
    config.xor_num_gates = 2048        # K for the certified XOR solves
    config.gate_seeds = 3              # independent draws of the K gates per data set (γ_K's spread)
    config.tol = 1e-3                  # stop when upper − lower ≤ tol · upper
    config.max_iters = 5000
    config.fresh_gates = 32768         # K' fresh gates for F(q̂) ≥ γ (and XOR's uniform-q estimate of γ)
    config.vstar_fresh_gates = 8192    # fresh gates of the v* = g/‖g‖ primal check (0 = skip)
    config.digits_variants = ("full", "reduced")  # Table-1 data sets (() = none)
    config.digits_split_seed = 0
    config.xor_dims = (3, 4, 5, 6, 7, 8, 9, 10)  # noisy 2-XOR over its whole support (4·2^(d−2) points)
    config.svm = True                  # also the SVM bound γ₂ of the closed-form kernel
    return config
