"""VGG-style convolutional networks (flax) for the deep soft- vs hard-label experiment.

    f(x) = Dense_1 ∘ ReLU ∘ Dense_{h_k} ∘ … ∘ ReLU ∘ Dense_{h_1} ∘ flatten ∘ B_L ∘ … ∘ B_1 (x),
    B_b   = [maxpool_2×2 if the spatial size allows] ∘ (ReLU ∘ Conv3×3)^{s_b}

x is an image batch (n, H, W, C); f is one logit per image, shape (n,), the binary task's score
(class +1 iff f > 0). A network is given by its conv channels (one per 3×3 conv layer, in order),
its block sizes (how many convs each block has; they sum to the number of conv layers) and its
hidden dense widths (the final 1-unit dense layer is always added).

Pooling rule (ours; the paper gives no shapes): a 2×2, stride-2 max pool closes a block **only
while the spatial size is at least 2** in both directions, so a deep network on small images keeps
its conv layers and simply stops pooling. The preset "VGG 8+3" (VGG-11's layout: blocks of
1, 1, 2, 2, 2 convs) pools 5 times at 32×32 (CIFAR: 32→16→8→4→2→1), 4 times at 28×28 (MNIST,
floor: 28→14→7→3→1) and 3 times at 8×8 (digits: 8→4→2→1; blocks 4-5 then see 1×1 maps, where a
'SAME' 3×3 conv acts as a dense layer on the channels). "VGG 2+3" (blocks of 1, 1) pools twice.
No batch norm, no dropout (the paper names neither). Kernels start He-normal (variance 2/fan-in,
which keeps the activation scale through ReLU layers; flax's LeCun default halves it per layer,
and an 11-layer teacher then often sat at chance for its first epochs), biases at zero. The trainer
draws that same initialisation from one random draw (:func:`kd_theory.deep_train.init_params`),
which compiles far faster on CPU than flax's one key per parameter.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

# name -> block sizes of the conv part; every preset has 3 dense layers (2 hidden + the output)
PRESETS = {"VGG 8+3": (1, 1, 2, 2, 2), "VGG 2+3": (1, 1)}
DENSE_LAYERS = 3
HE_NORMAL = nn.initializers.he_normal()


def pooled_size(size: int) -> int:
    """The spatial size after one block: ⌊size/2⌋ if size ≥ 2 (a pool fits), else size."""
    return size // 2 if size >= 2 else size


def feature_map_sizes(block_sizes: Sequence[int], height: int, width: int) -> list[tuple[int, int]]:
    """(H, W) after each block under the pooling rule, e.g. [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]
    for VGG 8+3 at 8×8."""
    sizes = []
    for _ in block_sizes:
        height, width = (pooled_size(height), pooled_size(width)) if min(height, width) >= 2 else (height, width)
        sizes.append((height, width))
    return sizes


class VGG(nn.Module):
    """Blocks of (3×3 conv + ReLU) × s_b, each closed by a 2×2 max pool while the map is ≥ 2×2;
    flatten; hidden dense layers with ReLU; one output logit."""
    conv_channels: Sequence[int]
    block_sizes: Sequence[int]
    dense_features: Sequence[int]

    @nn.compact
    def __call__(self, x):
        if x.ndim != 4:
            raise ValueError(f"VGG expects images of shape (n, H, W, C); got shape {x.shape}")
        channels = iter(self.conv_channels)
        for size in self.block_sizes:
            for _ in range(size):
                x = nn.relu(nn.Conv(next(channels), (3, 3), padding="SAME", kernel_init=HE_NORMAL)(x))
            if min(x.shape[1], x.shape[2]) >= 2:  # static shapes: decided once, at trace time
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        for features in self.dense_features:
            x = nn.relu(nn.Dense(features, kernel_init=HE_NORMAL)(x))
        return jnp.squeeze(nn.Dense(1)(x), -1)


def make_vgg(preset: str, conv_channels: Sequence[int], dense_features: Sequence[int]) -> VGG:
    """A preset's layout ("VGG 8+3" or "VGG 2+3") with the given widths: one channel count per conv
    layer (8 or 2 of them) and DENSE_LAYERS − 1 = 2 hidden dense widths."""
    if preset not in PRESETS:
        raise ValueError(f"unknown VGG preset {preset!r}; known: {', '.join(PRESETS)}")
    blocks = PRESETS[preset]
    conv_channels, dense_features = tuple(int(c) for c in conv_channels), tuple(int(h) for h in dense_features)
    if len(conv_channels) != sum(blocks) or min(conv_channels, default=0) <= 0:
        raise ValueError(f"{preset} needs {sum(blocks)} positive conv channel counts; got {conv_channels}")
    if len(dense_features) != DENSE_LAYERS - 1 or min(dense_features, default=0) <= 0:
        raise ValueError(f"{preset} needs {DENSE_LAYERS - 1} positive hidden dense widths (the output layer "
                         f"is added); got {dense_features}")
    return VGG(conv_channels, blocks, dense_features)
