"""Registers ``nova speech`` (the offline OpenAI-compatible speech server) with ``nova``.

Importing this module is cheap: the models load only when the command runs.
"""

from __future__ import annotations

import argparse
import socket
import sys

from nova.cli import EXTRA_COMMANDS


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface to bind (default NOVA_SPEECH_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default NOVA_SPEECH_PORT; 0 = any free)")
    parser.add_argument(
        "--threads", type=int, help="CPU threads per model (default NOVA_SPEECH_THREADS)"
    )


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    import uvicorn

    from nova.cli import _load_settings
    from nova.core.logging import configure_logging
    from nova.speech.models import ModelError

    settings = _load_settings()
    configure_logging(settings.log_level, settings.log_json)
    host = args.host or settings.speech_host
    port = settings.speech_port if args.port is None else args.port
    key = settings.speech_api_key.get_secret_value() if settings.speech_api_key else None
    if key is None and host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"nova speech: refusing to listen on {host} without NOVA_SPEECH_API_KEY "
            "(anyone who can reach it could use it)",
            file=sys.stderr,
        )
        return 2
    try:
        from nova.speech.app import create_app
        from nova.speech.engine import SpeechEngine

        engine = SpeechEngine(threads=args.threads or settings.speech_threads)
    except ModelError as exc:
        print(f"nova speech: {exc}", file=sys.stderr)
        return 2
    # Bind first so that --port 0 can announce the port it got.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # connections made as soon as the port is announced wait in the backlog
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(engine, api_key=key), log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    print(f"nova speech listening on http://{host}:{bound}/v1", flush=True)
    logging.getLogger("nova.speech").info("listening on %s:%s", host, bound)
    asyncio.run(server.serve(sockets=[sock]))
    return 0


EXTRA_COMMANDS["speech"] = (
    "serve offline speech-to-text and text-to-speech (OpenAI audio API, local-speech extra)",
    _configure,
    _run,
)
