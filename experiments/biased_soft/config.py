"""Learning from biased soft labels (Yuan et al., NeurIPS 2023; papers.md §2) on the 10-class 8×8 digits.

    python -m experiments.run --experiment=biased_soft --out=runs/biased_soft

Soft-label sets for the training images, each from a generator with a knob that moves the
unreliability Δ and the ambiguity γ: the true labels (one-hot, the reference), label smoothing ε,
additive Gaussian noise σ, partial labels (candidate set of s labels, false-negative rate q,
distractor rate r), a trained teacher at temperature T, the same teacher stopped after a few steps,
and skillful-but-bad teachers (SBT: cross-entropy plus the three SBT terms, weights α). Multiclass
two-layer students (``student_width`` neurons, hidden layer trained by GD through the sweep engine)
learn from each set with the cross-entropy against the soft label vector. (lr, steps) are chosen per
set on the validation accuracy of seeds 0..select_seeds−1; the test accuracy of the next
report_seeds seeds is reported, with the paired gap to the true-label student. Writes
biased_soft.md, biased_soft.png (student accuracy vs Δ̂ + γ̂), delta_gamma.png (the (Δ, γ) plane),
runs.csv, results.json, config.json. 23 sets × 2 lr × 7 seeds = 322 students in one engine chunk:
measured 8.5 min wall (4.1 min of CPU) on 2 CPU cores shared with other jobs (load average ≈ 8).

Expected (measured, README): accuracy falls steadily with Δ̂ + γ̂ at each set's own k (Spearman ≈ −0.9);
at this sample size (1,149 training images) only label smoothing and a saturated teacher stay within
5 points of the true-label student (≈ 96%); the SBT teacher with top-1 ≈ 11% teaches ≈ 79%.
"""
from ml_collections import config_dict

from experiments import common


def get_config():
    c = config_dict.ConfigDict()
    c.seed = 0                    # teachers (stream "teacher"), label noise (stream "labels"), student inits
    c.split_seed = 0              # the stratified train / validation / test split of the digits
    c.test_fraction = 0.2
    c.val_fraction = 0.2          # share of the training images held out to choose (lr, steps)
    c.center = True               # subtract the training mean before normalising to the unit sphere
    c.select_seeds = 2            # seeds 0..select_seeds−1 choose (lr, steps) per soft-label set
    c.report_seeds = 5            # the next report_seeds seeds (fresh inits) give the reported test accuracy
    # students: two-layer ReLU, symmetric init, hidden layer trained by full-batch GD (no projection)
    c.student_width = 32
    c.lr = (2.0, 32.0)            # chosen per soft-label set on validation accuracy
    c.steps = (30, 100, 300, 1000)  # checkpoints of one trajectory (nearly free), chosen likewise
    # indicators: Δ̂, γ̂ at k (k = 1: 1 − Δ̂ is the top-1 accuracy) and at k_paper (the SBT's k;
    # partial labels use their candidate size); each set is also judged at its own k (see README)
    c.k = 1
    c.k_paper = 3
    # generators (each value is one soft-label set)
    c.smoothing = (0.2, 0.8)                  # label smoothing ε
    c.noise_sigmas = (0.5, 1.0, 2.0, 4.0)     # additive Gaussian noise σ on one-hot labels
    c.partial_size = 3                        # candidate-set size s of the partial labels
    c.partial_false_negative = (0.0, 0.3, 0.6)  # q: the true label left out of the candidates
    c.partial_distractor = (0.2, 0.5, 0.9)    # r: the class's distractor put in (grid q × r)
    c.teacher_width = 512
    c.teacher_steps = 1000        # Adam, full batch, cross-entropy on the training labels
    c.teacher_lr = 0.01
    c.temperatures = (1.0, 4.0)               # softmax(f/T) of the trained teacher
    c.early_steps = (1, 4)        # the same teacher's trajectory stopped after these Adam steps (T = 1)
    c.sbt_k = 3                   # SBT: keep the true label in the top-k, push k − 1 random wrong labels up
    c.sbt_alphas = ((1.0, 1.0, 4.0), (2.0, 2.0, 4.0), (2.0, 2.0, 1.0))   # (α1, α2, α3) per SBT teacher
    c.sbt_steps = 1000
    c.sbt_temperature = 1.0       # soft labels softmax(f/T) of the SBT teachers
    # verdict
    c.close_points = 5.0          # "close to the true-label student": paired 95% interval above −X points
    c.condition_band = 0.1        # sets with |Δ̂ + γ̂ − 1| < band are shown but not judged
    c.headline_top1 = 0.3         # the headline's teacher: top-1 accuracy below this
    c.alpha = 0.05                # family-wise level of the Holm-corrected paired tests over the sets
    return common.engine_keys(c)     # dtype, memory_budget_gb, executor, slurm_*, progress
