"""The TLS context the outgoing HTTPS clients share verifies certificates and host names, and is one object."""

from __future__ import annotations

import ssl

from edudesk.app import make_channel_services
from edudesk.settings import Settings
from edudesk.tls import client_context


def test_the_shared_context_verifies() -> None:
    context = client_context()
    assert context is client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.cert_store_stats()["x509_ca"] > 50  # certifi's roots are loaded


def test_channel_clients_use_it(settings: Settings) -> None:
    services = make_channel_services(settings)
    try:
        pool = services.http._transport._pool  # type: ignore[attr-defined]  # httpx's default transport
        assert pool._ssl_context is client_context()
    finally:
        services.http.close()
