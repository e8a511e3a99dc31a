"""Files that let a script point runs at a running lab: target lists and argument files.

``censorcheck lab --workdir DIR`` writes them once the lab is up, so their presence means ready:

- ``lab-targets.txt``: every lab URL;
- ``lab-expect-censored.yaml``: the same URLs, each with the status the censored vantage must
  see (``expect:``), and over QUIC where the site advertises HTTP/3 (``expect_quic:``), for
  ``censorcheck run --check``;
- ``lab-expect-control.yaml``: the same with the status expected when the lab's control server
  is the control (when the lab has one);
- ``censored.args`` / ``free.args``: the ``run`` options of each vantage, one argument per line,
  for ``mapfile -t ARGS < DIR/censored.args`` in a shell, with no quoting to get wrong;
  ``control.args``: the censored vantage's, with the control server as control;
- ``vantages.yaml``: the lab's vantages (censored, free, and the SOCKS5 proxy), for
  ``run --vantage-file``;
- ``enter.args``: the words that run a command inside the lab's network namespace (``nsenter``
  and its options, one per line), or nothing when the caller shares the lab's namespace already:
  ``mapfile -t IN < DIR/enter.args; "${IN[@]}" censorcheck run ... "${ARGS[@]}"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from censorcheck.lab import Lab
from censorcheck.lab.control import private_text
from censorcheck.lab.netns import enter_prefix


def run_arguments(lab: Lab, censored: bool, control: bool = False) -> list[str]:
    """The ``censorcheck run`` options that measure this lab from one vantage."""
    return [*lab.arguments(censored, control), "--vantage", lab.settings(censored).vantage]


def _expectations(lab: Lab, control: bool) -> str:
    topology = lab.topology
    lines = ["# The lab's names and the verdict the censored vantage must get.", "targets:"]
    for name, scenario in topology.names.items():
        # JSON strings are valid YAML scalars: no quoting rules of our own.
        lines += [f"  - url: {json.dumps(topology.url(name))}",
                  f"    expect: {scenario.expected(control).status}"]  # fmt: skip
        if (quic := scenario.expected_quic(control)) is not None:
            lines.append(f"    expect_quic: {quic.status}")
    return "\n".join(lines) + "\n"


def write_run_files(lab: Lab, folder: Path) -> dict[str, Path]:
    """Write the files above into ``folder``, each readable by the owner only; their paths by
    name. The args files come last."""
    folder.mkdir(parents=True, exist_ok=True)
    # First: a script that waits for an args file must find the namespace prefix already there,
    # or it runs the lab's commands on the host.
    texts = {"enter.args": "".join(f"{arg}\n" for arg in enter_prefix())}
    texts["lab-targets.txt"] = "\n".join(lab.topology.target_urls()) + "\n"
    texts["lab-expect-censored.yaml"] = _expectations(lab, control=False)
    if lab.control is not None:
        texts["lab-expect-control.yaml"] = _expectations(lab, control=True)
    for view, censored in (("censored", True), ("free", False)):
        texts[f"{view}.args"] = "".join(f"{arg}\n" for arg in run_arguments(lab, censored))
    vantage_file = {"vantages": [v.model_dump(exclude_none=True) for v in lab.vantages()]}
    texts["vantages.yaml"] = yaml.safe_dump(vantage_file, sort_keys=False)
    if lab.control is not None:
        texts["control.args"] = "".join(f"{arg}\n" for arg in run_arguments(lab, True, True))
    written = {}
    for name, text in texts.items():
        path = folder / name
        private_text(path, text)
        written[name] = path
    return written
