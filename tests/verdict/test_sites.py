"""The registrable domain the HTTP rules compare redirects by (``http._site``).

Plain ASCII hosts are looked up in the public suffix list loaded without the punycode forms of
its IDN rules (a third of the load's cost); a host with an ``xn--`` label or a non-ASCII one, in
the whole list. Every rule of the list, and names under it, must get the answer the whole list
gives.
"""

from __future__ import annotations

import publicsuffixlist
from publicsuffixlist import PublicSuffixList

from censorcheck.measure.verdict import http


def _rules() -> list[str]:
    rules = []
    with open(publicsuffixlist.PSLFILE, encoding="utf-8") as listed:
        for line in listed:
            rule = line.lower().split(" ")[0].rstrip()
            if rule and not rule.startswith("//"):
                rules.append(rule.lstrip("!").removeprefix("*."))
    return rules


def _names(rule: str) -> list[str]:
    names = [rule, f"a.{rule}", f"www.b.{rule}", f"x.y.z.{rule}"]
    if not rule.isascii():
        names += [name.encode("idna").decode("ascii") for name in names]
    return names


def test_every_rule_gives_the_whole_lists_answer() -> None:
    whole = PublicSuffixList()
    rules = _rules()
    assert len(rules) > 5000 and any(not r.isascii() for r in rules)
    differ = []
    for rule in rules:
        for name in _names(rule):
            expected = whole.privatesuffix(name) or name
            if http._site(name) != expected:
                differ.append((name, http._site(name), expected))
    assert differ == []


def test_sites_of_plain_and_international_names() -> None:
    assert http._site("news.example.co.uk") == "example.co.uk"
    assert http._site("user.github.io") == "user.github.io"
    assert http._site("WWW.Example.COM.") == "example.com"
    # An IDN suffix written in punycode is still a suffix: the name's site is one label more.
    assert http._site("www.пример.рф") == "пример.рф"
    assert http._site("www.xn--e1afmkfd.xn--p1ai") == "xn--e1afmkfd.xn--p1ai"
    assert http._site("203.0.113.7") == "203.0.113.7"
