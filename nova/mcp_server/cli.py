"""``nova mcp``: the MCP server over stdio, driving any Nova deployment's REST API.

stdout carries the protocol, so everything else (logs, errors) goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

from nova.cli import EXTRA_COMMANDS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-url",
        help="Nova API base URL (default: $NOVA_API_URL, else $NOVA_PUBLIC_URL, "
        "else http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--token",
        help="bearer token (default: $NOVA_API_TOKEN). Prefer the environment variable: "
        "command lines are visible to other local users",
    )
    parser.add_argument(
        "--timeout", type=float, help="per-request timeout in seconds (default: 30)"
    )
    parser.add_argument("--log-level", default="WARNING", help="log level on stderr")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper())
    from nova.mcp_server.client import NovaClient
    from nova.mcp_server.server import SessionProvider, build_server

    try:
        api = NovaClient.from_env(args.api_url, args.token, timeout=args.timeout)
    except ValueError as exc:
        print(f"nova mcp: {exc}", file=sys.stderr)
        return 2
    server = build_server(SessionProvider(api))
    server.run("stdio")
    return 0


EXTRA_COMMANDS["mcp"] = ("run the MCP server over stdio (for AI assistants)", configure, run)
