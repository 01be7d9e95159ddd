"""Call records a team can work from: transcripts, per-call latency, post-call analysis and
analytics across calls. Tables in ``nova.models.records``."""
