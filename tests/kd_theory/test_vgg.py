"""The VGG-style networks of the deep experiment: layer counts, the pooling rule's feature maps, refusals."""
import jax
import jax.numpy as jnp
import pytest

from kd_theory import vgg

TINY_CHANNELS = {"VGG 8+3": (2, 3, 3, 3, 4, 4, 4, 4), "VGG 2+3": (2, 3)}


# --- models -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset, size, maps", [
    ("VGG 8+3", 8, [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]),      # digits: 3 pools, then 1×1 maps
    ("VGG 8+3", 28, [(14, 14), (7, 7), (3, 3), (1, 1), (1, 1)]),   # MNIST: floor(7/2) = 3
    ("VGG 8+3", 32, [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]),   # CIFAR: 5 pools, as VGG-11
    ("VGG 2+3", 8, [(4, 4), (2, 2)]),
    ("VGG 2+3", 32, [(16, 16), (8, 8)]),
])
def test_vgg_layers_and_feature_maps_follow_the_pooling_rule(preset, size, maps):
    assert vgg.feature_map_sizes(vgg.PRESETS[preset], size, size) == maps
    channels = TINY_CHANNELS[preset]
    model = vgg.make_vgg(preset, channels, (5, 6))
    x = jnp.ones((3, size, size, 1 if size != 32 else 3))
    params = model.init(jax.random.PRNGKey(0), x)["params"]
    assert model.apply({"params": params}, x).shape == (3,)
    convs = [params[f"Conv_{i}"]["kernel"].shape for i in range(len(channels))]
    assert [c[-1] for c in convs] == list(channels) and all(c[:2] == (3, 3) for c in convs)
    assert f"Conv_{len(channels)}" not in params
    # the first dense layer sees the last feature map flattened: the module pools exactly as the rule says
    h, w = maps[-1]
    assert params["Dense_0"]["kernel"].shape == (h * w * channels[-1], 5)
    assert params["Dense_1"]["kernel"].shape == (5, 6) and params["Dense_2"]["kernel"].shape == (6, 1)
    assert "Dense_3" not in params


def test_vgg_refuses_wrong_layer_counts():
    with pytest.raises(ValueError, match="VGG 8\\+3 needs 8 positive conv channel counts"):
        vgg.make_vgg("VGG 8+3", (4, 4), (5, 5))
    with pytest.raises(ValueError, match="2 positive hidden dense widths"):
        vgg.make_vgg("VGG 2+3", (4, 4), (5,))
    with pytest.raises(ValueError, match="unknown VGG preset 'VGG 3\\+3'"):
        vgg.make_vgg("VGG 3+3", (4, 4, 4), (5, 5))
    with pytest.raises(ValueError, match="shape \\(n, H, W, C\\)"):
        vgg.make_vgg("VGG 2+3", (4, 4), (5, 5)).init(jax.random.PRNGKey(0), jnp.ones((2, 8, 8)))
