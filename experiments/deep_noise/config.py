"""Figure 1 of Mandal, Lin & Srikant (2024): a deep teacher and soft- vs hard-label students as input noise grows.

    python -m experiments.run --experiment=deep_noise --out=runs/deep_noise

Default (``preset="digits"``): scikit-learn's bundled 8×8 digits, "digit > 4", split 80/10/10;
teacher VGG 8+3 and student VGG 2+3 (narrow widths, sized for 2 CPU cores); Gaussian noise of
variance 0.01 … 0.2 added to the [0, 1] pixels. Per noise level: teachers and students for
select_seeds + report_seeds seeds; the soft-label temperature is chosen on the validation accuracy
of the selection seeds, the test accuracy of the report seeds is reported. Writes deep_noise.md,
deep_noise.png, runs.csv, results.json, config.json.

Presets:
  --config.preset=mnist  (data_dir defaults to ../shared/data/mnist; 28×28; 1,000 images on CPU, all on a GPU)
  --config.preset=cifar --config.data_dir=/path/to/cifar-10-batches-py   (cat vs dog, 32×32; GPU)
Empty class tuples / max_examples=-1 take the preset's values (listed in PRESETS below).
"""
from ml_collections import config_dict

# preset -> (negative classes, positive classes, max_examples (on CPU, on an accelerator), default data_dir)
# MNIST on CPU: 1,000 images (800 to train) is already ≈ 2 h on 2 cores for the five levels (BUILD_NOTES,
# "MNIST on 2 CPU cores: the arithmetic"); on a GPU the whole set.
PRESETS = {
    "digits": ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9), (0, 0), ""),
    "mnist": ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9), (1000, 0), "../shared/data/mnist"),
    "cifar": ((3,), (5,), (0, 0), ""),   # cat (y = −1) vs dog (y = +1), as in the paper
}


def get_config():
    c = config_dict.ConfigDict()
    c.preset = "digits"           # "digits" | "mnist" | "cifar"
    c.data_dir = ""               # mnist: IDX files; cifar: the python batches (required); "" = preset default
    c.negative_classes = ()       # () = the preset's (y = −1)
    c.positive_classes = ()       # () = the preset's (y = +1)
    c.max_examples = -1           # stratified subsample of the two classes before the split; 0 = all, −1 = preset
    c.split = (0.8, 0.1, 0.1)     # train / validation / test shares (stratified by class)
    c.split_seed = 0
    c.noise_seed = 0              # the fixed per-example noise draw ξ (x̃ = x + √v ξ)
    c.noise_vars = (0.01, 0.03, 0.05, 0.1, 0.2)
    c.seed = 0                    # network inits and minibatch orders: fold_in(PRNGKey(seed), role, seed index)
    c.select_seeds = 2            # seeds 0..select_seeds−1 choose the temperature on validation accuracy
    c.report_seeds = 10           # the next report_seeds seeds give the reported test accuracy
    c.temperatures = (2.0, 4.0)   # soft labels σ(f_teacher/T); chosen per noise level
    # networks: one channel count per conv layer; 2 hidden dense widths (+ the 1-unit output layer)
    c.teacher_channels = (8, 16, 16, 16, 32, 32, 32, 32)   # VGG 8+3
    c.teacher_dense = (64, 64)
    c.student_channels = (8, 16)                            # VGG 2+3
    c.student_dense = (32, 32)
    # training (the paper: Adam with L2, early stopping patience 20, at most 100 epochs)
    c.learning_rate = 1e-3
    c.l2 = 1e-4                   # λ in (λ/2)‖kernels‖² added to the loss
    c.batch_size = 128
    c.max_epochs = 100
    c.patience = 20
    c.runs_per_vmap = -1          # runs vectorised together; −1 = 1 on CPU (measured faster), all on GPU; 0 = all
    c.unroll_epoch = -1           # minibatch loop unrolled; −1 = on CPU only (3-4× faster there), 0 = no, 1 = yes
    c.alpha = 0.05                # family-wise level of the Holm-corrected paired tests over noise levels
    return c
