"""One ``censorcheck run`` through the real CLI, as a user starts it, and what it cost.

The run is a child process (and, with workers, its own children), so its CPU is read from
``RUSAGE_CHILDREN`` around it. Memory is the most the whole process tree held at once: a sampler
sums the resident set of the run and every process under it every 20 ms. ``ru_maxrss`` alone
would give only the largest single process.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from figures import Figures, cpu_seconds

from censorcheck.models import Run
from censorcheck.results.store import read_run

_SAMPLE_EVERY = 0.02


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            found += [int(c) for c in text.split()]
    except OSError:
        pass
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid: int) -> int:
    """The resident memory of ``pid`` and every process below it, in KiB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _rss_kib(current)
        todo += _children(current)
    return total


class PeakSampler:
    """Samples a process tree's memory in a thread until stopped; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(_SAMPLE_EVERY):
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kib


def cli_run(
    urls: Sequence[str],
    lab_arguments: Sequence[str],
    *,
    timeout: float,
    concurrency: int,
    workers: int | None,
    extra: Sequence[str] = (),
    profile: Path | None = None,
) -> tuple[Run, Figures]:
    """``censorcheck run`` over ``urls`` with the lab's flags; the document and its costs.

    With ``profile``, the run's main process runs under cProfile, which writes its figures
    there (the profiler's own cost then counts in the CPU figures).
    """
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
        folder = Path(tmp)
        targets = folder / "targets.txt"
        targets.write_text("\n".join(urls) + "\n", encoding="utf-8")
        document = folder / "run.json"
        command = [
            sys.executable, *profiler, "-m", "censorcheck", "run", str(targets), *lab_arguments,
            "--timeout", f"{timeout:g}", "--concurrency", str(concurrency),
            "--quiet", "--output", str(document), "--fail-on", "never",
            "--results-dir", str(folder), *extra,
        ]  # fmt: skip
        if workers is not None:
            command += ["--workers", str(workers)]
        user0, sys0 = cpu_seconds(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sampler = PeakSampler(proc.pid)
        _, err = proc.communicate()
        wall = time.monotonic() - start
        peak = sampler.stop()
        user1, sys1 = cpu_seconds(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(f"censorcheck run exited {proc.returncode}: {err.decode()[-2000:]}")
        run = read_run(document)
    return run, {
        "wall_s": wall,
        "cpu_s": (user1 - user0) + (sys1 - sys0),
        "cpu_user_s": user1 - user0,
        "cpu_sys_s": sys1 - sys0,
        "cpu_ms_per_target": 1000 * ((user1 - user0) + (sys1 - sys0)) / max(1, len(urls)),
        "peak_rss_mib": peak / 1024,
        "workers": workers,
    }
