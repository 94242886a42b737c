"""`workbench debug` in a real pseudo-terminal (tmux, 120x40): the screen a
user sees, a step, and a clean quit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMUX = shutil.which("tmux")

SCRIPT = textwrap.dedent("""\
    import numpy as np
    import core

    x = core.tensor(np.ones((3, 4), dtype=np.float32))
    y = core.exp(x) * 2.0
    print("result", float(y.sum().numpy()))
    """)

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, name):
        self.base = [TMUX, "-L", name, "-f", "/dev/null"]

    def __call__(self, *args, check=True):
        return subprocess.run(self.base + list(args), capture_output=True, text=True,
                              check=check, timeout=30)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "wb", check=False).stdout

    def wait_for(self, *texts, timeout=30.0) -> str:
        """Poll the screen until every text is on it."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{texts!r} never all appeared on screen:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def tmux(tmp_path):
    t = Tmux(f"wbtest-{os.getpid()}")
    yield t
    t("kill-server", check=False)


def test_debug_in_a_real_terminal(tmux, tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(SCRIPT)
    cmd = (f"cd {tmp_path} && env -u COLUMNS -u LINES PYTHONPATH={ROOT} "
           f"{sys.executable} -m workbench debug prog.py; "
           f"echo WB_EXIT=$?; sleep 30")
    tmux("new-session", "-d", "-s", "wb", "-x", "120", "-y", "40", cmd)
    screen = tmux.wait_for("PAUSED", "q quit", "> before #1")
    assert "before #1" in screen and "exp" in screen
    assert "source prog.py" in screen
    lines = screen.splitlines()
    assert any(line.lstrip("│").startswith("▶") and "core.exp(x)" in line for line in lines)
    assert "s step" in screen and "q quit" in screen            # footer
    tmux("send-keys", "-t", "wb", "s")
    screen = tmux.wait_for("before #2", "(wb) step")
    assert "mul" in screen
    tmux("send-keys", "-t", "wb", "q")
    screen = tmux.wait_for("WB_EXIT=")
    assert "WB_EXIT=0" in screen
    assert "Traceback" not in screen
    assert "result" not in screen          # quit stopped the script before its print
