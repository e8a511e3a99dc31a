"""The CI examples in examples/ stay true: their commands run against the lab and pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import junitparser
import yaml
from lxml import etree

from censorcheck.lab import Lab
from censorcheck.lab.files import write_run_files
from censorcheck.models import Run
from tests.test_ci import JUNIT_XSD

EXAMPLES = Path(__file__).parent.parent / "examples"
# Lines the test does itself: installing (the package is installed) and starting the lab (the
# lab fixture stands in for it, with the same files `censorcheck lab --workdir lab` writes).
REPLACED = ("python -m pip install", "censorcheck lab ")


def github_scripts(path: Path) -> list[str]:
    """The `run:` scripts of the workflow's steps, in order (each runs in its own bash)."""
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    return [step["run"] for step in job["steps"] if "run" in step]


def gitlab_scripts(path: Path) -> list[str]:
    """The job's `script:` lines: GitLab runs them in one shell."""
    pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))
    return ["\n".join(pipeline["reachability"]["script"])]


def runnable(scripts: list[str]) -> tuple[list[str], list[str]]:
    """The scripts without the lines the test replaces; and those lines."""
    kept, dropped = [], []
    for script in scripts:
        lines = []
        for line in script.splitlines():
            (dropped if line.startswith(REPLACED) else lines).append(line)
        kept.append("\n".join(lines))
    return kept, dropped


def start(scripts: list[str], folder: Path) -> subprocess.Popen[str]:
    """Run the scripts one after the other in ``folder`` with bash -eo pipefail, as CI does."""
    bash = "set -eo pipefail\n" + "\n".join(f"bash -eo pipefail -c {_q(s)}" for s in scripts)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "NO_COLOR": "1"}  # fmt: skip
    return subprocess.Popen(["bash", "-c", bash], cwd=folder, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def _q(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_examples_run_against_the_lab(lab: Lab, tmp_path: Path) -> None:
    runs = {}
    for name, scripts in (
        ("github-actions.yml", github_scripts(EXAMPLES / "github-actions.yml")),
        ("gitlab-ci.yml", gitlab_scripts(EXAMPLES / "gitlab-ci.yml")),
    ):
        kept, dropped = runnable(scripts)
        assert [d.split()[1] for d in dropped] == ["-m", "lab"], dropped
        folder = tmp_path / name
        write_run_files(lab, folder / "lab")
        runs[name] = (start(kept, folder), folder)  # both at once: the lab serves them together
    for name, (proc, folder) in runs.items():
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}:\n{output}"
        assert "check: 0 failed" in output
        junit = folder / "junit.xml"
        schema = etree.XMLSchema(etree.parse(str(JUNIT_XSD)))
        assert schema.validate(etree.parse(str(junit))), schema.error_log
        suite = next(iter(junitparser.JUnitXml.fromfile(str(junit))))
        assert suite.tests == len(lab.topology.names) and suite.failures == 0
        (document,) = (folder / "results").glob("*.json")
        run = Run.model_validate_json(document.read_text(encoding="utf-8"))
        assert run.vantage.name == "lab-censored"
