"""One op, then a pure-Python loop that runs no ops (quit must still end it)."""

import time

import core

x = core.ones(2) + 1.0
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    pass
