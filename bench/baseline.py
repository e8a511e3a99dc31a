"""The baseline beside the probe benchmark: the same URLs through dig and curl under xargs.

What a careful shell script would do with the same timeouts and concurrency, from the same
censored vantage; the probe should beat it on wall time while measuring far more.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Sequence

from figures import Figures, cpu_seconds
from lab_process import LabInfo

# Per URL: the address from the censored resolver by dig, then curl to that address. A name
# dig gets no address for is reported as curl's "could not resolve" (6) without running curl.
_DIG_CURL = r"""
url="$1"; rest="${url#*://}"; hostport="${rest%%/*}"; host="${hostport%%:*}"
case "$hostport" in *:*) port="${hostport##*:}";; *) case "$url" in https:*) port=443;;
  *) port=80;; esac;; esac
ip=$(dig +short +time="$T" +tries=1 -b "$VANTAGE" -p "$DNS_PORT" @"$RESOLVER" "$host" A \
  | grep -E '^[0-9.]+$' | head -n 1)
[ -n "$ip" ] || { echo "6 0 $url"; exit 0; }
exec curl -s -o /dev/null --max-time "$T" --connect-timeout "$T" --cacert "$CA" \
  --interface "$VANTAGE" --resolve "$host:$port:$ip" -w '%{exitcode} %{time_total} %{url}\n' "$url"
"""


def _resolver_of(arguments: Sequence[str]) -> tuple[str, str]:
    """(address, port) of the censored vantage's resolver, from its ``--resolver udp://A:P``."""
    uri = arguments[list(arguments).index("--resolver") + 1]
    address, _, port = uri.removeprefix("udp://").rpartition(":")
    return address, port


def curl_figures(urls: list[str], lab: LabInfo, timeout: float, concurrency: int) -> Figures:
    """The same URLs by ``xargs -P N``: dig then curl per URL when dig is installed, else curl
    alone resolving over DoH at the censored resolver.

    dig asks the censored resolver from the censored vantage, as the tool does; curl then
    connects to the address it got, from the same vantage. Without dig, curl resolves over DoH:
    its DoH requests inherit ``--cacert`` but not ``--interface`` (strace shows them unbound),
    which changes nothing here because the lab's censored resolver lies to whoever asks. CPU
    time is that of xargs and everything it ran.
    """
    if shutil.which("dig") is not None:
        address, port = _resolver_of(lab.arguments)
        command = ["xargs", "-P", str(concurrency), "-n", "1", "sh", "-c", _DIG_CURL, "dig-curl"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "T": f"{max(1, round(timeout))}",
            "VANTAGE": lab.censored_vantage,
            "RESOLVER": address,
            "DNS_PORT": port,
            "CA": str(lab.ca_bundle),
        }
        how = "dig + curl"
    else:
        command = [
            "xargs", "-P", str(concurrency), "-n", "1",
            "curl", "-s", "-o", "/dev/null",
            "--max-time", f"{timeout:g}", "--connect-timeout", f"{timeout:g}",
            "--cacert", str(lab.ca_bundle),
            "--interface", lab.censored_vantage,
            "--doh-url", lab.doh_url,
            "-w", "%{exitcode} %{time_total} %{url}\\n",
        ]  # fmt: skip
        env, how = None, "curl over DoH (no dig here)"
    user0, sys0 = cpu_seconds(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(
        command,
        input="\n".join(urls) + "\n",
        capture_output=True,
        text=True,
        timeout=max(120.0, 4 * timeout * len(urls) / concurrency),
        check=False,
        env=env,
    )
    wall = time.monotonic() - start
    user1, sys1 = cpu_seconds(resource.RUSAGE_CHILDREN)
    codes: Counter[str] = Counter()
    times: list[float] = []
    for line in done.stdout.splitlines():
        code, seconds, _ = line.split(" ", 2)
        codes[code] += 1
        times.append(float(seconds))
    return {
        "wall_s": wall,
        "targets": len(times),
        "targets_per_s": len(times) / wall,
        "cpu_s": (user1 - user0) + (sys1 - sys0),
        "slowest_s": max(times, default=0.0),
        "sum_t_s": sum(times),
        "exit_codes": dict(sorted(codes.items(), key=lambda kv: int(kv[0]))),
        "xargs_status": done.returncode,
        "how": how,
    }
