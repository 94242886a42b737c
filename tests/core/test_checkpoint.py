"""core.Checkpoint: object-graph paths, round trips, subsets, refusing bad
files without executing anything, and atomic saves that survive SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import core
from core import nn, optim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_gan(seed):
    core.random.seed(seed)
    gen = nn.Sequential(nn.Dense(3, 8, activation="relu"), nn.LayerNorm(8),
                        nn.Dense(8, 2), name="generator")
    disc = nn.Sequential(nn.Dense(2, 4, activation="tanh"), nn.Dense(4, 1))
    return gen, disc


def train_step(model, opt, x, y):
    loss = core.losses.mse(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def test_paths_come_from_the_object_graph(tmp_path):
    gen, disc = make_gan(0)
    opt = optim.Adam(gen.trainable_variables, lr=0.01)
    ck = core.Checkpoint(generator=gen, discriminator=disc, optimizer=opt)
    paths = ck.paths
    assert paths[:2] == ["generator/layers/0/kernel", "generator/layers/0/bias"]
    assert "discriminator/layers/1/bias" in paths
    assert "optimizer/iterations" in paths
    assert "optimizer/slots/0/m" in paths and "optimizer/slots/5/v" in paths
    path = ck.save(tmp_path / "ckpt.zip", step=7)
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("meta.json"))
        assert meta["format"] == "core-checkpoint" and meta["version"] == 1
        assert meta["step"] == 7
        entry = meta["entries"][0]
        assert entry["path"] == "generator/layers/0/kernel"
        assert entry["shape"] == [3, 8] and np.dtype(entry["dtype"]) == np.float32
        assert all(n.endswith(".npy") for n in zf.namelist() if n != "meta.json")
    assert os.listdir(tmp_path) == ["ckpt.zip"]        # no temp file left behind


def test_round_trip_gives_identical_outputs_and_training(tmp_path):
    gen, _ = make_gan(0)
    opt = optim.Adam(gen.trainable_variables, lr=0.01)
    x, y = core.randn(5, 3), core.randn(5, 2)
    for _ in range(3):
        train_step(gen, opt, x, y)
    status0 = core.Checkpoint(model=gen, optimizer=opt).save(tmp_path / "a.ckpt")
    assert status0.endswith("a.ckpt")

    gen2, _ = make_gan(123)                       # different initial values
    opt2 = optim.Adam(gen2.trainable_variables, lr=0.01)
    assert not np.allclose(gen2(x).numpy(), gen(x).numpy())
    status = core.Checkpoint(model=gen2, optimizer=opt2).restore(tmp_path / "a.ckpt")
    assert status.missing == [] and status.unused == []
    assert status.step == 3
    status.assert_consumed()
    np.testing.assert_array_equal(gen2(x).numpy(), gen(x).numpy())
    assert int(opt2.iterations.numpy()) == 3
    # the optimizer state came back too: the next step is identical
    train_step(gen, opt, x, y)
    train_step(gen2, opt2, x, y)
    for a, b in zip(gen.variables, gen2.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_lazily_created_slots_are_restored_when_created(tmp_path):
    gen, _ = make_gan(0)
    opt = optim.SGD(lr=0.1, momentum=0.9)           # no variables yet (TF style)
    x, y = core.randn(4, 3), core.randn(4, 2)
    variables = gen.trainable_variables
    for _ in range(2):
        with core.GradientTape() as tape:
            loss = core.losses.mse(gen(x), y)
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    core.Checkpoint(model=gen, opt=opt).save(tmp_path / "lazy.ckpt")

    gen2, _ = make_gan(9)
    opt2 = optim.SGD(lr=0.1, momentum=0.9)
    status = core.Checkpoint(model=gen2, opt=opt2).restore(tmp_path / "lazy.ckpt")
    assert len(status.deferred) == len(variables) and status.unused == []
    for model, o in ((gen, opt), (gen2, opt2)):
        vs = model.trainable_variables
        with core.GradientTape() as tape:
            loss = core.losses.mse(model(x), y)
        o.apply_gradients(zip(tape.gradient(loss, vs), vs))
    for a, b in zip(gen.variables, gen2.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_subset_restore_reports_unused_and_missing(tmp_path):
    gen, disc = make_gan(0)
    core.Checkpoint(generator=gen, discriminator=disc).save(tmp_path / "gan.ckpt")
    gen2, _ = make_gan(5)
    status = core.Checkpoint(generator=gen2).restore(tmp_path / "gan.ckpt")
    assert len(status.matched) == len(gen.variables)
    assert status.missing == []
    assert status.unused == ["discriminator/layers/0/kernel",
                             "discriminator/layers/0/bias",
                             "discriminator/layers/1/kernel",
                             "discriminator/layers/1/bias"]
    x = core.randn(2, 3)
    np.testing.assert_array_equal(gen2(x).numpy(), gen(x).numpy())
    with pytest.raises(core.CheckpointError, match="not a full match"):
        status.assert_consumed()
    # objects with more variables than the file: listed as missing
    bigger = nn.Sequential(nn.Dense(3, 8, activation="relu"), nn.LayerNorm(8),
                           nn.Dense(8, 2), nn.Dense(2, 2))
    status = core.Checkpoint(generator=bigger).restore(tmp_path / "gan.ckpt")
    assert status.missing == ["generator/layers/3/kernel", "generator/layers/3/bias"]


def test_shape_mismatch_names_the_path_and_assigns_nothing(tmp_path):
    gen, _ = make_gan(0)
    core.Checkpoint(generator=gen).save(tmp_path / "g.ckpt")
    other = nn.Sequential(nn.Dense(3, 8), nn.LayerNorm(8), nn.Dense(8, 5))
    before = other.layers[0].kernel.numpy()
    with pytest.raises(core.CheckpointError,
                       match=r"'generator/layers/2/kernel' has shape \(8, 2\)"):
        core.Checkpoint(generator=other).restore(tmp_path / "g.ckpt")
    np.testing.assert_array_equal(other.layers[0].kernel.numpy(), before)
    as64 = nn.Sequential(nn.Dense(3, 8, dtype="float64"), nn.LayerNorm(8),
                         nn.Dense(8, 2))
    with pytest.raises(core.CheckpointError, match="float32 in the file"):
        core.Checkpoint(generator=as64).restore(tmp_path / "g.ckpt")


def _rewrite(src, dst, replace):
    """Copy zip ``src`` to ``dst`` with members replaced ({name: bytes})."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename,
                                                     zin.read(info.filename)))


