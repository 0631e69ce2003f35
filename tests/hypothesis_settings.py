"""Hypothesis profiles for the property-based tests, loaded by tests/conftest.py.

- ``ci`` (the default): derandomized, so a run is reproducible and a red CI is red again on a laptop; no deadline,
  because a loaded CI machine must not turn a slow example into a failure (speed is measured in benchmarks/); no
  example database, so nothing is written into the work tree. The properties' own ``max_examples`` keep the whole
  set well under a minute.
- ``dev``: random seeds and the example database in ``.hypothesis/`` (git-ignored), to hunt for new failures
  locally: ``HYPOTHESIS_PROFILE=dev pytest tests/...``.
- ``deep``: ``dev`` with ten times the examples, for a longer search before a release.

A failure found by ``dev`` or ``deep`` becomes a plain regression test next to the property, so the case stays
covered whatever hypothesis generates next time.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("dev", deadline=None, print_blob=True, suppress_health_check=_SLOW_OK)
settings.register_profile("deep", parent=settings.get_profile("dev"), max_examples=1000)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(n: int) -> int:
    """A property's ``max_examples`` under the loaded profile: ``n`` normally, ten times that under ``deep``."""
    return n * 10 if PROFILE == "deep" else n
