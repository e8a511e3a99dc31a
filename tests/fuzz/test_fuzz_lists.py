"""Property: no file a user hands the CLI makes it crash. Target lists (YAML, CSV, text), target
arguments, fingerprint files, vantage files, the control server's token file and dns-scan's
resolver list each load, or end the command with one line and exit code 2.

The number of examples comes from the hypothesis profile (tests/conftest.py): a few dozen in
``make test``, ten thousand per parser in ``make fuzz``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings

from censorcheck.control.server import load_tokens
from censorcheck.errors import ConfigError
from censorcheck.measure import textfile
from censorcheck.measure.fingerprints import Fingerprints, _parse
from censorcheck.measure.targets import load_targets
from censorcheck.measure.vantages import read_file
from censorcheck.scan.resolvers import load_resolvers
from tests.fuzz.bounds import loads_or_user_error, peak_memory
from tests.fuzz.inputs import awkward_text, file_bytes, nested

YAML_LIST = b"""name: fuzz
description: seeds for the fuzzer
targets:
  - https://a.example/
  - url: http://b.example:8080/p?q=1
    category: NEWS
    note: a note
    expect: blocked
    expect_quic: accessible
  - "[2001:db8::1]:8443/x"
  - xn--bcher-kva.example
"""
CSV_LIST = b"""url,category_code,category_description,date_added,source,notes
https://a.example/,NEWS,News Media,2020-01-01,citizenlab,
"http://b.example:8080/p?q=1",HUMR,Human Rights,2021-02-03,x,"a, note"
https://[2001:db8::1]/,,,,,
"""
TXT_LIST = b"https://a.example/\nb.example  # a comment\n\n# only a comment\nhttp://[::1]:80/\n"
FINGERPRINTS = b"""- id: zz.fuzz
  country: ZZ
  description: a seed
  location: body
  contains: blocked by order
- id: zz.header
  country: ZZ
  description: another
  location: header
  header: Location
  regex: '^http://10\\.0\\.0\\.1/'
