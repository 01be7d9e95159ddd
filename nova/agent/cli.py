"""Registers ``nova worker`` (the LiveKit agent worker) with the ``nova`` command.

Importing this module is cheap: ``livekit.agents`` is imported only when the command runs,
so the control plane never pays for it.
"""

from __future__ import annotations

import argparse
import sys

from nova.cli import EXTRA_COMMANDS


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "mode",
        nargs="?",
        default="start",
        choices=["start", "dev"],
        help="start (production) or dev (reload, verbose)",
    )


def _run(args: argparse.Namespace) -> int:
    from nova.cli import _load_settings

    settings = _load_settings()
    if not settings.livekit_configured:
        print(
            "nova: the worker needs LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET",
            file=sys.stderr,
        )
        return 2
    from livekit.agents import cli

    from nova.agent.server import create_server

    # livekit-agents' CLI configures logging (console in dev, JSON in production).
    server = create_server(settings)
    sys.argv = [sys.argv[0], args.mode]
    cli.run_app(server)
    return 0


EXTRA_COMMANDS["worker"] = (
    "run the LiveKit voice agent worker (explicit dispatch by agent name)",
    _configure,
    _run,
)
