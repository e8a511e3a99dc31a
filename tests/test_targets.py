"""Target lists: the three formats, URL normalisation, merging, and every one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from censorcheck.errors import TargetError
from censorcheck.lab.scenarios import DEMO
from censorcheck.measure.targets import load_targets, normalise_url, shipped_list
from censorcheck.models import Target

REPO = Path(__file__).resolve().parent.parent


def load(tmp_path: Path, name: str, text: str | bytes) -> list[Target]:
    """Write one list file into tmp_path and load it by its relative name."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return load_targets([name], base=tmp_path)


# --- normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://example.com", "https://example.com/"),
        ("HTTP://Example.COM/Path", "http://example.com/Path"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/", "https://example.com/"),
        ("http://example.com:443/", "http://example.com:443/"),
        ("https://example.com:8443", "https://example.com:8443/"),
        ("https://example.com:/", "https://example.com/"),
        ("https://example.com/a?b=1&c=2#frag", "https://example.com/a?b=1&c=2"),
        ("https://example.com/?", "https://example.com/"),
        ("https://example.com./", "https://example.com/"),
        ("https://münchen.de/", "https://xn--mnchen-3ya.de/"),
        ("https://MÜNCHEN.DE/", "https://xn--mnchen-3ya.de/"),
        ("https://xn--mnchen-3ya.de/", "https://xn--mnchen-3ya.de/"),
        ("https://жанаозен.kz/", "https://xn--80aapbh8adf.kz/"),
        ("https://example.com/straße?q=ä", "https://example.com/stra%C3%9Fe?q=%C3%A4"),
        ("https://example.com/%7Efoo", "https://example.com/%7Efoo"),
        ("http://192.0.2.1/", "http://192.0.2.1/"),
        ("http://[2001:DB8:0::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("https://localhost/", "https://localhost/"),
    ],
)
def test_normalise_url(text: str, url: str) -> None:
    assert normalise_url(text) == url


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("htps://x.com", "scheme must be http or https"),
        ("ftp://x.com/", "scheme must be http or https"),
        ("https://user:pw@x.com/", "it contains credentials; remove the part up to '@'"),
        ("https://user@x.com/", "it contains credentials; remove the part up to '@'"),
        ("https://", "it has no host"),
        ("http:///path", "it has no host"),
        ("https://exa mple.com/", "it contains spaces"),
        ("https://x.com/a\\b", "it contains a backslash or a control character"),
        ("https://x.com:0/", "bad port '0'"),
        ("https://x.com:65536/", "bad port '65536'"),
        ("https://x.com:http/", "bad port 'http'"),
        ("https://a_b.com/", "host 'a_b.com' is not a valid domain name"),
        ("https://a..com/", "host 'a..com' is not a valid domain name"),
        ("https://-a.com/", "host '-a.com' is not a valid domain name"),
        ("https://1.2.3/", "host '1.2.3' is not a valid IPv4 address"),
        ("https://1.2.3.256/", "host '1.2.3.256' is not a valid IPv4 address"),
        ("https://[::1/", "an IPv6 address must be closed with ']'"),
        (
            "https://[fe80::1%25eth0]/",
            "'[fe80::1%25eth0]' has a zone index, which only means something locally",
        ),
    ],
)
def test_normalise_url_refuses(text: str, reason: str) -> None:
    with pytest.raises(TargetError) as caught:
        normalise_url(text)
    assert str(caught.value) == f"{text!r} is not a valid URL ({reason})"


def test_domain_is_the_bare_host() -> None:
    (v6,) = load_targets(["http://[2001:db8::1]:8080/"])
    (idn,) = load_targets(["münchen.de"])
    assert (v6.domain, idn.domain, idn.url) == (
        "2001:db8::1",
        "xn--mnchen-3ya.de",
        "https://xn--mnchen-3ya.de/",
    )


# --- formats -------------------------------------------------------------------------------

YAML_LIST = """\
name: test
description: A list for the tests.
targets:
  - twitter.com
  - https://Guljan.org
  - url: http://respublika-kz.info/
    category: NEWS
    note: Opposition paper.
    expect: down
  - url: www.facebook.com
"""


def test_yaml_format(tmp_path: Path) -> None:
    assert load(tmp_path, "list.yaml", YAML_LIST) == [
        Target(url="https://twitter.com/", domain="twitter.com"),
        Target(url="https://guljan.org/", domain="guljan.org"),
        Target(
            url="http://respublika-kz.info/",
            domain="respublika-kz.info",
            category="NEWS",
            note="Opposition paper.",
            expect="down",
        ),
        Target(url="https://www.facebook.com/", domain="www.facebook.com"),
    ]


def test_yml_suffix_is_yaml(tmp_path: Path) -> None:
    assert len(load(tmp_path, "list.yml", YAML_LIST)) == 4


CSV_LIST = """\
url,category_code,category_description,date_added,source,notes
http://guljan.org,POLR,Political Criticism,2014-04-15,citizenlab,
https://x.com/,GRP,Social Networking,2024-01-01,citizenlab,"Twitter, renamed"

http://socialismkz.info,POLR,Political Criticism,2014-04-15,citizenlab,"two
lines"
"""


