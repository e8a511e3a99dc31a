"""The lab's scenario table: one row per censorship technique or false-positive trap.

Each row says how the lab misbehaves for one host name and which verdict a correct probe reaches
from the censored vantage: with the honest resolver as control (``expect``), and with the lab's
control server instead (``expect_control``, when that differs), and with that server spoken to as an
OONI test helper (``expect_ooni`` and its ``ooni_reason``, when the helper's answer carries too
little for ``expect_control``). Rows whose site advertises HTTP/3 also say which QUIC verdict a run
with ``--quic auto`` reaches (``expect_quic``, and ``expect_quic_control`` with the control
server); the others expect none, since no QUIC is tried. Adding a technique is adding a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How the censored ("ISP") resolver answers for the name; the honest one tells the truth, or
# (``nxdomain_blind``) nothing at all.
DNSBehaviour = Literal[
    "honest",
    "nxdomain",  # NXDOMAIN
    "refused",  # REFUSED
    "servfail",  # SERVFAIL
    "zero",  # A 0.0.0.0
    "loopback",  # A 127.0.0.1
    "blockpage",  # A of the lab's blockpage server
    "notice",  # A of the ISP's notice server, whose page no fingerprint knows
    "silence",  # no answer at all
    "inject",  # the blockpage address at once, then the true answer a little later
    "alternate",  # a second, legitimate address of the same site (a CDN edge)
    "nxdomain_everywhere",  # both resolvers say NXDOMAIN: the site is gone for everyone
    "nxdomain_blind",  # NXDOMAIN, and the honest resolver never answers: no control can see it
    "strip_https",  # the truth for A and AAAA; an HTTPS (type 65) query gets no record
]

# What the real server behind the name does, for everyone.
Service = Literal[
    "static",  # the same small page every time
    "dynamic",  # a page whose tokens, timestamp and rotating block change on every request
    "redirect",  # http:// answers 301 to https://, which serves the static page
    "huge",  # a 64 MiB body
    "tarpit",  # accepts, then trickles the response a byte at a time
    "slow",  # a 160 KiB page at about 130 kB/s, for everyone: slow, and whole within a timeout
    "selfsigned",  # a certificate from a CA nobody trusts, for everyone
    "blockpage",  # the censor's blockpage server (and its generic warning page)
    "notice",  # the ISP's notice server: a notice no fingerprint knows, whatever the name
    "dead",  # an address where nothing listens: every connection is refused
]

# What the on-path censor does to traffic from the censored vantage that names this host.
WebCensor = Literal[
    "sni_reset",  # TCP RST right after a ClientHello whose SNI is the name
    "sni_stall",  # silence after a ClientHello whose SNI is the name
    "mitm",  # completes TLS itself with a certificate from an interception CA
    "http_reset",  # TCP RST after a plain-HTTP request whose Host is the name
    "http_blockpage",  # answers a plain-HTTP request for the name with the blockpage
    "http_generic",  # answers it with a generic notice that no fingerprint knows
    "http_redirect",  # answers it with a 302 to the warning page (WARNING_NAME)
    "quic_sni_drop",  # drops QUIC Initials whose ClientHello names the host
    "udp_drop",  # drops every datagram to the site's address (the site has an address of its own)
]

# Whether the site speaks HTTP/3: not at all, on UDP at its https port with an ``Alt-Svc: h3``
# advertisement, (``stale``) advertising it while nothing listens on UDP, for everyone, or
# (``h3_record``) serving it and saying so only in its HTTPS DNS record (RFC 9460), not Alt-Svc.
QUICService = Literal["none", "h3", "stale", "h3_record"]


@dataclass(frozen=True)
class Expect:
    """The verdict a correct probe reaches."""

    status: Literal["accessible", "blocked", "down", "inconclusive"]
    blocking: Literal["dns", "tcp", "tls", "http", "quic"] | None
    outcome: str


@dataclass(frozen=True)
class Scenario:
    """One row: a host name's behaviour in the lab and the verdict it must get."""

    name: str
    scheme: Literal["http", "https"]
    service: Service
    expect: Expect  # with only the honest resolver as control
    dns: DNSBehaviour = "honest"
    censor: WebCensor | None = None
    aaaa: bool = False  # also publish an AAAA record (the lab runs with IPv6 off)
    description: str = ""
    # With a control server, which sees the site itself, when that changes the verdict.
    expect_control: Expect | None = None
    # With the control server spoken to as an OONI test helper, when that changes the verdict:
    # its answer has no body, and no address the page came from.
    expect_ooni: Expect | None = None
    ooni_reason: str = ""
    quic: QUICService = "none"
    # The QUIC verdict with the honest resolver as control (None: no QUIC is tried), and with the
    # control server, when that differs. OONI's helpers measure no QUIC: as the resolvers.
    expect_quic: Expect | None = None
    expect_quic_control: Expect | None = None

    def expected_quic(self, control: bool, ooni: bool = False) -> Expect | None:
        """The QUIC verdict with ``--quic auto``, as ``expected`` says for the main one. An OONI
        helper asked with ``x_quic_enabled`` reports QUIC handshakes, which decide these rows as
        our own server's measurement does."""
        if control and self.expect_quic_control is not None:
            return self.expect_quic_control
        return self.expect_quic

    def expected(self, control: bool, ooni: bool = False) -> Expect:
        """The verdict with a control server (``control``; through the OONI protocol when
        ``ooni``) or with the honest resolver only."""
        if control and ooni and self.expect_ooni is not None:
            return self.expect_ooni
        if control and self.expect_control is not None:
            return self.expect_control
        return self.expect


