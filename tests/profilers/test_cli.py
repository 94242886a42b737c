"""``workbench profile`` / ``workbench report`` end to end, the sample MLP,
and the py-spy path run for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from profilers.cli import profile_main, report_main
from profilers.records import load_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""\
    import sys
    import core
    import helper                      # found because the script's dir is on sys.path

    n = int(sys.argv[sys.argv.index("--n") + 1])
    x = core.ones((192, 192))                   # the matmul line must dominate
    w = core.Variable(core.ones((192, 192)) * 0.1, name="w")
    for _ in range(n):
        with core.GradientTape() as tape:
            with core.scope("model"):
                y = helper.layer(x, w)
            loss = core.sum(y)
        tape.gradient(loss, [w])
    print("done", n)
    if "--fail" in sys.argv:
        raise RuntimeError("boom")
    sys.exit(int(sys.argv[sys.argv.index("--code") + 1]) if "--code" in sys.argv else 0)
""")

HELPER = textwrap.dedent("""\
    import core

    def layer(x, w):
        return core.tanh(x @ w)        # LAYER
""")


@pytest.fixture
def script(tmp_path):
    (tmp_path / "helper.py").write_text(HELPER)
    p = tmp_path / "train.py"
    p.write_text(SCRIPT)
    return p


def test_profile_writes_every_format_and_report_rerenders(script, tmp_path, capsys):
    out = tmp_path / "out"
    code = profile_main([
        "--json", str(out / "run.json"), "--html", str(out / "r.html"),
        "--md", str(out / "r.md"), "--trace", str(out / "t.json"),
        "--speedscope", str(out / "s.json"), "--top", "3", "--no-calibrate",
        str(script), "--n", "4"])
    assert code == 0
    printed = capsys.readouterr()
    assert "done 4" in printed.out and "Top ops" in printed.out
    assert "wrote" in printed.err
    doc = json.loads((out / "run.json").read_text())
    assert doc["schema"] == "workbench.profile/1"
    assert doc["report"]["schema"] == "workbench.report/1"
    run = load_run(out / "run.json")
    assert run.meta_get("script") == str(script) and run.meta_get("argv") == "--n 4"
    lines = {r.location[1] for r in run.records if r.phase == "forward"}
    assert 4 in lines                          # helper.py's LAYER line
    top_line = doc["report"]["tables"]["by_line"][0]
    assert top_line["key"] == "helper.py:4 (layer)"
    assert len(doc["report"]["tables"]["by_op"]) <= 3
    assert "traceEvents" in json.loads((out / "t.json").read_text())
    assert json.loads((out / "s.json").read_text())["profiles"]
    assert (out / "r.html").read_text().startswith("<!DOCTYPE html>")
    # re-render the saved run in other formats
    assert report_main([str(out / "run.json"), "--md", str(out / "again.md"),
                        "--top", "2", "--quiet"]) == 0
    again = (out / "again.md").read_text()
    assert again.startswith("# Profile of") and "helper.py:4 (layer)" in again


def test_script_exit_code_and_errors_are_kept(script, tmp_path, capsys):
    assert profile_main(["--quiet", "--no-calibrate", str(script), "--n", "1",
                         "--code", "3"]) == 3
    out = tmp_path / "fail.json"
    assert profile_main(["--quiet", "--no-calibrate", "--json", str(out),
                         str(script), "--n", "2", "--fail"]) == 1
    assert "RuntimeError: boom" in capsys.readouterr().err
    run = load_run(out)
    assert run.meta_get("exit_code") == "1" and len(run.records) > 0


def test_bad_inputs_get_clear_messages(tmp_path, capsys):
    assert profile_main([str(tmp_path / "nope.py")]) == 2
    assert "no such script" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1}')
    assert report_main([str(bad)]) == 2
    assert "not a saved profile" in capsys.readouterr().err