def test_csv_format(tmp_path: Path) -> None:
    assert load(tmp_path, "kz.csv", CSV_LIST) == [
        Target(url="http://guljan.org/", domain="guljan.org", category="POLR"),
        Target(url="https://x.com/", domain="x.com", category="GRP", note="Twitter, renamed"),
        Target(
            url="http://socialismkz.info/",
            domain="socialismkz.info",
            category="POLR",
            note="two\nlines",
        ),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "\ufeffURL,Category_Code\nhttps://x.com/,GRP\n",  # byte-order mark, header case
        "url,category_code,extra\nhttps://x.com/,GRP,whatever\n",  # an extra column
        "notes,url,category_code\n,https://x.com/,GRP\n",  # other column order
        "url,category_code,notes\nhttps://x.com/,GRP\n",  # a short row
    ],
)
def test_csv_tolerates_column_variants(tmp_path: Path, text: str) -> None:
    assert load(tmp_path, "list.csv", text) == [
        Target(url="https://x.com/", domain="x.com", category="GRP")
    ]


def test_txt_format(tmp_path: Path) -> None:
    text = "# a comment\n\ntwitter.com  # trailing comment\r\nhttps://x.com/#top\n   \n"
    assert load(tmp_path, "list.txt", text) == [
        Target(url="https://twitter.com/", domain="twitter.com"),
        Target(url="https://x.com/", domain="x.com"),
    ]