ExpectRow = tuple[str, str | None, str]


def _expect(row: ExpectRow) -> Expect:
    status, blocking, outcome = row
    return Expect(status, blocking, outcome)  # type: ignore[arg-type]


def _row(
    name: str,
    scheme: Literal["http", "https"],
    service: Service,
    expect: ExpectRow,
    description: str,
    dns: DNSBehaviour = "honest",
    censor: WebCensor | None = None,
    aaaa: bool = False,
    control: ExpectRow | None = None,
    ooni: tuple[ExpectRow, str] | None = None,
    quic: QUICService = "none",
    quic_expect: ExpectRow | None = None,
    quic_control: ExpectRow | None = None,
) -> Scenario:
    return Scenario(
        name=name,
        scheme=scheme,
        service=service,
        expect=_expect(expect),
        dns=dns,
        censor=censor,
        aaaa=aaaa,
        description=description,
        expect_control=_expect(control) if control is not None else None,
        expect_ooni=_expect(ooni[0]) if ooni is not None else None,
        ooni_reason=ooni[1] if ooni is not None else "",
        quic=quic,
        expect_quic=_expect(quic_expect) if quic_expect is not None else None,
        expect_quic_control=_expect(quic_control) if quic_control is not None else None,
    )


# Why a row expects less from an OONI test helper than from our own control server.
NO_BODY = (
    "the helper reports the page's length and title but no body, so the pages' content cannot be "
    "compared, and a different page is only unlike the helper's"
)
NO_ADDRESS = (
    "the helper's fetch names no address, so its timeout is not shown to be at the probe's address"
)