def _workbench(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT, CORE_DEVICE="cpu")
    return subprocess.run([sys.executable, "-m", "workbench", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True,
                          timeout=timeout)


MLP = os.path.join(ROOT, "sample_models", "mlp.py")


@pytest.mark.skipif(not os.path.exists(MLP), reason="sample_models/mlp.py not present")
def test_profile_the_sample_mlp(tmp_path):
    out = tmp_path / "mlp.json"
    proc = _workbench("profile", "--json", str(out), "--quiet", MLP, "--steps", "40")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    rep = doc["report"]
    mods = {r["key"] for r in rep["tables"]["by_module"]}
    assert {"mlp.layers.0", "mlp.layers.1", "mlp.layers.2"} <= mods
    phases = {r["key"] for r in rep["tables"]["by_phase"]}
    assert phases == {"forward", "backward"}
    run = load_run(out)
    mm_lines = {r.src for r in run.records if r.name == "matmul"}
    assert len(mm_lines) >= 1
    # the line that calls the layers (and so issues the matmuls) leads
    top = rep["tables"]["by_line"][0]
    assert "matmul" in top["extra"]["ops"]
    assert (top["extra"]["file"], top["extra"]["line"]) in {s[:2] for s in mm_lines}
    assert top["forward_ns"] > 0 and top["backward_ns"] > 0


PYSPY_SCRIPT = textwrap.dedent("""\
    import core

    def prepare(n):
        s = 0
        for i in range(n):
            s += i * i % 7
        return s

    x = core.ones((256, 256))   # ~0.2 s in ops: ~20 samples at 100 Hz
    for _ in range(6):
        prepare(1_000_000)
        for _ in range(80):
            y = core.tanh(x @ x)
""")


def test_py_spy_path_for_real(tmp_path):
    if shutil.which("py-spy") is None:
        pytest.skip("py-spy is not installed on this machine")
    script = tmp_path / "prep.py"
    script.write_text(PYSPY_SCRIPT)
    out = tmp_path / "run.json"
    proc = _workbench("profile", "--py-spy", "--json", str(out), "--quiet",
                      "--no-calibrate", str(script))
    assert proc.returncode == 0, proc.stderr
    py = json.loads(out.read_text())["report"]["pyspy"]
    if py["status"] != "ok":
        assert "SYS_PTRACE" in py["reason"] or "py-spy" in py["reason"]
        pytest.skip(f"py-spy cannot sample here: {py['reason']}")
    assert py["samples"] > 10
    top = py["outside_by_line"][0]
    assert top["function"] == "prepare" and top["location"].startswith("prep.py:")
    assert py["outside_samples"] > 0 and py["in_op_samples"] > 0
    in_op_lines = {r["location"] for r in py["lines"] if r["in_op_samples"]}
    assert in_op_lines == {"prep.py:13"}       # the op line, joined to records
    op_row = next(r for r in py["lines"] if r["location"] == "prep.py:13")
    assert op_row["op_time_ns"] > 0
    run = load_run(out)
    assert run.pyspy.status == "ok" and len(run.records) == 6 * 80 * 2
    # py-spy's own chatter is not passed through; the script's output is
    assert "py-spy>" not in proc.stdout + proc.stderr


def test_py_spy_missing_is_reported(tmp_path, monkeypatch, capsys):
    script = tmp_path / "s.py"
    script.write_text("import core\ncore.exp(core.ones((2,)))\n")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = tmp_path / "r.json"
    assert profile_main(["--py-spy", "--quiet", "--no-calibrate", "--json",
                         str(out), str(script)]) == 0
    py = json.loads(out.read_text())["report"]["pyspy"]
    assert py["status"] == "unavailable" and "not found" in py["reason"]


def test_py_spy_refused_by_ptrace_is_explained_and_run_goes_on(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "py-spy"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Error: Permission Denied: ptrace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    script = tmp_path / "s.py"
    script.write_text("import core\nfor _ in range(3):\n    core.exp(core.ones((2,)))\n")
    out = tmp_path / "r.json"
    assert profile_main(["--py-spy", "--quiet", "--no-calibrate", "--json",
                         str(out), str(script)]) == 0
    doc = json.loads(out.read_text())
    py = doc["report"]["pyspy"]
    assert py["status"] == "failed"
    assert "SYS_PTRACE" in py["reason"] and "Permission Denied" in py["reason"]
    assert "rerun without py-spy" in py["reason"]
    assert len(doc["records"]) == 3            # the profile itself carried on


def test_progress_line_only_on_a_terminal():
    import io

    from profilers.cli import _ProgressLine

    class Tty(io.StringIO):
        def isatty(self):
            return True

    class Prof:
        op_count = 1234

    pipe = io.StringIO()
    _ProgressLine(Prof(), pipe).start().stop()
    assert pipe.getvalue() == ""
    tty = Tty()
    line = _ProgressLine(Prof(), tty).start()
    line._loop_once()
    line.stop()
    assert "[profile] 1,234 ops" in tty.getvalue()