"""
VANTAGES = b"""vantages:
  - name: home
    resolvers: [udp://192.0.2.53, "https://dns.example/dns-query"]
    country: KZ
    asn: 64500
    network_type: home
  - name: proxy.1
    proxy: socks5h://127.0.0.1:1080
    resolvers: [tcp://[2001:db8::53]:53]
    notes: through a proxy
"""
TOKENS = b"# tokens, one a line\n" + b"t" * 24 + b"\n\n  " + b"u" * 40 + b"  \n"
RESOLVERS = b"192.0.2.1 country=KZ asn=AS64500 # a note\n[2001:db8::1]:5353\n2001:db8::2\n"

# Each defect the fuzzer found is kept as an example below the @given it broke.
NUL_IN_YAML = b"targets:\n  - https://a.example/\x00\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz-files")


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _fingerprints(path: Path) -> Fingerprints:
    # load_fingerprints with only the user's file: the shipped one is tested as shipped.
    return Fingerprints(_parse(textfile.read_text(path, str(path), ConfigError), str(path)))


@given(data=file_bytes((YAML_LIST,)))
@example(data=NUL_IN_YAML)
@example(data=nested(5000).encode())
@example(data=b"targets: " + nested(3000, "{a: ", "}").encode())
@example(data=b"a: &a [*a, *a]\ntargets: *a\n")
@example(data=b"targets: " + b"1" * 5000 + b"\n")
@example(data=b"targets:\n  - 2026-13-45\n")
def test_yaml_target_lists(folder: Path, data: bytes) -> None:
    path = _write(folder, "list.yaml", data)
    loads_or_user_error(lambda: load_targets([str(path)]))


@given(data=file_bytes((CSV_LIST,)))
@example(data=b'url\n"https://a.example/\x00",\n')
@example(data=b'url\n"' + b"a" * 200_000 + b"\n")
def test_csv_target_lists(folder: Path, data: bytes) -> None:
    path = _write(folder, "list.csv", data)
    loads_or_user_error(lambda: load_targets([str(path)]))


@given(data=file_bytes((TXT_LIST,)))
@example(data=b"\xef\xbb\xbfhttps://a.example/\r\n")
@example(data=b"https://" + "\u2028".join(["a.example"] * 3).encode())
def test_text_target_lists(folder: Path, data: bytes) -> None:
    path = _write(folder, "list.txt", data)
    loads_or_user_error(lambda: load_targets([str(path)]))


@given(arg=awkward_text(max_pieces=8))
@example(arg="https://[fe80::1%25eth0]/")
@example(arg="http://a.example:99999999999999999999999/")
@example(arg="http://a.example:" + "9" * 5000 + "/")
@example(arg="1" * 5000)
@example(arg="1" * 5000 + ".txt")
@example(arg="a\x00.txt")  # found by make fuzz: a NUL in a list's name reached open()
def test_target_arguments(folder: Path, arg: str) -> None:
    # Relative to an empty folder, so that a generated name never meets a real file.
    loads_or_user_error(lambda: load_targets([arg], base=folder / "empty"))


@given(data=file_bytes((FINGERPRINTS,)))
@example(data=b"- id: zz.a\n  country: ZZ\n  description: d\n  location: body\n  regex: '('\n")
def test_fingerprint_files(folder: Path, data: bytes) -> None:
    path = _write(folder, "fingerprints.yaml", data)
    loads_or_user_error(lambda: _fingerprints(path))


@given(data=file_bytes((VANTAGES,)))
@example(data=b"vantages:\n  - name: a\x00\n")
@example(data=b"vantages:\n  - name: a\n    asn: " + b"1" * 5000 + b"\n")
@example(data=nested(5000).encode())
def test_vantage_files(folder: Path, data: bytes) -> None:
    path = _write(folder, "vantages.yaml", data)
    loads_or_user_error(lambda: read_file(path))


@given(data=file_bytes((TOKENS,)))
def test_token_files(folder: Path, data: bytes) -> None:
    path = _write(folder, "tokens.txt", data)
    loads_or_user_error(lambda: load_tokens(path))


@given(data=file_bytes((RESOLVERS,)))
@example(data=b"192.0.2.1:" + b"9" * 5000 + b"\n")
def test_scan_resolver_files(folder: Path, data: bytes) -> None:
    path = _write(folder, "resolvers.txt", data)
    loads_or_user_error(lambda: load_resolvers(path))


# --- what cannot be generated a byte at a time: files that are not files, and huge ones -------

LOADERS = {
    "list.yaml": lambda p: load_targets([str(p)]),
    "list.csv": lambda p: load_targets([str(p)]),
    "list.txt": lambda p: load_targets([str(p)]),
    "fingerprints.yaml": _fingerprints,
    "vantages.yaml": read_file,
    "tokens.txt": load_tokens,
    "resolvers.txt": load_resolvers,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_a_directory_fifo_or_unreadable_file_is_one_line(tmp_path: Path, name: str) -> None:
    load = LOADERS[name]
    (tmp_path / "dir" / name).mkdir(parents=True)
    os.mkfifo(tmp_path / name)
    for path in (tmp_path / "dir" / name, tmp_path / name, Path("/proc/self/mem")):
        assert isinstance(loads_or_user_error(lambda p=path: load(p)), str), path


HUGE = {
    "a long line": lambda n: b"https://a.example/" + b"a" * n + b"\n",
    "many lines": lambda n: b"https://a.example/\n" * (n // 19),
    "NULs": lambda n: b"\x00" * n,
}
# Deep nesting is measured apart (test_deep_nesting_...): under tracemalloc, PyYAML takes
# minutes to reach the recursion limit that it reaches in a second without.
# Memory may grow with the input (16 MiB at most are read; a MiB here under make fuzz, 64 KiB in
# make test, where tracemalloc's slowness counts), but by a bounded factor: a parser
# that copies a line for every character, or follows aliases without end, goes past it.
HUGE_BYTES = (1024 if settings.default.max_examples >= 1000 else 64) * 1024
PEAK_LIMIT = 128 * HUGE_BYTES


@pytest.mark.parametrize("shape", sorted(HUGE))
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_huge_inputs_stay_within_memory(tmp_path: Path, name: str, shape: str) -> None:
    path = _write(tmp_path, name, HUGE[shape](HUGE_BYTES))
    peak = peak_memory(lambda: LOADERS[name](path))
    assert peak < PEAK_LIMIT, f"{name}, {shape}: {peak / 2**20:.0f} MiB"


def test_an_alias_bomb_is_refused_in_bounded_memory(folder: Path) -> None:
    # Nine levels of nine aliases: a billion items when expanded, a few hundred bytes written.
    lines = ["a0: &a0 [x]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)
    ]
    path = _write(folder, "bomb.yaml", ("\n".join(lines) + "\ntargets: *a9\n").encode())
    assert peak_memory(lambda: load_targets([str(path)])) < PEAK_LIMIT


# Deep nesting measured without tracemalloc: each file is loaded in a fresh Python, and the rise
# of its peak resident memory over what it held before is the figure (Linux). A parser that
# kept a copy per level would show it.
DEEP = {
    "list.yaml": nested(5000).encode(),
    "fingerprints.yaml": b"- " + nested(5000, "{a: ", "}").encode(),
    "vantages.yaml": b"vantages: " + nested(5000).encode(),
}
DEEP_PEAK_LIMIT = 64 * 2**20
DEEP_LOAD = """
import sys
from pathlib import Path
from tests.fuzz.test_fuzz_lists import LOADERS
from tests.fuzz.bounds import loads_or_user_error

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from here
before = status("VmRSS")
outcome = loads_or_user_error(lambda: LOADERS[sys.argv[1]](Path(sys.argv[2])))
print(status("VmHWM") - before, repr(outcome))
"""


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deep_nesting_is_one_line_in_bounded_memory(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, name, DEEP[name])
    done = subprocess.run(
        [sys.executable, "-c", DEEP_LOAD, name, str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rise, outcome = done.stdout.split(" ", 1)
    assert outcome.startswith("'error: "), outcome
    assert int(rise) < DEEP_PEAK_LIMIT, f"{name}: {int(rise) / 2**20:.0f} MiB"
