"""One TLS context for the process's outgoing HTTPS clients (channel providers, the large-model endpoint, the
WeChat JSON poster).

Each ``httpx.Client`` built without one loads certifi's roots into a context of its own: 20 ms and a copy of the
root store per client, paid at every start and by every app a test builds. An ``SSLContext`` is safe to share
between clients and threads once configured, and these clients all want the same one: verification on, certifi's
roots, and nothing from the environment (they are built with ``trust_env=False``, so that an ``SSL_CERT_FILE`` or a
proxy of the server's environment does not change where org data may go).
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["client_context"]


@functools.cache
def client_context() -> ssl.SSLContext:
    """The verifying context every outgoing client shares (built once, on first use)."""
    return httpx.create_ssl_context(trust_env=False)
