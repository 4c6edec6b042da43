"""Rate limits, counted in the one shared cache so every web process sees the same counts.

Each try takes a slot first (`take`: an atomic cache.add + cache.incr) and is refused when the
count passes the limit, so concurrent tries across gunicorn workers can't slip past a check
that read a stale count. A try that turns out fine gives its slot back (`give_back`) or clears
the counter (`clear`). Keys are hashed: no username or address is stored in the cache.

The client's address comes from `client_ip`: the direct peer, unless that peer is one of
TURNAROUND_TRUSTED_PROXIES, in which case the right-most address in
TURNAROUND_CLIENT_IP_HEADER that is not a trusted proxy is the client.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Limit:
    name: str
    allowed: int  # tries in one window; the next one is refused
    window: int  # seconds, counted from the first try

    @property
    def minutes(self) -> int:
        return self.window // 60


# The figures (docs/security.md lists them).
LOGIN_PER_USERNAME = Limit("login-user", allowed=5, window=15 * 60)  # per username + address
LOGIN_PER_ADDRESS = Limit("login-addr", allowed=20, window=15 * 60)  # any username
SHARE_PER_ADDRESS = Limit("share-addr", allowed=10, window=15 * 60)  # wrong tokens/passwords


def _key(limit: Limit, parts: tuple[str, ...]) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return f"turnaround:limit:{limit.name}:{digest}"


def take(limit: Limit, *parts: str) -> bool:
    """Count one try; False when it is over the limit (the try must be refused)."""
    key = _key(limit, parts)
    if cache.add(key, 1, limit.window):
        return True
    try:
        count = cache.incr(key)
    except ValueError:  # the window ended between add and incr: this try opens a new one
        cache.add(key, 1, limit.window)
        return True
    if count == 1:  # Redis re-created a key that expired after the existence check: no TTL
        cache.touch(key, limit.window)
    return count <= limit.allowed


def give_back(limit: Limit, *parts: str) -> None:
    """Return the slot a try took, when the try turned out to be fine."""
    key = _key(limit, parts)
    try:
        if cache.decr(key) <= 0:
            cache.delete(key)  # never leave a zero or negative count without a window
    except ValueError:
        pass  # the window ended meanwhile: nothing to give back


def clear(limit: Limit, *parts: str) -> None:
    cache.delete(_key(limit, parts))


# --- the client's address --------------------------------------------------------------------


@functools.cache
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(text: str) -> Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # [v6]:port
        text = text[1 : text.find("]")] if "]" in text else text
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str:
    peer_text = request.META.get("REMOTE_ADDR", "") or "unknown"
    networks = _networks(tuple(settings.TURNAROUND_TRUSTED_PROXIES))
    peer = _address(peer_text)
    if not networks or peer is None or not _trusted(peer, networks):
        return peer_text  # the header is anyone's to write: believe only a trusted proxy's
    meta = "HTTP_" + settings.TURNAROUND_CLIENT_IP_HEADER.upper().replace("-", "_")
    client = peer
    for hop in reversed(request.META.get(meta, "").split(",")):
        address = _address(hop)
        if address is None:
            break  # unreadable: stop at the last hop a trusted proxy vouched for
        client = address
        if not _trusted(address, networks):
            break  # the right-most untrusted hop: what our own proxies saw connect
    return str(client)
