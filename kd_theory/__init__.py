"""kd-theory: soft- vs hard-label training of two-layer ReLU networks and their NTK limit, in JAX.

Modules, one concept each: ``nets`` (the network), ``losses``, ``train`` (projected GD, optax),
``teachers``, ``data``, ``ntk`` (kernels, kernel predictors), ``margin`` (the certified margin γ),
``xor_margin`` (noisy 2-XOR's γ and SVM bound γ₂ to large d),
``sweep`` (whole grids as compiled programs), ``results`` (files and environment stamps).
"""
__version__ = "0.1.0"