SCENARIOS: tuple[Scenario, ...] = (
    # --- DNS tampering ---------------------------------------------------------------------
    _row("dns-nxdomain", "https", "static", ("blocked", "dns", "dns.nxdomain"),
         "The ISP resolver denies the name exists.", dns="nxdomain"),
    _row("dns-refused", "https", "static", ("blocked", "dns", "dns.refused"),
         "The ISP resolver refuses the query.", dns="refused"),
    _row("dns-servfail", "https", "static", ("blocked", "dns", "dns.servfail"),
         "The ISP resolver answers SERVFAIL for this name only.", dns="servfail"),
    _row("dns-zero", "https", "static", ("blocked", "dns", "dns.bogon"),
         "The ISP resolver answers 0.0.0.0.", dns="zero"),
    _row("dns-loopback", "https", "static", ("blocked", "dns", "dns.bogon"),
         "The ISP resolver answers 127.0.0.1.", dns="loopback"),
    _row("dns-loopback-http", "http", "static", ("blocked", "dns", "dns.bogon"),
         "Plain-HTTP site whose name the ISP resolver answers with 127.0.0.1.", dns="loopback"),
    _row("dns-blockpage", "https", "static", ("blocked", "dns", "dns.inconsistent"),
         "The ISP resolver answers the blockpage server's address.", dns="blockpage"),
    _row("dns-blockpage-http", "http", "static", ("blocked", "dns", "dns.blockpage"),
         "Plain-HTTP site whose name resolves to the blockpage server.", dns="blockpage"),
    # The classic redirect to a notice server. The control resolvers alone cannot tell a notice
    # from a geo-DNS edge's page; the site's page that this vantage gets at the control's
    # address can (rules 5).
    _row("dns-notice-http", "http", "static", ("blocked", "dns", "dns.inconsistent"),
         "Plain-HTTP site whose name resolves to a notice server no fingerprint knows.",
         dns="notice"),
    _row("dns-silence", "https", "static", ("blocked", "dns", "dns.timeout"),
         "The ISP resolver never answers for this name.", dns="silence"),
    _row("dns-inject", "https", "static", ("blocked", "dns", "dns.injected"),
         "A forged answer races the true one.", dns="inject"),
    # --- TLS interference ------------------------------------------------------------------
    _row("tls-sni-reset", "https", "static", ("blocked", "tls", "tls.sni_blocking"),
         "RST after a ClientHello naming the host.", censor="sni_reset"),
    _row("tls-sni-stall", "https", "static", ("blocked", "tls", "tls.sni_blocking"),
         "Silence after a ClientHello naming the host.", censor="sni_stall"),
    _row("tls-mitm", "https", "static", ("blocked", "tls", "tls.mitm"),
         "An interception CA signs a certificate for the host.", censor="mitm"),
    # --- HTTP interference -----------------------------------------------------------------
    _row("http-reset", "http", "static", ("blocked", "http", "http.reset"),
         "RST after a plain-HTTP request naming the host.", censor="http_reset"),
    _row("http-blockpage", "http", "static", ("blocked", "http", "http.blockpage"),
         "A blockpage instead of the site, for plain HTTP.", censor="http_blockpage"),
    # Without a control page there is nothing to compare an unknown notice with: a known limit.
    _row("http-generic-blockpage", "http", "static", ("accessible", None, "accessible"),
         "An ISP notice no fingerprint knows, instead of the site.", censor="http_generic",
         control=("blocked", "http", "http.diff"),
         ooni=(("inconclusive", None, "http.diff"), NO_BODY)),
    # The warning page is on a site of the censor's: nothing vouches for it (rules 4).
    _row("http-redirect-blockpage", "http", "static", ("inconclusive", None, "dns.unverified"),
         "A redirect to an ISP warning page no fingerprint knows.", censor="http_redirect",
         control=("blocked", "http", "http.diff"),
         ooni=(("inconclusive", None, "http.diff"), NO_BODY)),
    # --- HTTP/3 over QUIC: TCP passes, the main verdict is accessible -----------------------
    _row("quic", "https", "static", ("accessible", None, "accessible"),
         "Also serves HTTP/3, and says so (Alt-Svc).", quic="h3",
         quic_expect=("accessible", None, "accessible")),
    # Silence from everywhere is also what a site whose QUIC died looks like: only a control
    # that loaded it over HTTP/3 makes it blocking.
    _row("quic-udp-drop", "https", "static", ("accessible", None, "accessible"),
         "Every datagram from the censored vantage to the site's address is dropped.",
         censor="udp_drop", quic="h3", quic_expect=("inconclusive", None, "quic.timeout"),
         quic_control=("blocked", "quic", "quic.timeout")),
    _row("quic-sni-drop", "https", "static", ("accessible", None, "accessible"),
         "QUIC Initials whose ClientHello names the host are dropped.", censor="quic_sni_drop",
         quic="h3", quic_expect=("blocked", "quic", "quic.sni_blocking")),
    # Many CDNs announce HTTP/3 in DNS too, which browsers read before connecting: --quic auto
    # tries QUIC for this site because of its HTTPS record alone.
    _row("quic-https-record", "https", "static", ("accessible", None, "accessible"),
         "Serves HTTP/3 and says so only in its HTTPS DNS record (alpn h3), not in Alt-Svc.",
         quic="h3_record", quic_expect=("accessible", None, "accessible")),
    # A censor that strips the record hides QUIC from the probe, and changes nothing else.
    _row("quic-https-record-stripped", "https", "static", ("accessible", None, "accessible"),
         "As quic-https-record, but the ISP resolver answers its HTTPS query with no record.",
         quic="h3_record", dns="strip_https"),
    _row("quic-absent", "https", "static", ("accessible", None, "accessible"),
         "No HTTP/3: no Alt-Svc, nothing on UDP, so with --quic auto none is tried."),
    _row("quic-stale", "https", "static", ("accessible", None, "accessible"),
         "Advertises HTTP/3, but nothing listens on UDP, for anyone.", quic="stale",
         quic_expect=("inconclusive", None, "quic.refused"),
         quic_control=("down", None, "quic.refused")),
    # --- legitimate hosts: false-positive traps --------------------------------------------
    _row("static", "https", "static", ("accessible", None, "accessible"),
         "A plain site."),
    _row("static-http", "http", "static", ("accessible", None, "accessible"),
         "A plain site over plain HTTP."),
    _row("dynamic", "https", "dynamic", ("accessible", None, "accessible"),
         "Content changes on every request; that is not blocking."),
    _row("dynamic-http", "http", "dynamic", ("accessible", None, "accessible"),
         "Over plain HTTP, content and length change on every request; still not blocking."),
    _row("cdn", "https", "static", ("accessible", None, "accessible"),
         "The ISP resolver gives another edge address with a valid certificate.", dns="alternate"),
    _row("redirect", "http", "redirect", ("accessible", None, "accessible"),
         "http:// redirects to https://."),
    _row("huge", "https", "huge", ("accessible", None, "accessible"),
         "A 64 MiB body: read a bounded prefix, do not stall."),
    _row("huge-http", "http", "huge", ("accessible", None, "accessible"),
         "A 64 MiB body over plain HTTP: the same bounded prefix on both sides."),
    # Far slower than the vantage's other big pages, and for the control as slow: not
    # throttling, whatever the vantage's baseline says.
    _row("slow", "https", "slow", ("accessible", None, "accessible"),
         "A page that comes at about 130 kB/s, for everyone."),
    _row("slow-h3", "https", "slow", ("accessible", None, "accessible"),
         "The same slow page over TCP and over HTTP/3, for everyone.", quic="h3",
         quic_expect=("accessible", None, "accessible")),
    _row("ipv6-only-broken", "https", "static", ("accessible", None, "accessible"),
         "Publishes an AAAA but the vantage has no IPv6.", aaaa=True),
    _row("tarpit", "https", "tarpit", ("inconclusive", None, "http.timeout"),
         "Accepts and trickles: slow is not blocked.",
         control=("down", None, "http.timeout"),
         ooni=(("inconclusive", None, "http.timeout"), NO_ADDRESS)),
    _row("selfsigned", "https", "selfsigned", ("inconclusive", None, "tls.untrusted"),
         "The site's own untrusted certificate, the same for everyone.",
         control=("down", None, "tls.untrusted")),
    _row("gone", "https", "static", ("down", None, "dns.nxdomain"),
         "The name does not exist for anyone.", dns="nxdomain_everywhere"),
    _row("down-everywhere", "https", "dead", ("inconclusive", None, "tcp.refused"),
         "Every connection is refused, from everywhere.",
         control=("down", None, "tcp.refused")),
    # --- beyond any control ----------------------------------------------------------------
    _row("control-blind", "https", "static", ("inconclusive", None, "dns.nxdomain"),
         "NXDOMAIN, and the control's resolver cannot see the name at all.",
         dns="nxdomain_blind"),
)  # fmt: skip

# The shipped Kazakhstan list, each name given a behaviour like the one it met in December 2011
# or since (Twitter cut off, Guljan.org and the workers' site blocked, Respublika attacked,
# Facebook reachable). Used by `censorcheck demo`.
DEMO: dict[str, str] = {
    "twitter.com": "tls-sni-reset",
    "x.com": "tls-sni-stall",
    "guljan.org": "dns-nxdomain",
    "respublika-kz.info": "gone",
    "respublika.kz.media": "tls-mitm",
    "socialismkz.info": "http-blockpage",
    "www.facebook.com": "static",
    "facebook.com": "static",
}

BY_NAME: dict[str, Scenario] = {s.name: s for s in SCENARIOS}
LAB_DOMAIN = "lab.test"
# Where ``http_redirect`` sends the censored: a page on the blockpage server, in both resolvers. It
# is on a site of its own, as an ISP's warning page is, not under the blocked site's domain.
WARNING_NAME = "warning.isp-notice.test"
