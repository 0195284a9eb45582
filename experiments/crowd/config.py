"""Crowdsourced labels (Kong, Mandal et al.): aggregators on real crowds, simulated two-type crowds, and
students trained on crowd posteriors.

    python -m experiments.run --experiment=crowd --out=runs/crowd

Default (``preset="bundled"``, offline): the ``sp`` crowd shipped in the package (Apache-2.0), the
simulated two-type grid and the digits bridge. All six real crowds of the project's shared data:

    python -m experiments.run --experiment=crowd --out=runs/crowd-all --config.preset=shared

or any folder of crowds with ``--config.crowd_dir=PATH`` (a folder with answers.csv [+ truth.csv], or a
folder of such folders). Writes crowd_real.md/.png, crowd_simulated.md/.png, crowd_bridge.md/.png, runs.csv,
results.json, config.json. Measured (shared 2-core machine at load 7.5-8.5): default 7.5-8.7 min wall, 3.6 min CPU,
most of it compiling the aggregators for each new crowd size; the all-six real part alone 10 min wall.
"""
from ml_collections import config_dict

from experiments import common

# preset -> the crowd folder it reads ("" = the crowds bundled inside kd_theory/crowd/datasets)
PRESETS = {"bundled": "", "shared": "../shared/data/crowd"}


def get_config():
    c = config_dict.ConfigDict()
    c.preset = "bundled"          # "bundled": sp shipped in the package; "shared": every crowd in ../shared/data/crowd
    c.crowd_dir = ""              # a crowd folder or a folder of crowd folders; "" = the preset's
    c.parts = ("real", "simulated", "bridge")   # which parts run
    # 1. real crowds: every aggregator plain and after the spectral task-type partition (computed once per crowd)
    c.real_aggregators = ("MV", "Wawa", "DS", "OneCoinDS", "GLAD", "TE", "SML")
    c.partition_seed = 0          # start vectors of the partition's subspace iteration
    # 2. simulated two-type crowds over n_workers / ln(n_tasks)
    c.sim_variants = ("easy_hard", "distinct_skills")
    c.sim_tasks = 500
    c.sim_worker_ratios = (1.0, 2.0, 4.0, 8.0)   # n_workers = max(3, round(ratio · ln sim_tasks)): 6, 12, 25, 50
    c.sim_answers_per_task = 0    # 0: every worker answers every task (dense); else that many per task
    c.sim_beta = 0.5              # P(type 0)
    c.sim_seeds = 5
    # MV, DS and the paper's per-type TE by default: every new crowd size costs a compilation (1-3 s per
    # aggregator on 2 shared cores, more than the EM itself); add OneCoinDS, SML, Wawa, GLAD at will
    c.sim_aggregators = ("MV", "DS", "TE")
    c.sim_seed = 0                # crowd of (variant, ratio, seed s): fold_in(fold_in(PRNGKey(sim_seed), ...), s)
    # 3. the bridge: students on the digits trained on aggregated crowd labels
    c.bridge_variant = "distinct_skills"   # worker skills by digit type (see experiments/crowd/bridge.py)
    c.bridge_workers = 20
    c.bridge_answers_per_task = 0  # 0: every worker labels every training image
    c.bridge_aggregator = "DS"    # its posteriors are the soft labels, plain and after the partition
    c.crowd_seed = 0              # the crowd of seed s: fold_in(PRNGKey(crowd_seed), s)
    c.seed = 0                    # student inits: fold_in(PRNGKey(seed), s)
    c.select_seeds = 5            # seeds 0..S−1 choose (lr, steps) per target on validation accuracy
    c.report_seeds = 5            # seeds S..S+R−1 report test accuracy at the chosen (lr, steps)
    c.student_widths = (8,)
    c.lr = (8.0, 32.0)
    c.steps = (100, 300, 1000)    # checkpoints of one trajectory
    c.test_fraction = 0.2
    c.val_fraction = 0.2
    c.split_seed = 0
    c.alpha = 0.05                # family-wise level of the Holm-corrected paired tests
    return common.engine_keys(c, progress=False)  # dtype, memory_budget_gb, executor, slurm_*, progress
