"""Prometheus metrics that are whole across processes.

``nova serve --workers N`` runs N processes; each keeps its own counters, so a scrape of
``/metrics`` used to show whichever process answered. With ``prepare_multiprocess()``
(called by ``nova serve`` before it starts the workers) every process writes its values
to files in one directory (prometheus-client's multiprocess mode, chosen by the
``PROMETHEUS_MULTIPROC_DIR`` environment variable that the workers inherit), and
``render()`` sums them: any worker answers for all of them. One process (the default)
keeps the in-memory registry.

The directory is ``Settings.metrics_dir`` (``NOVA_METRICS_DIR``) or a fresh temporary one, emptied at start (stale
files of an earlier run would be added in otherwise).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(directory: str | None = None) -> Path:
    """Point this process and the workers it starts at an empty metrics directory."""
    path = Path(directory or tempfile.mkdtemp(prefix="nova-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[ENV] = str(path)
    return path


def multiprocess_dir() -> str | None:
    return os.environ.get(ENV) or None


def render(directory: str | None = None) -> bytes:
    """The text exposition of every process's metrics (or this process's alone)."""
    directory = directory or multiprocess_dir()
    if not directory:
        return generate_latest()
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry)
