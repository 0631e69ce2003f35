"""Province and city of an address, and the address cut to its network (IPv4 /24, IPv6 /48) for storage.

No package on the index carries ip2region's database: ``py-ip2region`` (the official binding) ships the searcher
only, and the data file is a separate download from GitHub. edudesk makes no network call and downloads nothing at
run time, so the location stays empty (docs/visitors.md says so); ``locate`` is the one place to plug a database
in once one is shipped in a package. The full address is never stored: ``prefix`` is what the visit keeps.
"""

from __future__ import annotations

import ipaddress


def prefix(address: str | None) -> str:
    """``203.0.113.0/24`` for ``203.0.113.7``, ``2001:db8:1::/48`` for an IPv6 address, "" when not an address.

    A plain IPv4 address, nearly every visitor's, is cut by hand: the ``ipaddress`` module took a quarter of the
    beacon's own work (tests/visitors/test_useragent.py compares the two)."""
    if not address:
        return ""
    parts = address.strip().split(".")
    if len(parts) == 4 and all(_octet(part) for part in parts):
        return f"{parts[0]}.{parts[1]}.{parts[2]}.0/24"
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def _octet(part: str) -> bool:
    """0–255 in ASCII digits without a leading zero, as ``ipaddress`` reads an IPv4 octet."""
    return (part.isascii() and part.isdigit() and len(part) <= 3 and (part == "0" or part[0] != "0")
            and int(part) <= 255)


def locate(address: str | None) -> tuple[str, str]:
    """(province, city) of the address; ("", "") as no offline database is shipped (see the module's doc)."""
    return "", ""
