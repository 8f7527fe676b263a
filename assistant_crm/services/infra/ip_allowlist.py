"""The webhook IP allow-list (setting ``webhook_ip_allowlist``).

One IP address or CIDR network per line or separated by commas; ``#`` starts a
comment. An empty list allows every address (the platforms' own signatures
still apply). IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``) match their IPv4 form.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re

from assistant_crm.services.infra.errors import PermissionDenied

log = logging.getLogger("assistant_crm.ip_allowlist")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=16)
def parse(text: str) -> tuple[Network, ...]:
    """Parse the setting's text; invalid entries are skipped with a warning so a
    typo cannot lock every platform out silently (it is logged instead)."""
    networks: list[Network] = []
    for raw_line in (text or "").splitlines():
        line = raw_line.split("#", 1)[0]
        for entry in re.split(r"[,\s]+", line):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                log.warning("webhook_ip_allowlist: ignoring invalid entry %r", entry[:60])
    return tuple(networks)


def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def is_allowed(remote_ip: str, allowlist_text: str) -> bool:
    """True when the list is empty or the address falls in one of its networks."""
    networks = parse(allowlist_text or "")
    if not networks:
        return True
    addr = _address(remote_ip)
    if addr is None:
        return False
    return any(addr.version == net.version and addr in net for net in networks)


def check(remote_ip: str, allowlist_text: str | None = None) -> None:
    """Raise :class:`PermissionDenied` (403) when ``remote_ip`` is not allowed.
    Reads the setting from the current runtime unless the text is given."""
    if allowlist_text is None:
        from assistant_crm.services.infra.ports import get_runtime

        allowlist_text = get_runtime().settings.str("webhook_ip_allowlist")
    if not is_allowed(remote_ip, allowlist_text):
        raise PermissionDenied(
            f"Source address {remote_ip or 'unknown'} is not in the webhook IP allow-list."
        )
