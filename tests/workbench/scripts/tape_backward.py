"""A scoped two-layer model differentiated with a GradientTape: the
backward pass is stepped op by op."""

import core


def layer(x, w, name):
    with core.scope(name):
        return core.tanh(x @ w)


core.random.seed(1)
x = core.randn(4, 3)
w1 = core.Variable(core.randn(3, 5), name="w1")
w2 = core.Variable(core.randn(5, 1), name="w2")
with core.GradientTape() as tape:
    with core.scope("model"):
        h = layer(x, w1, "dense0")
        y = layer(h, w2, "dense1")
    loss = core.sum(y * y)
g1, g2 = tape.gradient(loss, [w1, w2])
total = float(core.sum(g1 * g1).item() + core.sum(g2 * g2).item())
print(f"grad norm2 {total:.6f}")
