"""Province and city of an address, and the address cut to its network (IPv4 /24, IPv6 /48) for storage.

No package on the index carries ip2region's database: ``py-ip2region`` (the official binding) ships the searcher
only, and the data file is a separate download from GitHub. edudesk makes no network call and downloads nothing at
run time, so the location stays empty (docs/visitors.md says so); ``locate`` is the one place to plug a database
in once one is shipped in a package. The full address is never stored: ``prefix`` is what the visit keeps.
"""

from __future__ import annotations

import ipaddress


def prefix(address: str | None) -> str:
    """``203.0.113.0/24`` for ``203.0.113.7``, ``2001:db8:1::/48`` for an IPv6 address, "" when not an address."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def locate(address: str | None) -> tuple[str, str]:
    """(province, city) of the address; ("", "") as no offline database is shipped (see the module's doc)."""
    return "", ""
