"""TensorFlow style: the gradients come back from tape.gradient()."""

import numpy as np

import core

w = core.Variable(np.ones((3, 2), np.float32), name="w")
x = core.tensor(np.ones((4, 3), np.float32))
with core.GradientTape() as tape:
    y = (x @ w).sum()
grads = tape.gradient(y, [w])
z = core.exp(grads[0] * 0.0)      # an op after the gradients exist
print("done", float(z.sum()))
