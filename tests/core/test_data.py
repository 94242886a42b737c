"""core.data.Dataset: slicing nests, seeded buffer shuffles, batching,
map, repeat and take."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core.data import Dataset


def values(ds):
    return [np.asarray(x) for x in ds.as_numpy_iterator()]


def test_from_tensor_slices_nests():
    x = np.arange(12).reshape(6, 2)
    y = core.tensor(np.arange(6) * 10)
    ds = Dataset.from_tensor_slices((x, {"label": y, "w": [1.0] * 6}))
    first = next(iter(ds))
    assert isinstance(first, tuple) and isinstance(first[0], core.Tensor)
    np.testing.assert_array_equal(first[0].numpy(), [0, 1])
    assert first[1]["label"].item() == 0 and first[1]["w"].item() == 1.0
    assert len(ds) == 6 and len(list(ds)) == 6          # re-iterable
    with pytest.raises(ValueError, match="first dimensions differ"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))


def test_batch_and_drop_remainder():
    ds = Dataset.from_tensor_slices((np.arange(10), np.arange(10) * 2.0))
    batches = list(ds.batch(4))
    assert [b[0].shape for b in batches] == [(4,), (4,), (2,)]
    np.testing.assert_array_equal(batches[1][1].numpy(), [8.0, 10.0, 12.0, 14.0])
    assert len(ds.batch(4)) == 3
    assert len(list(ds.batch(4, drop_remainder=True))) == 2 == len(
        ds.batch(4, drop_remainder=True))


def test_shuffle_is_seeded_and_a_permutation():
    ds = Dataset.from_tensor_slices(np.arange(100))
    a = np.concatenate(values(ds.shuffle(100, seed=1).batch(10)))
    b = np.concatenate(values(ds.shuffle(100, seed=1).batch(10)))
    c = np.concatenate(values(ds.shuffle(100, seed=2).batch(10)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert sorted(a.tolist()) == list(range(100))
    # reshuffled each epoch, deterministically
    sh = ds.shuffle(100, seed=1)
    e1, e2 = values(sh), values(sh)
    assert e1 != e2 and sorted(e1) == sorted(e2)
    assert values(ds.shuffle(100, seed=1)) == e1
    # without a seed: the engine generator decides (core.random.seed)
    core.random.seed(4)
    d1 = values(ds.shuffle(100))
    core.random.seed(4)
    assert values(ds.shuffle(100)) == d1


def test_small_buffer_has_tf_data_semantics():
    ds = Dataset.from_tensor_slices(np.arange(50)).shuffle(3, seed=0)
    out = [int(v) for v in values(ds)]
    assert sorted(out) == list(range(50))
    # element k can only come out once it has entered the buffer of 3
    for pos, v in enumerate(out):
        assert v <= pos + 2
    assert out != list(range(50))


def test_map_repeat_take_compose():
    ds = Dataset.from_tensor_slices((np.arange(5), np.arange(5) * 1.0))
    mapped = ds.map(lambda a, b: (a * 2, b + core.ones(())))
    got = values(mapped.batch(2))
    np.testing.assert_array_equal(got[0][0], [0, 2])
    np.testing.assert_array_equal(got[2][1], [5.0])
    rep = values(Dataset.from_tensor_slices(np.arange(3)).repeat(2))
    assert [int(v) for v in rep] == [0, 1, 2, 0, 1, 2]
    forever = Dataset.from_tensor_slices(np.arange(3)).repeat().take(7)
    assert [int(v) for v in values(forever)] == [0, 1, 2, 0, 1, 2, 0]
    assert len(forever) == 7
    taken = Dataset.from_tensor_slices(np.arange(10)).take(3).batch(2)
    assert [v.tolist() for v in values(taken)] == [[0, 1], [2]]
    after = Dataset.from_tensor_slices(np.arange(6)).batch(2).map(lambda b: b * 10)
    assert [v.tolist() for v in values(after)] == [[0, 10], [20, 30], [40, 50]]


def test_batching_slices_without_copying_when_in_order():
    x = np.arange(20.0).reshape(10, 2)
    ds = Dataset.from_tensor_slices(x).batch(5)
    b = next(iter(ds))
    assert np.shares_memory(b.numpy(), x)        # a view, not per-element work
    sb = next(iter(Dataset.from_tensor_slices(x).shuffle(10, seed=0).batch(5)))
    assert sb.shape == (5, 2)


def test_training_loop_over_a_dataset():
    core.random.seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    model = core.nn.Dense(3, 1)
    opt = core.optim.SGD(model.trainable_variables, lr=0.1)
    ds = Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(16)
    for _ in range(20):
        for xb, yb in ds:
            loss = core.losses.mse(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
    assert loss.item() < 1e-3
