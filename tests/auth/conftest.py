"""Fixtures for the auth tests.

Argon2 with the production parameters costs about 0.2 s per hash, and every ``orgs`` fixture hashes eight
passwords; the auth tests therefore hash with cheap Argon2 parameters (still real Argon2id, the same code path),
the way Django test settings swap the password hasher. A test that requests ``real_hasher`` keeps the production
hasher.

``fast_password_hashing`` deliberately shadows the root fixture of the same name (which caches one hash per
password): these tests check that equal passwords get different salts, and verifying is what logins cost here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from edudesk.auth import service as auth_service

FAST_HASHER = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
# Taken at collection, before any fixture of the root conftest has wrapped it.
UNCACHED_HASH_PASSWORD = auth_service.hash_password


@pytest.fixture
def real_hasher() -> PasswordHash:
    """Requesting this fixture opts the test out of the cheap hasher."""
    return auth_service._hasher


@pytest.fixture(autouse=True)
def fast_password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The root fixture is session-scoped: a test outside this folder may already have switched its cache on.
    monkeypatch.setattr(auth_service, "hash_password", UNCACHED_HASH_PASSWORD)
    if "real_hasher" not in request.fixturenames:
        monkeypatch.setattr(auth_service, "_hasher", FAST_HASHER)
    yield
