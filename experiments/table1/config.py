"""Table 1 of Mandal, Lin & Srikant (2024): soft- vs hard-label students on "digit > 4".

    python -m experiments.run --experiment=table1 --out=runs/table1

Default: scikit-learn's bundled 8×8 digits (full and reduced), a 512-neuron teacher, students of
width 4, 6, 8, 10 seeds, and a regime grid (projection radius B × temperature × steps; the learning
rate is a grid axis too) in one compiled program: 960 runs, about 70 s on 2 CPU cores.
Expected: soft beats hard only where the projection binds and the teacher is softened; at the table
regime (B = 4, T = 16) by about 7 points at m = 4 on full and 5 on reduced; with plain GD
(B = none) or T ≤ 2 soft and hard students are within noise of each other. Writes table1.md (the paper's
layout, mean ± std over seeds, at the ``table_*`` regime, then soft − hard in every regime),
table1.png, regimes.png, runs.csv, results.json and config.json. With --config.data_dir=DIR the same
runs on real MNIST IDX files.
"""
from ml_collections import config_dict


def get_config():
    c = config_dict.ConfigDict()
    c.seed = 0                    # base seed: teacher init/training and student inits (fold_in(seed, s))
    c.seeds = 10                  # student seeds per grid point
    c.datasets = ("full", "reduced")
    c.data_dir = ""               # a directory with MNIST IDX files; empty: bundled 8×8 digits
    c.test_fraction = 0.2         # digits only (MNIST has its own split)
    c.split_seed = 0              # digits train/test split
    c.center = True               # subtract the training mean before normalising to the unit sphere
    c.student_widths = (4, 6, 8)
    c.init = "symmetric"          # or "standard" (Ji & Telgarsky)
    c.train_output_layer = False
    c.teacher = "network"         # "network": a wide trained net; "kernel": the NTK-limit teacher
                                  # (no temperature: use temperature=(1.0,), table_temperature=1.0)
    c.teacher_width = 512
    c.teacher_steps = 2000
    c.teacher_lr = 0.01
    c.teacher_optimizer = "adam"  # "adam" or "sgd"
    c.teacher_batch_size = 0      # 0: full batch
    c.kernel_teacher_gates = 4096  # Monte-Carlo gates of the kernel teacher
    # The regime grid, all in one program. B = 0 means no projection (plain GD).
    c.lr = (2.0,)
    c.B = (0.0, 1.0, 4.0, 16.0)
    c.temperature = (1.0, 4.0, 16.0)
    c.steps = (300, 1000, 3000)   # checkpoints of one trajectory
    # The regime shown in table1.md / table1.png (each value must be in the grid above).
    c.table_lr = 2.0
    c.table_B = 4.0
    c.table_temperature = 16.0
    c.table_steps = 3000
    c.dtype = "float32"
    c.memory_budget_gb = 0.0      # 0: half the device memory, or a quarter of RAM (≤ 8 GiB) on CPU
    c.executor = "local"          # "local", "submitit-local" or "slurm"
    c.slurm_partition = ""
    c.slurm_timeout_min = 60
    c.progress = True
    return c
