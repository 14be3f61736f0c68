"""Which IP addresses a URL may lead to: ``address_kind`` names the kind of a non-public address
(loopback, private, cloud metadata, ...), seeing through the IPv6 forms that carry an IPv4
address (mapped, NAT64, 6to4, Teredo), and ``check_address`` refuses it unless the policy allows
private addresses and the kind is not one that is never fetched. Plain Python, no network.
"""

import ipaddress

from datasets.sources import SourceError
from datasets.sources.common import UrlPolicy

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused even when private addresses are allowed: the cloud metadata service hands out the
# machine's credentials, and no on-premise file is served from the other kinds.
_NEVER = frozenset({"cloud metadata", "unspecified", "link-local", "multicast", "reserved"})
# AWS, GCP and Azure (and their IPv6 one), Alibaba Cloud, Oracle Cloud.
_METADATA = frozenset(
    map(
        ipaddress.ip_address,
        ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"],
    )
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # Linux connects 0.x.x.x to the machine itself
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: neither private nor public
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the IPv4 address ends it
# Local-use NAT64 (RFC 8215) also takes prefixes of /48 to /64, which carry the IPv4 address in
# the middle bits; only in this /96 can the last 32 bits be nothing else.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_LOCAL_NAT64_96 = ipaddress.ip_network("64:ff9b:1::/96")


def check_address(ip: str | Address, *, policy: UrlPolicy, host: str | None = None) -> None:
    """Raise ``SourceError`` unless ``ip`` is public, or private and the policy allows that."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    kind = address_kind(ip)
    if kind is None or (policy.allow_private and kind not in _NEVER):
        return
    article = "an" if kind[0] in "aeiou" else "a"
    subject = f"{host} resolves to {ip}," if host and host != str(ip) else f"{ip} is"
    if kind in _NEVER:
        remedy = "it is never fetched, even with INGEST_URL_ALLOW_PRIVATE"
    else:
        remedy = "the operator can set INGEST_URL_ALLOW_PRIVATE to fetch on-premise data"
    raise SourceError(f"{subject} {article} {kind} address, not a public one; {remedy}")


def address_kind(ip: Address) -> str | None:
    """The kind of non-public address ``ip`` is ("loopback", "private", ...); None if public."""
    if ip in _METADATA:
        return "cloud metadata"
    if ip.version == 6:
        # Mapped, NAT64, 6to4 and Teredo addresses lead to the IPv4 addresses they carry.
        for inner in _carried_ipv4(ip):
            if (kind := address_kind(inner)) is not None:
                return kind
        # Public when what it carries is; the rest of the local-use block stays reserved.
        if ip.ipv4_mapped or ip in _NAT64 or ip in _LOCAL_NAT64_96:
            return None
    checks = [
        ("unspecified", ip.is_unspecified or ip in _THIS_NETWORK),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private or ip in _SHARED or not ip.is_global),
    ]
    return next((kind for kind, matches in checks if matches), None)


def _carried_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo), in that order."""
    nat64 = None
    if ip in _NAT64 or ip in _LOCAL_NAT64:
        nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    candidates = (ip.ipv4_mapped, nat64, ip.sixtofour, *(ip.teredo or ()))
    return [inner for inner in candidates if inner is not None]
