"""The ``nova`` command: serve, migrate, user administration (and the worker/MCP entrypoints
registered by their packages)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable

from nova.core.settings import Settings, get_settings

# Subcommands contributed by other packages: name -> (help, configure(parser), run(args) -> int)
EXTRA_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable]] = {}


def _load_settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic ValidationError: print it plainly and stop
        print(f"nova: invalid configuration:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def cmd_migrate(args: argparse.Namespace) -> int:
    from nova.core.migrate import upgrade

    settings = _load_settings()
    upgrade(settings.database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _serve_problems(settings: Settings, workers: int) -> list[str]:
    """Why ``nova serve`` cannot run ``workers`` processes with these settings (empty: it can)."""
    if workers < 1:
        return [f"--workers must be at least 1, got {workers}"]
    if workers == 1:
        return []
    problems = []
    if settings.is_sqlite:
        problems.append(
            f"--workers {workers} needs PostgreSQL (NOVA_DATABASE_URL=postgresql+asyncpg://...): "
            "SQLite allows one writer per file, so worker processes would block each other "
            "(run one worker on SQLite)"
        )
    if not settings.redis_url:
        problems.append(
            f"--workers {workers} needs NOVA_REDIS_URL so that rate limits are shared: "
            "without it each worker process would allow the whole limit on its own"
        )
    return problems


def local_url(host: str, port: int) -> str:
    """The URL a process on this machine reaches a server bound to ``host``:``port`` at."""
    if host in ("0.0.0.0", ""):  # noqa: S104 (a comparison, not a bind)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from nova.core.logging import configure_logging
    from nova.core.migrate import upgrade

    settings = _load_settings()
    workers = settings.workers if args.workers is None else args.workers
    problems = _serve_problems(settings, workers)
    if problems:
        for problem in problems:
            print(f"nova: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_json)
    if settings.is_sqlite or args.migrate:
        upgrade(settings.database_url)  # once, before any worker starts
    options = {
        "host": args.host or settings.host,
        "port": args.port or settings.port,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
    }
    if "public_url" not in settings.model_fields_set:
        # Unset: links and worker reports point where this server really listens.
        settings.public_url = local_url(options["host"], options["port"])
        os.environ["NOVA_PUBLIC_URL"] = settings.public_url  # for --workers N processes
    if workers == 1:
        from nova.api.app import create_app

        uvicorn.run(create_app(settings), **options)
    else:
        from nova.core.metrics import prepare_multiprocess

        # /metrics sums every worker's values (prometheus-client multiprocess mode).
        prepare_multiprocess(settings.metrics_dir)
        # Each worker process imports the factory and builds its app (and its background
        # runner) from the same environment; uvicorn's parent supervises and restarts them.
        uvicorn.run("nova.api.app:create_app", factory=True, workers=workers, **options)
    return 0


async def _user_create(email: str, password: str, name: str | None, admin: bool) -> str:
    from nova.accounts import service
    from nova.accounts.schemas import RegisterRequest
    from nova.core.db import dispose_engine, init_engine, session_scope

    settings = get_settings()
    body = RegisterRequest(email=email, password=password, name=name)
    init_engine(settings)
    try:
        async with session_scope() as session:
            user = await service.register(
                session, settings, email=body.email, password=body.password, name=body.name
            )
            user.is_admin = admin
            return user.id
    finally:
        await dispose_engine()


async def _user_flags(email: str, changes: dict[str, bool]) -> dict:
    from nova.accounts import service
    from nova.core.db import dispose_engine, init_engine, session_scope

    init_engine(get_settings())
    try:
        async with session_scope() as session:
            user = await service.get_by_email(session, email.strip().lower())
            if user is None:
                raise SystemExit(f"nova: no user with email {email}")
            flags = dict(user.features or {})
            flags.update(changes)
            user.features = flags
            return service.features(user).model_dump()
    finally:
        await dispose_engine()


def cmd_user(args: argparse.Namespace) -> int:
    from nova.accounts.service import FEATURE_FLAGS

    _load_settings()
    if args.user_cmd == "create":
        from pydantic import ValidationError

        from nova.core.errors import NovaError

        password = args.password or getpass.getpass("Password: ")
        try:
            user_id = asyncio.run(_user_create(args.email, password, args.name, args.admin))
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            print(f"nova: invalid user: {problems}", file=sys.stderr)
            return 2
        except NovaError as exc:
            print(f"nova: {exc.detail}", file=sys.stderr)
            return 1
        print(json.dumps({"id": user_id, "email": args.email.strip().lower()}))
        return 0
    if args.user_cmd == "flags":
        changes: dict[str, bool] = {}
        for item in args.set or []:
            name, _, value = item.partition("=")
            if name not in FEATURE_FLAGS or value.lower() not in ("on", "off", "true", "false"):
                print(
                    f"nova: expected FLAG=on|off with FLAG in {', '.join(FEATURE_FLAGS)}",
                    file=sys.stderr,
                )
                return 2
            changes[name] = value.lower() in ("on", "true")
        print(json.dumps(asyncio.run(_user_flags(args.email, changes))))
        return 0
    return 2


def cmd_secrets(args: argparse.Namespace) -> int:
    """Print fresh secrets as .env lines (needs no configuration: it is how you make one)."""
    from nova.core.secret_strength import generate

    for name, value in generate().items():
        print(f"{name}={value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nova", description="Nova voice-agent runtime")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the control plane (API + background runner)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--migrate", action="store_true", help="apply migrations first (always on SQLite)"
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes (default NOVA_WORKERS, 1); N > 1 needs PostgreSQL and Redis",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("revision", nargs="?", default="heads")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("user", help="manage users")
    usub = p.add_subparsers(dest="user_cmd", required=True)
    c = usub.add_parser("create", help="create a user (with a trial)")
    c.add_argument("email")
    c.add_argument("--password", help="prompted when omitted")
    c.add_argument("--name")
    c.add_argument("--admin", action="store_true")
    f = usub.add_parser("flags", help="show or set feature flags")
    f.add_argument("email")
    f.add_argument("--set", action="append", metavar="FLAG=on|off")
    p.set_defaults(func=cmd_user)

    p = sub.add_parser("secrets", help="secrets for production")
    ssub = p.add_subparsers(dest="secrets_cmd", required=True)
    ssub.add_parser("generate", help="print new random NOVA_* secrets as .env lines")
    p.set_defaults(func=cmd_secrets)

    _load_extra_commands()
    for name, (help_text, configure, run) in EXTRA_COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        configure(p)
        p.set_defaults(func=run)
    return parser


def _load_extra_commands() -> None:
    """Packages that add subcommands register them in ``EXTRA_COMMANDS`` on import."""
    import importlib

    for module in ("nova.agent.cli", "nova.mcp_server.cli", "nova.evals.cli", "nova.speech.cli"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            # The package (or its cli module) is not there yet: no extra command. A missing
            # dependency *inside* it is a real error.
            if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
                raise


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