def test_truncated_garbage_and_tampered_files_raise(tmp_path):
    gen, _ = make_gan(0)
    good = core.Checkpoint(generator=gen).save(tmp_path / "good.ckpt")
    data = open(good, "rb").read()
    ck = core.Checkpoint(generator=make_gan(1)[0])
    for name, content in (("trunc.ckpt", data[:len(data) // 2]),
                          ("trunc_end.ckpt", data[:-10]),
                          ("garbage.ckpt", b"definitely not a zip file" * 10),
                          ("empty.ckpt", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(core.CheckpointError, match="checkpoint"):
            ck.restore(tmp_path / name)
    with pytest.raises(core.CheckpointError, match="no such file"):
        ck.restore(tmp_path / "absent.ckpt")

    with zipfile.ZipFile(good) as zf:
        meta = json.loads(zf.read("meta.json"))
    bad_shape = json.loads(json.dumps(meta))
    bad_shape["entries"][0]["shape"] = [8, 3]
    bad_dtype = json.loads(json.dumps(meta))
    bad_dtype["entries"][0]["dtype"] = "<f8"
    bad_version = dict(meta, version=99)
    for i, (m, pattern) in enumerate(((bad_shape, "tampered"),
                                      (bad_dtype, "tampered"),
                                      (bad_version, "unsupported format version"),
                                      ({"entries": 3}, "does not describe"),
                                      ([1, 2], "does not describe"))):
        p = tmp_path / f"tampered{i}.ckpt"
        _rewrite(good, p, {"meta.json": json.dumps(m).encode()})
        with pytest.raises(core.CheckpointError, match=pattern):
            ck.restore(p)
    p = tmp_path / "nometa.ckpt"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("data/0.npy", b"")
    with pytest.raises(core.CheckpointError, match="no meta.json"):
        ck.restore(p)
    # a flipped byte inside an array member: the zip CRC catches it
    with zipfile.ZipFile(good) as zf:
        member = zf.read("data/0.npy")
    flipped = member[:-1] + bytes([member[-1] ^ 0xFF])
    p = tmp_path / "flipped.ckpt"
    _rewrite(good, p, {})
    raw = p.read_bytes()
    at = raw.index(member)
    p.write_bytes(raw[:at] + flipped + raw[at + len(member):])
    with pytest.raises(core.CheckpointError, match="checkpoint"):
        ck.restore(p)


class _Payload:
    """Unpickling this creates a file: proof that a loader executed it."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_pickled_object_array_is_refused_and_never_executed(tmp_path):
    gen, _ = make_gan(0)
    good = core.Checkpoint(generator=gen).save(tmp_path / "good.ckpt")
    target = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([_Payload(str(target)), 1], dtype=object),
            allow_pickle=True)
    with zipfile.ZipFile(good) as zf:
        meta = json.loads(zf.read("meta.json"))
    member = meta["entries"][0]["member"]
    as_object = json.loads(json.dumps(meta))
    as_object["entries"][0].update(dtype="|O", shape=[2])
    ck = core.Checkpoint(generator=make_gan(1)[0])
    for i, m in enumerate((meta, as_object)):
        p = tmp_path / f"evil{i}.ckpt"
        _rewrite(good, p, {member: evil.read_bytes(),
                           "meta.json": json.dumps(m).encode()})
        with pytest.raises(core.CheckpointError):
            ck.restore(p)
        assert not target.exists()
    # the payload really is live: plain pickle loading would run it
    np.load(evil, allow_pickle=True)
    assert target.exists()


_SAVER = r"""
import sys
sys.path.insert(0, sys.argv[2])
import numpy as np
import core
big = core.Variable(np.zeros(6_000_000, np.float32), name="big")
small = core.Variable(np.zeros(10, np.float32), name="small")
ck = core.Checkpoint(big=big, small=small)
i = 0
while True:
    i += 1
    big.assign(np.full(big.shape, i, np.float32))
    small.assign(np.full(small.shape, i, np.float32))
    ck.save(sys.argv[1], step=i)
    print(i, flush=True)
"""


def test_sigkill_during_save_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "big.ckpt"
    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), ROOT],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() != ""    # one save completed
            deadline = time.monotonic() + 20
            caught = False
            while time.monotonic() < deadline:
                if any(n.endswith(".tmp") for n in os.listdir(tmp_path)):
                    os.kill(proc.pid, signal.SIGKILL)
                    caught = True
                    break
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
        leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        if caught and leftovers:
            break                                  # killed in the middle of a write
        for n in leftovers:
            os.unlink(tmp_path / n)
    else:
        pytest.fail("could not kill the saver in the middle of a write")
    big = core.Variable(np.zeros(6_000_000, np.float32))
    small = core.Variable(np.zeros(10, np.float32))
    status = core.Checkpoint(big=big, small=small).restore(path)
    i = status.step
    assert i >= 1 and sorted(status.matched) == ["big", "small"]
    assert np.all(big.numpy() == i) and np.all(small.numpy() == i)


def test_checkpoint_arguments_are_checked():
    with pytest.raises(TypeError, match="cannot track 'x'"):
        core.Checkpoint(x=object())
    with pytest.raises(ValueError):
        core.Checkpoint()
    v = core.Variable(np.ones(2))
    ck = core.Checkpoint(step=v, nested={"a": [v]})
    assert ck.paths == ["step", "nested/a/0"]


def test_round_trip_between_devices(tmp_path, sim_gpu):
    with core.device("gpu"):
        gen, _ = make_gan(0)
        opt = optim.SGD(gen.trainable_variables, lr=0.1, momentum=0.9)
        x = core.randn(3, 3)
    train_step(gen, opt, x, core.zeros((3, 2), device="gpu"))
    core.Checkpoint(g=gen, o=opt).save(tmp_path / "gpu.ckpt")
    cpu_gen, _ = make_gan(4)                       # restore on the CPU
    cpu_opt = optim.SGD(cpu_gen.trainable_variables, lr=0.1, momentum=0.9)
    status = core.Checkpoint(g=cpu_gen, o=cpu_opt).restore(tmp_path / "gpu.ckpt")
    assert status.missing == [] and status.unused == []
    np.testing.assert_allclose(cpu_gen(x.numpy()).numpy(), gen(x).numpy(), rtol=1e-6)
    slot = cpu_opt.slots(cpu_opt.variables[0])["momentum"]
    assert slot.device == core.get_device("cpu")
