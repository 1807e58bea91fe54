"""Where a subscription's notifications may go, and posting them there without being turned
against the hospital's own network (server-side request forgery).

An endpoint is an ``https`` URL (``http`` only where ``allow_http``) whose host resolves only
to public unicast addresses: private, loopback, link-local (cloud metadata services live at
169.254.169.254), multicast, reserved, unspecified and unique-local addresses are refused
unless ``allow_private`` (private, loopback and unique-local only) or one of
``allowed_networks`` lets them. The check runs when the subscription is made and again at
every delivery, and the POST connects to the very address that was checked (the Host header,
TLS SNI and certificate check still use the host name): a name that resolves to a public
address at the check and to an internal one at the connection (DNS rebinding) is never
followed there. Redirects are not followed; every request has a timeout.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port -> the addresses it resolves to
Resolver = Callable[[str, int], Sequence[str]]


class EndpointRefused(ValueError):
    """An endpoint notifications may not be sent to; the message says why, for the app."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class EndpointRules:
    allow_http: bool = False
    allow_private: bool = False
    allowed_networks: tuple[Network, ...] = ()
    resolve: Resolver = field(default=system_resolver)

    @classmethod
    def of(cls, settings: Any, resolve: Resolver | None = None) -> EndpointRules:
        return cls(
            allow_http=bool(settings.subscription_allow_http),
            allow_private=bool(settings.subscription_allow_private),
            allowed_networks=parse_networks(settings.subscription_allowed_networks),
            resolve=resolve or system_resolver,
        )

    def address_refusal(self, address: Address) -> str | None:
        """Why notifications may not go to ``address`` (None: they may)."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.address_refusal(address.ipv4_mapped)
        if any(address in network for network in self.allowed_networks):
            return None
        if address.is_multicast or address.is_unspecified:
            return "a multicast or unspecified address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_loopback or address.is_private:
            return None if self.allow_private else "a private or loopback address"
        if address.is_reserved or not address.is_global:
            return "a reserved address"
        return None

    def check(self, url: str) -> tuple[str, int, str]:
        """The endpoint's host, port and the address to connect to, or ``EndpointRefused``."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise EndpointRefused("channel.endpoint is not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http") or not parts.hostname:
            raise EndpointRefused("channel.endpoint must be an absolute https URL")
        if scheme == "http" and not self.allow_http:
            raise EndpointRefused("channel.endpoint must use https")
        if parts.username is not None or parts.password is not None:
            raise EndpointRefused("channel.endpoint must not carry credentials; use channel.header")
        if parts.fragment:
            raise EndpointRefused("channel.endpoint must not have a fragment")
        host = parts.hostname
        port = port or (443 if scheme == "https" else 80)
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        found = [host] if literal is not None else list(self.resolve(host, port))
        if not found:
            raise EndpointRefused("channel.endpoint's host does not resolve")
        addresses: list[Address] = []
        for raw in found:
            try:
                addresses.append(ipaddress.ip_address(raw.split("%", 1)[0]))
            except ValueError:
                raise EndpointRefused("channel.endpoint's host does not resolve") from None
        for address in addresses:
            why = self.address_refusal(address)
            if why is not None:
                raise EndpointRefused(
                    f"channel.endpoint resolves to {why}, where notifications are not sent"
                )
        return host, port, str(addresses[0])


class _Pinned(HTTPAdapter):
    """Connects to the checked address while TLS still names (and verifies) the host."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **kw: Any
    ) -> None:
        kw.update(server_hostname=self.hostname, assert_hostname=self.hostname)
        super().init_poolmanager(connections, maxsize, block, **kw)


@dataclass(frozen=True)
class Posted:
    status: int


def post(
    rules: EndpointRules,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
) -> Posted:
    """POST ``body`` to ``url`` once, checked (``EndpointRefused``) and pinned to the checked
    address; raises ``requests.RequestException`` when the endpoint cannot be reached."""
    host, port, address = rules.check(url)
    parts = urlsplit(url)
    shown = f"[{address}]" if ":" in address else address
    target = urlunsplit((parts.scheme, f"{shown}:{port}", parts.path or "/", parts.query, ""))
    default_port = 443 if parts.scheme.lower() == "https" else 80
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: the address is the one checked
        if parts.scheme.lower() == "https":
            session.mount("https://", _Pinned(host))
        answer = session.post(
            target,
            data=body,
            headers={**headers, "Host": host_header},
            timeout=(min(timeout_s, 10.0), timeout_s),
            allow_redirects=False,
        )
        answer.close()
    return Posted(answer.status_code)


def parse_networks(raw: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in raw if item.strip())
