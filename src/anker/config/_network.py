"""Network values: host names and addresses, IP addresses, and URLs."""

from __future__ import annotations

from anker.config._kinds import BadValue, Kind

__all__ = ["HostAddress", "HostKind", "IPKind", "URLKind"]


class HostAddress(str):
    """A host name (RFC 1123) or an IPv4/IPv6 address."""

    __slots__ = ()


class HostKind(Kind):
    __slots__ = ()

    def describe(self) -> str:
        return "a host name or IP address"

    def convert(self, raw: object) -> object:
        if not isinstance(raw, str):
            raise self.fail(raw)
        text = raw.strip()
        if _is_ip(text) or _is_hostname(text):
            return HostAddress(text)
        raise self.fail(raw)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_hostname(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-")
    for label in name.split("."):
        if not 0 < len(label) <= 63 or label[0] == "-" or label[-1] == "-":
            return False
        if not set(label.lower()) <= allowed:
            return False
    return True


class IPKind(Kind):
    __slots__ = ("versions",)

    def __init__(self, versions: tuple[int, ...]) -> None:
        self.versions = versions

    def describe(self) -> str:
        names = " or ".join(f"IPv{v}" for v in self.versions)
        return f"an {names} address"

    def convert(self, raw: object) -> object:
        import ipaddress

        if isinstance(raw, ipaddress.IPv4Address | ipaddress.IPv6Address):
            address = raw
        elif isinstance(raw, str):
            try:
                address = ipaddress.ip_address(raw.strip())
            except ValueError:
                raise self.fail(raw) from None
        else:
            raise self.fail(raw)
        if address.version not in self.versions:
            raise self.fail(raw)
        return address


class URLKind(Kind):
    __slots__ = ("schemes",)

    def __init__(self, schemes: tuple[str, ...] | None) -> None:
        self.schemes = schemes

    def describe(self) -> str:
        if self.schemes:
            return "a URL with scheme " + " or ".join(f"'{s}://'" for s in self.schemes)
        return "a URL (scheme://...)"

    def convert(self, raw: object) -> object:
        from anker._url import BackendURL, parse_url
        from anker.errors import InvalidURL

        if isinstance(raw, BackendURL):
            url = raw
        elif isinstance(raw, str):
            try:
                url = parse_url(raw.strip())
            except InvalidURL as exc:
                raise BadValue(f"expected {self.describe()}: {exc.reason}") from None
        else:
            raise self.fail(raw)
        if self.schemes and url.scheme not in self.schemes:
            raise BadValue(f"expected {self.describe()}, got '{url.scheme}://'")
        return url

    def to_text(self, value: object) -> str:
        return value.render(mask=True)  # type: ignore[attr-defined, no-any-return]
