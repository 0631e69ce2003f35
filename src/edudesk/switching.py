"""How often a serving process hands the GIL from one thread to another (docs/performance.md, "Thread switching").

A serving process runs the event loop, the database threads (a turn, a delivery, a job) and the SQLite write
gate. A thread that holds the gate releases the GIL for every statement SQLite runs, and then waits to get it
back; with CPython's default of 5 ms it waited up to 5 ms behind whichever thread was busy in Python (another
visitor's NLP, the event loop) — per statement, with the gate held, so every other writer waited too. A turn of
the WeChat benchmark held the gate 14–25 ms, mostly in those waits. A shorter interval costs a little CPU in
switches and gives the gate holder, and the event loop, the GIL back sooner."""

from __future__ import annotations

import sys


def set_gil_switch_interval(milliseconds: float) -> float:
    """Sets the interval for this process; returns the previous one (ms). ``0`` leaves it as it is."""
    previous = sys.getswitchinterval() * 1000
    if milliseconds > 0:
        sys.setswitchinterval(milliseconds / 1000)
    return previous
