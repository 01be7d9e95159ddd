"""The LiveKit voice agent worker (``nova worker``).

Only ``server``, ``agents``, ``tools`` and ``cli``'s command body import ``livekit.agents``;
``state``, ``prompts`` and ``reporting`` are plain Python so the control plane and the
benchmarks can use them without the ~2 s import.
"""
