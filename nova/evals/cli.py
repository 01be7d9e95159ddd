"""``nova eval``: run a simulated-call eval of a brief on a Nova server, for CI pipelines.

    NOVA_API_URL=https://nova.example.com NOVA_API_TOKEN=... nova eval brief.json

``brief.json`` is a ``POST /v1/evals`` body (product, goal, links, context…; personas and
counts optional, the flags override them). The command starts the eval, follows it until it
finishes, prints each persona's pass rate with the failures explained, and exits:

    0  the eval passed          1  the eval failed (a persona under the threshold)
    2  bad input or the API refused the request (message on stderr)
    3  the run itself failed or did not finish within --wait seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nova.cli import EXTRA_COMMANDS

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("brief", help="JSON file with the POST /v1/evals body ('-' for stdin)")
    parser.add_argument("--personas", help="comma-separated persona ids (default: all shipped)")
    parser.add_argument("--conversations", type=int, help="conversations per persona (1-10)")
    parser.add_argument("--max-turns", type=int, help="lead turns per conversation (1-30)")
    parser.add_argument("--threshold", type=float, help="pass rate every persona must reach")
    parser.add_argument(
        "--api-url", help="Nova API base URL (default: $NOVA_API_URL, else $NOVA_PUBLIC_URL)"
    )
    parser.add_argument("--token", help="bearer token (default: $NOVA_API_TOKEN; prefer it)")
    parser.add_argument(
        "--wait", type=float, default=1800, help="give up after this many seconds (default 1800)"
    )
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between status checks")
    parser.add_argument("--json", action="store_true", help="print the final result as JSON")


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    raw = sys.stdin.read() if args.brief == "-" else Path(args.brief).read_text("utf-8")
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("the brief file must hold a JSON object")
    if args.personas:
        body["personas"] = [p.strip() for p in args.personas.split(",") if p.strip()]
    for flag, key in (
        ("conversations", "conversations_per_persona"),
        ("max_turns", "max_turns"),
        ("threshold", "pass_threshold"),
    ):
        if getattr(args, flag) is not None:
            body[key] = getattr(args, flag)
    return body


def report(result: dict[str, Any]) -> str:
    verdict = {True: "PASSED", False: "FAILED"}.get(result.get("passed"), result["status"].upper())
    lines = [f"eval {result['id']}: {verdict} ({result['product']}, goal {result['goal']})"]
    for p in result["personas"]:
        rate = "—" if p["pass_rate"] is None else f"{p['pass_rate']:.0%}"
        mark = "ok " if p["meets_threshold"] else "FAIL"
        lines.append(f"  {mark} {p['persona']:<20} {p['passed']}/{p['conversations']} ({rate})")
        for f in p["failures"]:
            lines.append(f"         #{f['index']} {f['check']}: {f['explanation']}")
    u = result["usage"]
    lines.append(
        f"LLM cost ${u['llm_cost_usd']:.6f} ({u['input_tokens']} in / {u['output_tokens']} out "
        f"tokens); billed minutes {u['billed_minutes']}"
    )
    if result.get("error"):
        lines.append(f"error: {result['error']}")
    return "\n".join(lines)


async def run_eval(
    api: Any,
    body: dict[str, Any],
    *,
    wait: float,
    poll: float,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> dict[str, Any]:
    """Start the eval and follow it until it finishes (raises TimeoutError after ``wait``)."""
    started = await api.post("/v1/evals", body)
    deadline = time.monotonic() + wait
    while True:
        result = await api.get(f"/v1/evals/{started['id']}", params={"transcripts": "false"})
        if result["status"] in ("completed", "failed"):
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"eval {started['id']} still {result['status']} after {wait:g} s "
                f"({result['progress']['finished']}/{result['progress']['total']} done)"
            )
        await sleep(poll)


def exit_code(result: dict[str, Any]) -> int:
    if result["status"] != "completed":
        return EXIT_ERROR
    return EXIT_PASSED if result["passed"] else EXIT_FAILED


async def main(args: argparse.Namespace, *, api: Any = None, sleep: Any = asyncio.sleep) -> int:
    from nova.mcp_server.client import NovaAPIError, NovaClient, NovaConnectionError

    try:
        body = request_body(args)
        own = api is None
        api = api or NovaClient.from_env(args.api_url, args.token)
    except (OSError, ValueError) as exc:
        print(f"nova eval: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = await run_eval(api, body, wait=args.wait, poll=args.poll, sleep=sleep)
    except NovaAPIError as exc:
        print(f"nova eval: {exc}", file=sys.stderr)
        return EXIT_USAGE if 400 <= (exc.status or 0) < 500 else EXIT_ERROR
    except (TimeoutError, NovaConnectionError) as exc:
        print(f"nova eval: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if own:
            await api.aclose()
    print(json.dumps(result, indent=2) if args.json else report(result))
    return exit_code(result)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(main(args))


EXTRA_COMMANDS["eval"] = (
    "run a simulated-call eval of a brief against personas (exit 0 = passed, for CI)",
    configure,
    run,
)
