"""Projected GD with an active projection, step by step, against a plain NumPy transcription of the
paper's algorithm (float64)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kd_theory import data, losses, nets, train


def _numpy_projected_gd(W0, a, X, t, lr, radius, steps):
    """W(t+1) = Π(W(t) − η ∇_W R), R = (1/n) Σ_i KL(t_i ‖ σ(f_i)), f = ReLU(X Wᵀ) a/√m; Π puts each row
    back into ‖W_j − W_j(0)‖ ≤ radius. Returns the iterates W(1..steps)."""
    m = W0.shape[0]
    W, out = W0.copy(), []
    for _ in range(steps):
        H = X @ W.T                                   # (n, m)
        f = np.maximum(H, 0) @ a / np.sqrt(m)
        r = 1 / (1 + np.exp(-f)) - t                  # dR/df_i · n
        grad = ((H > 0) * r[:, None] * (a / np.sqrt(m))[None, :]).T @ X / len(t)
        W = W - lr * grad
        delta = W - W0
        norm = np.linalg.norm(delta, axis=1, keepdims=True)
        W = W0 + delta * np.minimum(1.0, radius / np.maximum(norm, 1e-300))
        out.append(W.copy())
    return out


@pytest.mark.parametrize("target_kind", ["hard", "soft"])
def test_projected_gd_matches_a_hand_written_one_with_the_ball_active(x64, target_kind):
    ds = data.sphere_xor(6, n_train=80, n_test=10, seed=3)
    X = np.asarray(ds.X_train, np.float64)
    y = np.asarray(ds.y_train, np.float64)
    t = (1 + y) / 2 if target_kind == "hard" else 1 / (1 + np.exp(-3 * X[:, 0] * X[:, 1] * 6))
    width, B, lr, steps = 8, 0.5, 4.0, 12
    p0 = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), nets.symmetric_init(jax.random.PRNGKey(1), width, 6))
    radius = B / np.sqrt(width)
    expected = _numpy_projected_gd(np.asarray(p0["W"]), np.asarray(p0["a"]), X, t, lr, radius, steps)
    for k in (1, 2, 5, steps):
        final, metrics = train.projected_gradient_descent(p0, jnp.asarray(X), jnp.asarray(y), jnp.asarray(t),
                                                          lr=lr, steps=k, B=B)
        np.testing.assert_allclose(np.asarray(final["W"]), expected[k - 1], rtol=1e-10, atol=1e-12)
    moved = np.linalg.norm(expected[-1] - np.asarray(p0["W"]), axis=1)
    assert np.any(np.isclose(moved, radius, rtol=1e-9))   # the projection is active ...
    assert np.all(moved <= radius * (1 + 1e-12))          # ... and every neuron stays in its ball
    # and without the projection the same steps leave the ball: the test would see a wrong projection
    free, _ = train.projected_gradient_descent(p0, jnp.asarray(X), jnp.asarray(y), jnp.asarray(t), lr=lr, steps=steps)
    assert np.max(np.linalg.norm(np.asarray(free["W"]) - np.asarray(p0["W"]), axis=1)) > 1.5 * radius
    # iteration-averaged loss: mean of R(W(t)) for t = 0..T−1, R the KL to the target
    losses_t = [float(np.mean(losses.binary_kl(nets.apply({"W": jnp.asarray(W), "a": p0["a"]}, jnp.asarray(X)),
                                               jnp.asarray(t)))) for W in [np.asarray(p0["W"])] + expected[:-1]]
    assert float(metrics.avg_train_loss) == pytest.approx(np.mean(losses_t), rel=1e-10)