def test_arguments_urls_domains_and_files_in_first_seen_order(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("b.example\nc.example\n", encoding="utf-8")
    targets = load_targets(["https://a.example/x", "a.txt", "d.example"], base=tmp_path)
    assert [t.url for t in targets] == [
        "https://a.example/x",
        "https://b.example/",
        "https://c.example/",
        "https://d.example/",
    ]


def test_url_argument_ending_like_a_list_file_is_a_url() -> None:
    assert [t.url for t in load_targets(["https://x.com/list.txt"])] == ["https://x.com/list.txt"]


def test_duplicates_merge_into_the_first(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "targets:\n  - url: https://X.com:443/#a\n    category: GRP\n", encoding="utf-8"
    )
    (tmp_path / "b.yaml").write_text(
        "targets:\n  - url: x.com\n    category: NEWS\n    note: later note\n  - y.com\n",
        encoding="utf-8",
    )
    targets = load_targets(["a.yaml", "y.com", "b.yaml", "https://x.com"], base=tmp_path)
    assert targets == [
        Target(url="https://x.com/", domain="x.com", category="GRP", note="later note"),
        Target(url="https://y.com/", domain="y.com"),
    ]


def test_no_arguments_no_targets() -> None:
    assert load_targets([]) == []


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "kz.yaml",
            "targets:\n  - twitter.com\n  - url: htps://x.com\n",
            "kz.yaml line 3: 'htps://x.com' is not a valid URL (scheme must be http or https)",
        ),
        (
            "l.yaml",
            "targets:\n  - exa mple.com\n",
            "l.yaml line 2: 'exa mple.com' is not a valid URL or domain name (it contains spaces)",
        ),
        (
            "l.yaml",
            "targets:\n  - url: https://u:p@x.com/\n",
            "l.yaml line 2: 'https://u:p@x.com/' is not a valid URL "
            "(it contains credentials; remove the part up to '@')",
        ),
        (
            "l.yaml",
            "targets:\n  - url: x.com\n    catgory: NEWS\n",
            "l.yaml line 3: unknown key 'catgory' "
            "(expected url, category, note, expect, expect_quic)",
        ),
        (
            "l.yaml",
            "targets:\n  - x.com\n  - note: no url here\n",
            "l.yaml line 3: target has no 'url'",
        ),
        (
            "l.yaml",
            "targets:\n  - url: x.com\n    category: NWES\n",
            "l.yaml line 3: unknown category 'NWES' (use a Citizen Lab code: NEWS, ...)",
        ),
        (
            "l.yaml",
            "targets:\n  - url: x.com\n\n    expect: censored\n",
            "l.yaml line 4: expect must be one of accessible, blocked, down, inconclusive, "
            "not 'censored'",
        ),
        (
            "l.yaml",
            "targets:\n  - url: x.com\n    note: 2011-12-16\n",
            "l.yaml line 3: 'note' must be text (quote it)",
        ),
        (
            "l.yaml",
            "targets:\n  - url: x.com\n    note: a\n    note: b\n",
            "l.yaml line 4: key 'note' given twice",
        ),
        (
            "l.yaml",
            "name: l\ntargts:\n  - x.com\n",
            "l.yaml line 2: unknown key 'targts' (expected name, description, targets)",
        ),
        ("l.yaml", "name: [l]\ntargets: [x.com]\n", "l.yaml line 1: 'name' must be text"),
        ("l.yaml", "- x.com\n", "l.yaml line 1: expected a mapping with a 'targets:' list"),
        ("l.yaml", "name: l\n", "l.yaml line 1: expected 'targets:' with a list of targets"),
        (
            "l.yaml",
            "targets: x.com\n",
            "l.yaml line 1: expected 'targets:' with a list of targets",
        ),
        (
            "l.yaml",
            "targets:\n  - x.com\n  - [y.com]\n",
            "l.yaml line 3: a target is a URL, or a mapping with 'url:'",
        ),
        ("l.yaml", "targets: []\n", "l.yaml: the list has no targets"),
        ("l.yaml", "# nothing\n", "l.yaml: the file is empty"),
        (
            "l.yaml",
            "targets: [x.com\n",
            "l.yaml line 2: invalid YAML (",  # then PyYAML's words
        ),
        (
            "l.yaml",
            "targets:\n  - !!python/object:os.system x\n",
            "l.yaml line 2: tag 'tag:yaml.org,2002:python/object:os.system' is not allowed",
        ),
        (
            "l.csv",
            "url,category_code\nhttps://x.com/,GRP\n\nhtps://y.com/,GRP\n",
            "l.csv line 4: 'htps://y.com/' is not a valid URL (scheme must be http or https)",
        ),
        (
            "l.csv",
            'url,notes\nhttps://x.com/,"a\nb"\nnot a url,\n',
            "l.csv line 4: 'not a url' is not a valid URL or domain name (it contains spaces)",
        ),
        (
            "l.csv",
            "domain,category_code\nx.com,GRP\n",
            "l.csv line 1: no 'url' column in the header "
            "(expected url,category_code,category_description,date_added,source,notes)",
        ),
        ("l.csv", "url,notes\nx.com,\n,a note\n", "l.csv line 3: the url field is empty"),
        (
            "l.csv",
            "url,notes\nx.com,a,b\n",
            "l.csv line 2: 3 fields, but the header has 2",
        ),
        (
            "l.csv",
            "url,notes\nx.com," + "n" * 200_000 + "\n",
            "l.csv line 2: invalid CSV (",  # then the csv module's words
        ),
        ("l.csv", "url,category_code\n", "l.csv: the list has no targets"),
        ("l.csv", "", "l.csv: the list has no targets"),
        (
            "l.txt",
            "# list\nx.com\n\nhtps://y.com  # typo\n",
            "l.txt line 4: 'htps://y.com' is not a valid URL (scheme must be http or https)",
        ),
        (
            "l.txt",
            "x.com\nlocalhost\n",
            "l.txt line 2: 'localhost' is not a valid URL or domain name "
            "(a bare domain name needs a dot)",
        ),
        ("l.txt", "# only a comment\n\n", "l.txt: the list has no targets"),
        ("l.txt", b"x.com\n\xff\n", "l.txt: not UTF-8 text (byte 6)"),
        (
            "l.json",
            '{"targets": []}',
            "l.json: cannot read .json files as target lists (use .yaml, .csv or .txt)",
        ),
    ],
)
def test_list_errors_name_file_and_line(
    tmp_path: Path, name: str, text: str | bytes, message: str
) -> None:
    with pytest.raises(TargetError) as caught:
        load(tmp_path, name, text)
    if message.endswith("("):  # what follows is another library's wording, not ours
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    else:
        assert str(caught.value) == message


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("missing.yaml", "missing.yaml: no such file"),
        ("missing.txt", "missing.txt: no such file"),
        ("sub", "sub: is a directory, not a file"),
        ("targets/kz.yam", "'targets/kz.yam' is not a file, a URL or a domain name"),
        ("kz", "'kz' is not a file, a URL or a domain name"),
        ("not a domain", "'not a domain' is not a file, a URL or a domain name"),
        ("htps://x.com", "'htps://x.com' is not a valid URL (scheme must be http or https)"),
    ],
)
def test_argument_errors(tmp_path: Path, arg: str, message: str) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(TargetError) as caught:
        load_targets([arg], base=tmp_path)
    assert str(caught.value) == message


def test_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as caught:
        load(tmp_path, "l.yaml", "targets:\n  - url: x.com\n  bad: [\n")
    assert "\n" not in str(caught.value)


# --- the shipped list ----------------------------------------------------------------------


def test_shipped_kz_list() -> None:
    path = shipped_list()
    targets = load_targets([str(path)])
    assert len(targets) == 7
    facebook = targets[-1]
    assert facebook.url == "https://www.facebook.com/"
    assert facebook.note is not None and "reachable" in facebook.note
    assert all(t.category and t.note for t in targets)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document["name"] == "kz"
    assert "Zhanaozen" in document["description"]


def test_shipped_list_is_the_repository_file() -> None:
    path = shipped_list("kz")
    assert path.is_symlink()
    assert path.resolve() == (REPO / "targets" / "kz.yaml").resolve()


def test_every_kz_host_has_a_lab_behaviour() -> None:
    assert {t.domain for t in load_targets([str(shipped_list())])} <= set(DEMO)


@pytest.mark.parametrize("name", ["nope", "fingerprints", "../kz"])
def test_shipped_list_unknown(name: str) -> None:
    with pytest.raises(TargetError) as caught:
        shipped_list(name)
    assert str(caught.value) == f"no shipped target list {name!r} (there are: kz)"
