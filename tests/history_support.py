"""A scripted repository for the history tests: a git repo of N commits, with a saved
``--gpubench`` run per commit in pytest-benchmark's storage layout.

The runs are synthesised with :func:`~pytest_gpubench.report_json.benchmark_document` (the
writer a remote run uses) instead of running pytest at each commit: the history only reads
saved runs, and thirty real runs would take minutes. Each run pairs numpy (the baseline,
1 s per call) with cupy (0.1 s), ten rounds each with 3% noise per round and 2% per run.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from pytest_gpubench.report_json import benchmark_document
from pytest_gpubench.results import Measurement, RunResults
from pytest_gpubench.speedup import build_rows
from pytest_gpubench.storage import save_run

MACHINE = "Linux-CPython-3.11-64bit"
CPU = {"processor": "AMD EPYC 7R32", "cores": "8"}
GPU = {"gpu": "NVIDIA A10G", "memory": "23 GiB"}
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def run_results(rng: np.random.Generator, device_s: float, baseline_s: float) -> RunResults:
    """One run's paired measurements: numpy's own rounds, cupy's paired with numpy's."""
    run_base, run_device = rng.lognormal(0, 0.02, 2)
    rounds = 10

    def times(median: float) -> tuple[float, ...]:
        return tuple(float(t) for t in median * rng.lognormal(0, 0.03, rounds))

    results = RunResults()
    results.add(Measurement("fit", "4k", "numpy", times(baseline_s * run_base), device_info=CPU))
    results.add(
        Measurement(
            "fit",
            "4k",
            "cupy",
            times(device_s * run_device),
            device_info=GPU,
            paired_baseline_s=times(baseline_s * run_base),
            baseline_first=tuple(i % 2 == 0 for i in range(rounds)),
        )
    )
    results.extra["profile"] = "quick"
    return results


def scripted_repo(
    tmp_path: Path,
    commits: int = 30,
    slower_at: int | None = None,
    device_factor: float = 1.2,
    baseline_factor: float = 1.0,
    seed: int = 0,
    subject: str = "dbn: fuse the update",
) -> tuple[Path, Path, list[str]]:
    """A repo of ``commits`` commits and a storage with one run saved at each; from commit
    ``slower_at`` on, cupy takes ``device_factor`` and numpy ``baseline_factor`` times as
    long (its commit's subject: ``subject``). Returns the repo, the storage and the
    commits' full shas, oldest first."""
    repo, storage = tmp_path / "repo", tmp_path / "repo" / ".benchmarks"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    rng = np.random.default_rng(seed)
    shas = []
    for i in range(commits):
        (repo / "step.txt").write_text(f"{i}\n")
        git(repo, "add", "step.txt")
        git(repo, "commit", "-q", "-m", subject if i == slower_at else f"change {i}")
        sha = git(repo, "rev-parse", "HEAD")
        shas.append(sha)
        after = slower_at is not None and i >= slower_at
        results = run_results(
            rng,
            0.1 * (device_factor if after else 1.0),
            1.0 * (baseline_factor if after else 1.0),
        )
        rows = build_rows(results.measurements, "numpy")
        when = (START + timedelta(hours=i)).isoformat()
        commit_info = {"id": sha, "time": when, "dirty": False, "branch": "main"}
        document = benchmark_document(results, rows, "numpy", {"node": "ci"}, commit_info)
        save_run(document, "main", storage, machine_id=MACHINE)
    return repo, storage, shas
