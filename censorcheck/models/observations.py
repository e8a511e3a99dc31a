"""What the probes observe, layer by layer: DNS queries, TCP connects, TLS and QUIC handshakes,
HTTP fetches. Part of the JSON contract (re-exported by ``censorcheck.models``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from censorcheck.models.base import IPText, Model

# Schema 1.6: when each operation started, as OONI's t0. One description for every observation.
StartOffset = Annotated[
    float | None,
    Field(
        description="Seconds from the start of the target's measurement to the start of this "
        "operation; null in documents before schema 1.6 and in what a control server, OONI "
        "helper or control vantage observed."
    ),
]

# --- DNS -----------------------------------------------------------------------------------


class HTTPSRecord(Model):
    """One HTTPS record (DNS type 65, RFC 9460): how a site says it may be reached (schema 1.7)."""

    priority: int = Field(
        description="0: AliasMode (the name is an alias of `target`); else ServiceMode, the "
        "lowest value preferred."
    )
    target: str = Field(description="TargetName; '.' stands for the name asked about itself.")
    alpn: list[str] = Field(default_factory=list, description="Protocols offered (h3, h2, ...).")
    port: int | None = Field(None, description="The port those protocols are served on.")
    ipv4hint: list[str] = Field(default_factory=list)
    ipv6hint: list[str] = Field(default_factory=list)
    ech: bool = Field(False, description="Whether the record carries an ECH configuration.")


class DNSAnswer(Model):
    """One DNS response as received."""

    rcode: str = Field(description="Response code name: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...")
    addresses: list[IPText] = Field(default_factory=list, description="A/AAAA data in the answer.")
    cnames: list[str] = Field(default_factory=list, description="CNAME chain, in answer order.")
    ttl: int | None = Field(None, description="Smallest TTL of the records of the asked type.")
    t: float = Field(description="Seconds from sending the query to receiving this response.")
    records: list[HTTPSRecord] = Field(
        default_factory=list, description="An HTTPS query's records (schema 1.7)."
    )


class DNSQuery(Model):
    """One question (host, type) put to one resolver, with the answer that counted."""

    resolver: str = Field(description="Resolver URI (a control server's: control-N, system).")
    hostname: str
    qtype: Literal["A", "AAAA", "HTTPS"] = Field(
        description="HTTPS only in a result's `dns_https` (schema 1.7)."
    )
    failure: str | None = Field(None, description="Stable failure code; null on a NOERROR answer.")
    answer: DNSAnswer | None = Field(None, description="The first response received.")
    late_answers: list[DNSAnswer] = Field(
        default_factory=list,
        description="Further responses to the same UDP query that differ from the first: "
        "two different answers to one query are evidence of injection.",
    )
    t: float = Field(description="Seconds until the first response or the failure.")
    t0: StartOffset = None


# --- TCP / TLS -----------------------------------------------------------------------------


class TCPConnect(Model):
    """A TCP connection attempt to one address."""

    address: IPText
    port: int
    failure: str | None = None
    skipped: str | None = Field(None, description="Why no attempt was made (e.g. no IPv6).")
    t: float = 0.0
    t0: StartOffset = None


class Certificate(Model):
    """One certificate of a chain as presented by the peer (leaf first)."""

    subject: str
    issuer: str
    sans: list[str] = Field(default_factory=list, description="DNS names and IPs of the SAN.")
    not_before: str
    not_after: str
    sha256: str = Field(description="SHA-256 of the DER encoding, lower-case hex.")
    der: str | None = Field(
        None,
        description="The DER encoding, base64 (schema 1.6); null for a certificate past the "
        "first four of a chain or larger than 16 KiB, and in older documents.",
    )


class TLSHandshake(Model):
    """A TLS handshake on an address that accepted TCP."""

    address: IPText
    port: int
    sni: str = Field(description="Server name sent in the ClientHello.")
    failure: str | None = None
    t: float = 0.0
    t0: StartOffset = None
    version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    chain: list[Certificate] = Field(default_factory=list)
    trusted: bool | None = Field(
        None, description="Chain validated for the target host against the trust store."
    )
    validation_error: str | None = Field(
        None, description="OpenSSL's reason when the chain did not validate."
    )
    neutral: TLSHandshake | None = Field(
        None,
        description="A handshake on the same address with a neutral SNI, made when the first "
        "failed. Here `trusted` means: a trusted chain whose leaf is valid for the target host.",
    )
    repeat: TLSHandshake | None = Field(
        None,
        description="The same handshake on a fresh connection, made when the first failed for "
        "a network reason: a transient loss passes, a block fails the same way again.",
    )


# --- HTTP ----------------------------------------------------------------------------------


class Transfer(Model):
    """How the body arrived: enough to tell a slow server from a throttled or frozen one.

    Bytes are counted as they came off the connection (before any content decoding), over the
    first 512 KiB of the body or the whole body, whichever ends first.
    """

    ttfb: float = Field(description="Seconds from sending the request to the response head.")
    sample_bytes: int = Field(description="Body bytes received within the sample.")
    sample_seconds: float = Field(description="Seconds from the head to the sample's last byte.")
    throughput: float | None = Field(
        None,
        description="sample_bytes / sample_seconds in bytes per second; null when too "
        "little arrived, or too fast, to time.",
    )
    points: list[tuple[float, int]] = Field(
        default_factory=list,
        description="(seconds after the head, bytes so far) at the chunks that took the body "
        "past 16, 32, 64, 128, 256 and 512 KiB, and at its last byte.",
    )
    complete: bool = Field(description="The body ended within the sample.")
    cut_after_bytes: int | None = Field(
        None,
        description="When the read gave up (its timeout) before the sample was full: the "
        "bytes received by then.",
    )
    silence_seconds: float | None = Field(
        None,
        description="With cut_after_bytes: the seconds without a byte before the read gave "
        "up. Long for a frozen connection, short for a throttled one still trickling.",
    )


class HTTPResponse(Model):
    """What came back on one request, bounded."""

    status: int
    protocol: str | None = Field(
        None, description="The HTTP version spoken: HTTP/1.1, or HTTP/2 when ALPN chose h2."
    )
    headers: list[tuple[str, str]] = Field(description="Header (name, value) pairs in order.")
    title: str | None = None
    body_length: int = Field(description="Bytes of (decoded) body read.")
    body_truncated: bool = Field(False, description="True when the read limit cut the body.")
    body_sha256: str
    body_prefix: str = Field("", description="The body's first bytes, decoded, scrubbed of IPs.")
    fingerprint: str | None = Field(None, description="Id of the blockpage fingerprint matched.")
    transfer: Transfer | None = None


class QUICHandshake(Model):
    """A QUIC handshake (ALPN h3) on one address, over UDP."""

    address: IPText
    port: int
    sni: str = Field(description="Server name sent in the Initial's ClientHello.")
    failure: str | None = None
    t: float = 0.0
    t0: StartOffset = None
    version: str | None = Field(None, description="QUIC version negotiated: 1 or 2.")
    alpn: str | None = None
    chain: list[Certificate] = Field(default_factory=list)
    trusted: bool | None = Field(
        None, description="Chain validated for the target host against the trust store."
    )
    validation_error: str | None = Field(
        None, description="The QUIC stack's reason when the chain did not validate."
    )
    neutral: QUICHandshake | None = Field(
        None,
        description="A handshake on the same address with a neutral SNI (chain not checked), "
        "made when the first failed.",
    )


class QUICFetch(Model):
    """HTTP/3 at one address: the handshake, then one GET (no redirects followed)."""

    address: IPText
    port: int
    skipped: str | None = Field(None, description="Why nothing was sent (a proxy, a bogon).")
    handshake: QUICHandshake | None = None
    response: HTTPResponse | None = None
    failure: str | None = None


class HTTPHop(Model):
    """One request of a redirect chain, measured like the first."""

    url: str
    address: IPText | None = None
    dns: list[DNSQuery] = Field(
        default_factory=list, description="Lookups made for this hop's host when it is new."
    )
    tcp: TCPConnect | None = None
    tls: TLSHandshake | None = None
    failure: str | None = None
    response: HTTPResponse | None = None
    t: float = 0.0
    t0: StartOffset = None
    request_headers: list[tuple[str, str]] = Field(
        default_factory=list,
        description="The request's headers (name, value) in the order given to the HTTP client "
        "(over HTTP/2 it sends Host as :authority, lower-cased); schema 1.6.",
    )
    repeat: HTTPHop | None = Field(
        None,
        description="When the body stopped arriving mid-way: the same request on a fresh "
        "connection to the same address, to tell a freeze that happens every time from a "
        "passing loss (schema 1.5).",
    )


class HTTPFetch(Model):
    """A GET with its redirects, through addresses the probe resolved itself."""

    hops: list[HTTPHop] = Field(default_factory=list)
    failure: str | None = Field(None, description="Failure of the last hop, if any.")
    neutral: HTTPHop | None = Field(
        None,
        description="For plain-HTTP targets whose request failed: the same request with a "
        "neutral Host header on the same address.",
    )


TLSHandshake.model_rebuild()
