"""Resident memory measured in a fresh Python process, so one test's imports and caches do not blur another's."""

from __future__ import annotations

import subprocess
import sys

RSS = ("def rss():\n"
       "    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) // 1024\n")


def fresh_process_mb(body: str, arg: str) -> int:
    """Runs ``body`` (which has ``rss()`` in MB and ``sys.argv[1] == arg``) and returns the last number it prints."""
    done = subprocess.run([sys.executable, "-c", "import sys\n" + RSS + body, arg], check=True,
                          capture_output=True, text=True)
    return int(done.stdout.split()[-1])
