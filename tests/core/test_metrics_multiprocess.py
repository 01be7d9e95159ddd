"""/metrics whole across processes: prometheus-client's multiprocess mode, as
`nova serve --workers N` sets it up (``nova.core.metrics``)."""

from __future__ import annotations

import os
import subprocess
import sys

from nova.core import metrics

CHILD = """
import sys
from nova.api.middleware import REQUESTS, LATENCY
from nova.records import funnel
for _ in range(int(sys.argv[1])):
    REQUESTS.labels("GET", "/health", "200").inc()
    LATENCY.labels("GET", "/health").observe(0.002)
funnel.stage("connected")
funnel.turn_latency({"e2e_ms": [900.0, 1200.0]})
"""


def _value(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in:\n{text}")


def test_two_processes_are_summed(tmp_path, monkeypatch):
    monkeypatch.setenv(metrics.ENV, "")  # so that it is restored (removed) after the test
    stale = tmp_path / "counter_99999.db"
    stale.write_bytes(b"left over by an earlier run")
    directory = metrics.prepare_multiprocess(str(tmp_path))
    assert not stale.exists()  # emptied at start
    env = {**os.environ, metrics.ENV: str(directory)}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", CHILD, str(n)], env=env, check=True, timeout=60)
    text = metrics.render(str(directory)).decode()
    requests = 'nova_http_requests_total{method="GET",route="/health",status="200"}'
    assert _value(text, requests) == 7.0
    assert (
        _value(text, 'nova_http_request_duration_seconds_count{method="GET",route="/health"}')
        == 7.0
    )
    assert _value(text, 'nova_call_funnel_total{stage="connected"}') == 2.0
    assert _value(text, 'nova_call_turn_latency_seconds_bucket{kind="e2e",le="1.0"}') == 2.0
    assert _value(text, 'nova_call_turn_latency_seconds_count{kind="e2e"}') == 4.0
