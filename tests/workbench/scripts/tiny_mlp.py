"""A tiny MLP trained for a few steps with backward(): the stepping script."""

import sys

import core


def dense(x, w, b):
    h = x @ w
    return h + b


def forward(x, params):
    w1, b1, w2, b2 = params
    h = dense(x, w1, b1)
    h = core.relu(h)
    return dense(h, w2, b2)


def main(steps):
    core.random.seed(0)
    x = core.randn(8, 4)
    y = core.randn(8, 2)
    params = [core.Variable(core.randn(4, 16) * 0.5, name="w1"),
              core.Variable(core.zeros(16), name="b1"),
              core.Variable(core.randn(16, 2) * 0.5, name="w2"),
              core.Variable(core.zeros(2), name="b2")]
    for step in range(steps):
        out = forward(x, params)
        diff = out - y
        loss = core.mean(diff * diff)
        loss.backward()
        for p in params:
            p.assign_sub(p.grad * 0.1)
            p.zero_grad()
        print(f"step {step} loss {loss.item():.4f}")
    return 0


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    sys.exit(main(steps))
