"""``python -m workbench debug --batch SCRIPT`` driven through stdin."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")


def wb(args, stdin="", timeout=60):
    env = dict(os.environ, CORE_DEVICE="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "workbench", *args],
                          input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


def script(name):
    return os.path.join(SCRIPTS, name)


def test_batch_prints_one_line_per_pause_and_results():
    r = wb(["debug", "--batch", script("tiny_mlp.py"), "1"],
           "s\n# a comment\nb matmul\nc\np x.shape\nn\nwhere\nq\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "#1 forward mul scope=- out=? at tiny_mlp.py:24  [start]"
    assert lines[1] == "#2 forward mul scope=- out=? at tiny_mlp.py:26  [step]"
    assert lines[2] == "breakpoint 1: op matmul"
    assert lines[3] == "#3 forward matmul scope=- out=? at tiny_mlp.py:9  [breakpoint 1]"
    assert lines[4] == "(8, 4)"
    assert lines[5] == "#4 forward add scope=- out=? at tiny_mlp.py:10  [next]"
    assert lines[6].startswith("  tiny_mlp.py:42 in <module>")
    assert "> tiny_mlp.py:10 in dense" in r.stdout
    assert lines[-1] == "finished: exit code 0, 3 ops"
    assert "step 0" not in r.stdout          # quit before the script printed


def test_batch_eof_continues_to_the_end_with_the_exit_code():
    r = wb(["debug", "--batch", script("exits.py"), "7"], "")
    assert r.returncode == 7
    assert r.stdout.splitlines() == [
        "#1 forward add scope=- out=? at exits.py:10  [start]",
        "finished: exit code 7, 1 ops"]


def test_batch_nan_breakpoint_shows_the_producing_op():
    r = wb(["debug", "--batch", script("nan_mid.py")],
           "b nan\nc\np b.max()\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[2] == ("#3 forward log scope=block out=(6, 4) at nan_mid.py:10  "
                        "[breakpoint 1: nan in output of #3 log (from finite inputs)]")
    assert lines[3].startswith("tensor(") and lines[3] != ""
    assert "done (6, 4)" in lines
    assert lines[-1] == "finished: exit code 0, 5 ops"


def test_batch_post_mortem_and_exit_code():
    r = wb(["debug", "--batch", script("raises.py")],
           "c\np local_marker\nup\np x.shape\n")
    assert r.returncode == 1
    out = r.stdout.splitlines()
    assert "before the error" in out
    assert any(line.startswith("post-mortem: ShapeError: matmul") for line in out)
    assert "42" in out and "(3, 4)" in out
    assert "> raises.py:15 in <module>" in out
    assert "Traceback" in r.stderr and "raises.py" in r.stderr
    assert out[-1] == "finished: exit code 1, 1 ops"   # matmul never completed


def test_batch_display_and_errors():
    r = wb(["debug", "--batch", script("tiny_mlp.py"), "1"],
           "display x.shape\nb nosuchop\np nope\ns\n")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert "display x.shape: (8, 4)" in lines
    assert any(line.startswith("no op named 'nosuchop'") for line in lines)
    assert any("NameError" in line for line in lines)
    assert "  display x.shape: (8, 4)" in lines    # shown with the next pause


def test_batch_heavy_output_is_all_there():
    r = wb(["debug", "--batch", script("prints.py"), "3000"], "c\n")
    assert r.returncode == 0
    out = [ln for ln in r.stdout.splitlines() if ln.startswith("line ")]
    assert out == [f"line {i}" for i in range(3000)]
    assert r.stderr.splitlines() == [f"err {i}" for i in range(0, 3000, 1000)]


def test_batch_no_break_runs_free():
    r = wb(["debug", "--batch", "--no-break", script("exits.py"), "0"], "")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["finished: exit code 0, 1 ops"]


def test_debug_usage_errors():
    r = wb(["debug"])
    assert r.returncode == 2 and "no SCRIPT" in r.stderr
    r = wb(["debug", "--batch", "no/such/script.py"])
    assert r.returncode == 2 and "no such script" in r.stderr
    r = wb(["debug", "--bogus", script("exits.py")])
    assert r.returncode == 2 and "unknown option" in r.stderr
    r = wb(["debug", "--help"])
    assert r.returncode == 0 and "--batch" in r.stdout


def test_demo_batch_runs_the_sample_mlp():
    import importlib.util
    if importlib.util.find_spec("sample_models.mlp") is None:
        pytest.skip("sample_models.mlp is not installed")
    r = wb(["demo", "--batch"], "s\ns\nq\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("#1 forward ") and "mlp.py:" in lines[0]
    assert lines[2].startswith("#3 forward ")
    assert lines[-1].startswith("finished: exit code 0, 2 ops")


def test_batch_inspect_and_save_alias(tmp_path):
    import numpy as np

    path = tmp_path / "h"
    r = wb(["debug", "--batch", "--history", "10", script("tiny_mlp.py"), "1"],
           f"b relu\nc\ninspect 3 out 0:2, 0:2\nw 3 out {path}\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index("(2, 2) float32")
    saved = np.load(str(path) + ".npy", allow_pickle=False)
    assert saved.shape == (8, 16)
    first_row = [float(v) for v in lines[i + 1].strip("[ ]").split()]
    assert first_row == pytest.approx(saved[0, :2].tolist(), abs=1e-4)
    assert f"saved (8, 16) float32 to {path}.npy" in lines
