"""Property: no option value makes a command crash. Resolver URIs, --control, --proxy,
--source-address, --treat-as-public, --port-map, --listen, --every/--repeat and the settings they
build each parse, or end the command with one line and exit code 2."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from censorcheck.cli.common import parse_port_map
from censorcheck.cli.control import parse_listen
from censorcheck.errors import ConfigError
from censorcheck.measure.probes.dns import parse_resolver
from censorcheck.settings import Settings, choose_control
from censorcheck.unattended.schedule import parse_duration
from tests.fuzz.bounds import loads_or_user_error
from tests.fuzz.inputs import PIECES, awkward_text

SCHEMES = ("udp://", "tcp://", "tls://", "https://", "UDP://", "http://", "doh://", "")
HOSTS = (
    "192.0.2.53", "[2001:db8::53]", "2001:db8::53", "[::ffff:192.0.2.1]", "[fe80::1%eth0]",
    "dns.example", "xn--zz.example", "☃.example", "a..b", "", "[192.0.2.1]", "[::1",
    "user@192.0.2.1",
)  # fmt: skip
PORTS = ("", ":53", ":0", ":65535", ":65536", ":-1", ":99999999999999999999", ":٥٣", ":", ":0x35")
PATHS = ("", "/", "/dns-query", "/a?b=c", "#f", "/%00", "/" + "a" * 3000)


def option_value() -> st.SearchStrategy[str]:
    """A value as typed on a command line: assembled from URI parts, or awkward text."""
    uri = st.tuples(
        st.sampled_from(SCHEMES), st.sampled_from(HOSTS), st.sampled_from(PORTS),
        st.sampled_from(PATHS),
    ).map("".join)  # fmt: skip
    return st.one_of(uri, awkward_text(max_pieces=6), st.sampled_from(PIECES))


@given(text=option_value())
@example(text="udp://[2001:db8::53")
@example(text="https://dns.example:99999999999999999999999/dns-query")
def test_resolver_uris(text: str) -> None:
    loads_or_user_error(lambda: parse_resolver(text))


def _control(text: str, environ: dict[str, str]) -> Settings:
    """--control as ``run`` takes it: chosen, then checked by the settings model."""
    try:
        chosen = choose_control(text, environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return Settings(control_url=chosen.control_url, resolvers=["udp://192.0.2.53"])


@given(text=option_value(), from_env=st.booleans())
@example(text="ooni:", from_env=False)
@example(text="vantage:", from_env=True)
@example(text="\x00\n", from_env=False)
@example(text="ooni:[/],[bold]x", from_env=False)
def test_control_option(text: str, from_env: bool) -> None:
    environ = {"CENSORCHECK_CONTROL": text} if from_env else {}
    loads_or_user_error(lambda: _control(None if from_env else text, environ))  # type: ignore[arg-type]


SETTINGS_FIELDS = ("proxy", "source_address", "treat_as_public", "control_url", "neutral_sni")


@given(field=st.sampled_from(SETTINGS_FIELDS), text=option_value())
@example(field="treat_as_public", text="192.0.2.0/33")
@example(field="proxy", text="socks5://[::1]:99999999999")
def test_settings_options(field: str, text: str) -> None:
    value: object = [text] if field == "treat_as_public" else text
    resolvers = ["https://dns.example/dns-query"] if field == "proxy" else ["udp://192.0.2.53"]
    loads_or_user_error(lambda: Settings(**{field: value, "resolvers": resolvers}))


@given(values=st.lists(option_value(), max_size=4))
@example(values=["443=" + "9" * 5000])
@example(values=["0=0", "443=65536"])
def test_port_map(values: list[str]) -> None:
    loads_or_user_error(lambda: Settings(port_map=parse_port_map(values)))


@given(text=option_value())
@example(text="[::1]:" + "9" * 5000)
def test_listen(text: str) -> None:
    loads_or_user_error(lambda: parse_listen(text))


@given(text=st.one_of(option_value(), st.from_regex(r"(\d{1,30}\s*[smhdx]\s*){0,6}")))
@example(text="9" * 5000 + "d")
@example(text="0s")
def test_durations(text: str) -> None:
    loads_or_user_error(lambda: parse_duration(text, "--every"))
