"""Blockpage fingerprints: the shipped file, matching by location, extra files and their errors."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from censorcheck.errors import ConfigError
from censorcheck.measure.fingerprints import Fingerprint, Fingerprints, load_fingerprints

SHIPPED_TEXT = (resources.files("censorcheck") / "data" / "fingerprints.yaml").read_text("utf-8")
IRAN_PAGE = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
    '<title>M1-6</title></head><body><iframe src="http://10.10.34.34?type=Invalid Site'
    '&policy=MainPolicy " style="width: 100%; height: 100%" scrolling="no"></iframe></body></html>'
)


@pytest.fixture(scope="module")
def shipped() -> Fingerprints:
    return load_fingerprints()


# --- the shipped file ----------------------------------------------------------------------


def test_shipped_file_loads_with_the_lab_fingerprint_first(shipped: Fingerprints) -> None:
    ids = [fp.id for fp in shipped]
    assert ids[0] == "lab.blockpage"
    assert len(ids) == len(set(ids)) >= 8


def test_every_shipped_regex_compiles() -> None:
    entries = yaml.safe_load(SHIPPED_TEXT)
    patterns = [entry["regex"] for entry in entries if "regex" in entry]
    assert patterns
    for pattern in patterns:
        re.compile(pattern)


def test_every_real_fingerprint_cites_its_source(shipped: Fingerprints) -> None:
    for fp in shipped:
        if fp.country != "ZZ":
            assert "Source:" in fp.description, fp.id
            assert fp.id.startswith(f"{fp.country.lower()}."), fp.id


# --- matching ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "title", "expected"),
    [
        # body, contains: case ignored
        ([], "<p>censorcheck-lab-blockpage</p>", None, "lab.blockpage"),
        ([], "<P>CENSORCHECK-LAB-BLOCKPAGE</P>", None, "lab.blockpage"),
        ([], "<p>an ordinary page</p>", None, None),
        # body, regex
        ([], IRAN_PAGE, "M1-6", "ir.iframe_10_10_34_34"),
        ([], '<iframe src="http://10.10.34.36/"></iframe>', None, "ir.iframe_10_10_34_34"),
        ([], '<iframe src="http://10.10.34.37/"></iframe>', None, None),
        ([], '<iframe src="http://10.10.34.345/"></iframe>', None, None),
        # a body fingerprint does not look at headers or the title
        ([("X-Note", "censorcheck-lab-blockpage")], "", "censorcheck-lab-blockpage", None),
        # header, regex: any value of the named header, name case ignored
        ([("Location", "http://warning.rt.ru/?id=17")], "", None, "ru.rostelecom_warning"),
        ([("LOCATION", "http://warning.rt.ru")], "", None, "ru.rostelecom_warning"),
        (
            [("Set-Cookie", "a=1"), ("location", "http://www.warning.or.kr/")],
            "",
            None,
            "kr.warning_or_kr",
        ),
        ([("Server", "Protected by WireFilter 8000")], "", None, "ae.wirefilter_server"),
        ([("Location", "http://warning.rt.ru.example.com/")], "", None, None),
        ([("Referer", "http://warning.rt.ru/")], "", None, None),
        ([], "redirected to http://warning.rt.ru/", None, None),
        # header, contains (built below), title, contains
        ([], "", "Telekomünikasyon İletişim Başkanlığı", "tr.tib_title"),
        ([], "", "telekomünikasyon i̇letişim başkanlığı - Erişim", "tr.tib_title"),
        ([], "<title>Telekomünikasyon İletişim Başkanlığı</title>", None, None),
        ([], "", None, None),
    ],
)
def test_match(
    shipped: Fingerprints,
    headers: list[tuple[str, str]],
    body: str,
    title: str | None,
    expected: str | None,
) -> None:
    assert shipped.match(headers, body, title) == expected


def make(**fields: str) -> Fingerprint:
    return Fingerprint.model_validate({"country": "ZZ", "description": "test", **fields})


@pytest.mark.parametrize(
    ("fingerprint", "headers", "body", "title", "hit"),
    [
        (make(id="t.h", location="header", header="x-filter", contains="DENIED"),
         [("X-Filter", "access denied")], "", None, True),
        (make(id="t.h", location="header", header="x-filter", contains="denied"),
         [("X-Other", "denied")], "", None, False),
        (make(id="t.r", location="body", regex="Blocked"), [], "blocked", None, False),
        (make(id="t.r", location="body", regex="(?i)Blocked"), [], "blocked", None, True),
        (make(id="t.t", location="title", regex="^Access denied$"), [], "", "Access denied", True),
        (make(id="t.t", location="title", contains="denied"), [], "denied", None, False),
    ],
)  # fmt: skip
def test_match_each_kind(
    fingerprint: Fingerprint,
    headers: list[tuple[str, str]],
    body: str,
    title: str | None,
    hit: bool,
) -> None:
    expected = fingerprint.id if hit else None
    assert Fingerprints([fingerprint]).match(headers, body, title) == expected


def test_first_match_in_order_wins() -> None:
    first = make(id="t.first", location="body", contains="blocked")
    second = make(id="t.second", location="body", regex="blocked")
    assert Fingerprints([first, second]).match([], "blocked", None) == "t.first"
    assert Fingerprints([second, first]).match([], "blocked", None) == "t.second"


class CountingStr(str):
    """A body that counts how often it is lower-cased."""

    lowered = 0

    def lower(self) -> str:
        CountingStr.lowered += 1
        return super().lower()


def test_body_is_lowered_once_per_match() -> None:
    many = [make(id=f"t.n{i}", location="body", contains=f"needle {i}") for i in range(20)]
    body = CountingStr("x" * (1 << 20))
    assert Fingerprints(many).match([], body, None) is None
    assert CountingStr.lowered == 1


# --- extra files ---------------------------------------------------------------------------


def test_extra_file_adds_and_later_file_wins(tmp_path: Path, shipped: Fingerprints) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text(
        "- id: lab.blockpage\n  country: ZZ\n  description: replaced\n"
        "  location: body\n  contains: my-lab-page\n"
        "- id: kz.example\n  country: KZ\n  description: new\n"
        "  location: title\n  contains: Доступ ограничен\n",
        encoding="utf-8",
    )
    loaded = load_fingerprints([extra])
    ids = [fp.id for fp in loaded]
    assert ids[0] == "lab.blockpage" and ids[-1] == "kz.example"
    assert len(loaded) == len(shipped) + 1
    assert loaded.match([], "my-lab-page", None) == "lab.blockpage"
    assert loaded.match([], "censorcheck-lab-blockpage", None) is None
    assert loaded.match([], "", "ДОСТУП ОГРАНИЧЕН") == "kz.example"
    found = loaded.get("lab.blockpage")
    assert found is not None and found.description == "replaced"


GOOD = "- id: t.ok\n  country: ZZ\n  description: fine\n  location: body\n  contains: x\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: t.x\n", "fp.yaml: expected a list of fingerprints"),
        ("[]\n", "fp.yaml: the file has no fingerprints"),
        ("", "fp.yaml: expected a list of fingerprints"),
        ("- [\n", "fp.yaml line 2: invalid YAML ("),  # the rest is PyYAML's wording
        (GOOD + "- just text\n", "fp.yaml line 6: fingerprint 2: expected a mapping of id, "
                                 "country, ..."),
        (GOOD + "- id: t.bad\n  country: ZZ\n  description: d\n  location: body\n"
                "  contians: x\n",
         "fp.yaml line 10: fingerprint 't.bad': unknown key 'contians' (expected id, country, "
         "description, location, header, contains, regex)"),
        ("- id: t.bad\n  country: ZZ\n  description: d\n  contains: x\n",
         "fp.yaml line 1: fingerprint 't.bad': 'location' is missing"),
        ("- id: t.bad\n  country: ZZ\n  description: d\n  location: page\n  contains: x\n",
         "fp.yaml line 4: fingerprint 't.bad': location: must be one of 'body', 'header' "
         "or 'title'"),
        ("- id: t.bad\n  country: Iran\n  description: d\n  location: body\n  contains: x\n",
         "fp.yaml line 2: fingerprint 't.bad': country: must match ^[A-Z]{2}$"),
        ("- id: Bad Id\n  country: ZZ\n  description: d\n  location: body\n  contains: x\n",
         "fp.yaml line 1: fingerprint 'Bad Id': id: must match ^[a-z0-9]+(\\.[a-z0-9_]+)+$"),
        ("- id: t.bad\n  country: ZZ\n  description: d\n  location: body\n  regex: '(x'\n",
         "fp.yaml line 5: fingerprint 't.bad': regex: does not compile ("),  # then re's words
        ("- id: t.bad\n  country: ZZ\n  description: d\n  location: body\n  regex: 'x*'\n",
         "fp.yaml line 5: fingerprint 't.bad': regex: matches empty text, so it would match "
         "every page"),
        ("- id: t.bad\n  country: ZZ\n  description: d\n  location: body\n",
         "fp.yaml line 1: fingerprint 't.bad': give exactly one of 'contains' and 'regex'"),
        ("- id: t.bad\n  country: ZZ\n  description: d\n  location: body\n  contains: x\n"
         "  regex: y\n",
         "fp.yaml line 1: fingerprint 't.bad': give exactly one of 'contains' and 'regex'"),
        ("- id: t.bad\n  country: ZZ\n  description: d\n  location: header\n  contains: x\n",
         "fp.yaml line 1: fingerprint 't.bad': 'header' (the header's name) goes with "
         "location 'header', and only"),
        ("- id: t.bad\n  country: ZZ\n  description: d\n  location: body\n  header: Server\n"
         "  contains: x\n",
         "fp.yaml line 1: fingerprint 't.bad': 'header' (the header's name) goes with "
         "location 'header', and only"),
        ("- id: t.bad\n  country: ZZ\n  description: d\n  location: body\n  contains: ''\n",
         "fp.yaml line 5: fingerprint 't.bad': contains: must not be empty"),
        (GOOD + GOOD.replace("description: fine", "description: again"),
         "fp.yaml line 6: fingerprint 't.ok': id already used at line 1"),
        ("- id: t.bad\n  id: t.bad2\n", "fp.yaml line 2: key 'id' given twice"),
    ],
)  # fmt: skip
def test_bad_extra_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "fp.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_fingerprints([tmp_path / "fp.yaml"])
    expected = message.replace("fp.yaml", str(tmp_path / "fp.yaml"), 1)
    if expected.endswith("("):  # what follows is another library's wording, not ours
        assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)
    else:
        assert str(caught.value) == expected


def test_missing_extra_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_fingerprints([missing])
    assert str(caught.value) == f"{missing}: no such file"
