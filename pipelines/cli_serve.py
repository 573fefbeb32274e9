"""``residua serve`` (the team review service) and ``residua users`` (its accounts).

Both use the deployment's review store: ``--database URL`` if given, else the PostgreSQL
database of ``RESIDUA_POSTGIS_URL`` (schema ``--schema``, default ``residua``), else
``reviews.sqlite`` in the Dagster instance folder (needs ``DAGSTER_HOME``; the Makefile sets it).
The pipeline's ``reviews`` asset reads that same default store.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import timedelta
from pathlib import Path

from residua.geodata.accounts import ROLES, AccountError, check_user_name, hash_password
from residua.geodata.review_page import ReviewPageError, default_reviews_path, read_run_metadata
from residua.geodata.review_store import ReviewStore, ReviewStoreError, default_review_store
from residua.pipelines.review_server import ReviewServerError

COMMANDS: tuple[str, ...] = ("serve", "users")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ServeError(ValueError):
    """``residua serve`` or ``residua users`` cannot do what was asked."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``serve`` and ``users`` on the ``residua`` command's subparsers."""
    serve = subparsers.add_parser("serve", help="serve the review page to a team: sign-in, roles, audit trail")
    serve.add_argument("--out", type=Path, default=Path("out"), help="output folder of a run (default: ./out)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others warn without TLS)"
    )
    serve.add_argument("--port", type=int, default=8766, help="port (default 8766)")
    serve.add_argument("--reviews", type=Path, default=None,
                       help="a drop's reviews.csv shown in the history too (default: the run's data dir)")  # fmt: skip
    serve.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDR",
                       help="address or network of a reverse proxy whose X-Forwarded-* headers are believed "
                       "(repeatable)")  # fmt: skip
    serve.add_argument("--proxy-user-header", default=None, metavar="HEADER",
                       help="header naming the user, from a trusted authenticating proxy (X-Remote-User)")  # fmt: skip
    serve.add_argument("--secure-cookies", action="store_true", help="mark cookies Secure even on plain HTTP")
    serve.add_argument("--ssl-certfile", type=Path, default=None, help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--ssl-keyfile", type=Path, default=None, help="... and this private key (PEM)")
    serve.add_argument("--session-hours", type=float, default=12.0, help="how long a sign-in lasts (default 12)")
    _store_arguments(serve)
    users = subparsers.add_parser("users", help="add, remove or list the review service's users")
    actions = users.add_subparsers(dest="users_command", required=True)
    add = actions.add_parser("add", help="create a user (password from a prompt or --password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    _password_arguments(add)
    add.add_argument("--no-password", action="store_true",
                     help="no password: the user signs in only through the authenticating proxy")  # fmt: skip
    remove = actions.add_parser("remove", help="delete a user and end their sessions (their decisions stay)")
    remove.add_argument("name")
    actions.add_parser("list", help="list users and roles")
    role = actions.add_parser("role", help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    passwd = actions.add_parser("passwd", help="set a user's password (ends their sessions)")
    passwd.add_argument("name")
    _password_arguments(passwd)
    for parser in (add, remove, role, passwd, actions.choices["list"]):
        _store_arguments(parser)


def run(args: argparse.Namespace) -> int | None:
    """Run ``serve`` or ``users``; None when ``args.command`` is neither."""
    if args.command not in COMMANDS:
        return None
    try:
        return serve_command(args) if args.command == "serve" else users_command(args)
    except (ServeError, ReviewStoreError, AccountError, ReviewPageError, ReviewServerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def review_store(args: argparse.Namespace) -> ReviewStore:
    """The store named by ``--database``, else the deployment's default (see the module docstring)."""
    if args.database:
        return ReviewStore(args.database, args.schema)
    url = os.environ.get("RESIDUA_POSTGIS_URL")
    if url:
        return default_review_store(url, args.schema, "")
    if not os.environ.get("DAGSTER_HOME"):
        raise ServeError("no review store: set RESIDUA_POSTGIS_URL (PostgreSQL), or DAGSTER_HOME for SQLite in the "
                         "Dagster instance folder (`make serve` does), or pass --database sqlite:///PATH")  # fmt: skip
    import dagster as dg

    return default_review_store(None, args.schema, dg.DagsterInstance.get().root_directory)


def serve_command(args: argparse.Namespace) -> int:
    """Check the setup, warn about plain HTTP beyond localhost, and run the service until interrupted."""
    import uvicorn

    from residua.pipelines.review_service import ServiceSettings, create_app

    if args.proxy_user_header and not args.trusted_proxy:
        raise ServeError("--proxy-user-header needs --trusted-proxy ADDR: the header is believed only from the proxy")
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        raise ServeError("HTTPS needs both --ssl-certfile and --ssl-keyfile")
    out = args.out.resolve()
    store = review_store(args).create()
    if not store.users():
        print(f"No users in the review store ({store.description}) yet, and there is no default password.\n"
              f"Create the first admin, then run this again:\n  {_users_add_hint(args)}", file=sys.stderr)  # fmt: skip
        return 1
    settings = ServiceSettings(
        trusted_proxies=tuple(args.trusted_proxy),
        proxy_user_header=args.proxy_user_header,
        secure_cookies=args.secure_cookies,
        session_lifetime=timedelta(hours=args.session_hours),
    )
    app = create_app(out, store, _drop_reviews(out, args.reviews), settings)
    for warning in exposure_warnings(args.host, bool(args.ssl_certfile), tuple(args.trusted_proxy)):
        print(f"WARNING: {warning}", file=sys.stderr)
    scheme = "https" if args.ssl_certfile else "http"
    print(f"Residua review service: {scheme}://{args.host}:{args.port}/  (store: {store.description}; Ctrl+C stops)")
    uvicorn.run(app, host=args.host, port=args.port, proxy_headers=False, server_header=False,
                ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile, log_level="info")  # fmt: skip
    return 0


def exposure_warnings(host: str, tls: bool, trusted_proxies: tuple[str, ...]) -> list[str]:
    """Why binding ``host`` exposes passwords and cookies, if it does.

    Examples
    --------
    >>> exposure_warnings("127.0.0.1", False, ())
    []
    >>> len(exposure_warnings("0.0.0.0", False, ()))
    1
    """
    if host in LOOPBACK or tls or trusted_proxies:
        return []
    warning = (
        f"serving on {host} over plain HTTP with no TLS proxy configured: passwords and session cookies cross "
        "the network unencrypted. Put it behind a TLS reverse proxy (--trusted-proxy ADDR) or give "
        "--ssl-certfile/--ssl-keyfile."
    )
    return [warning]


def users_command(args: argparse.Namespace) -> int:
    """``residua users add|remove|list|role|passwd``; changes are audited with the OS user as actor."""
    store = review_store(args).create()
    actor = f"cli:{_os_user()}"
    if args.users_command == "list":
        users = store.users()
        if not users:
            print(f"No users in {store.description}; add one with: {_users_add_hint(args)}")
        for user in users:
            login = "password" if user.has_password else "proxy only"
            print(f"{user.name:32s} {user.role:9s} {login:10s} created {user.created_utc:%Y-%m-%d %H:%M} UTC")
        return 0
    if args.users_command == "add":
        check_user_name(args.name)
        digest = None if args.no_password else hash_password(_read_password(args.password_stdin, args.name))
        user = store.add_user(args.name, args.role, digest, actor)
        print(f"Added {user.name} ({user.role}) to {store.description}")
    elif args.users_command == "remove":
        store.remove_user(args.name, actor)
        print(f"Removed {args.name}; their decisions stay in the history under their name")
    elif args.users_command == "role":
        store.set_role(args.name, args.role, actor)
        print(f"{args.name} is now a {args.role}")
    elif args.users_command == "passwd":
        store.set_password(args.name, hash_password(_read_password(args.password_stdin, args.name)), actor)
        print(f"Password of {args.name} changed; their sessions were ended")
    return 0


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", default=None, metavar="URL",
                        help="review store URL (postgresql://... or sqlite:///PATH); default: RESIDUA_POSTGIS_URL, "
                        "else reviews.sqlite in the Dagster instance folder, which the pipeline reads")  # fmt: skip
    parser.add_argument("--schema", default="residua", help="PostgreSQL schema of the store (default: residua)")


def _password_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")


def _read_password(from_stdin: bool, name: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ServeError("no terminal to prompt for a password on; pipe it in with --password-stdin")
    first = getpass.getpass(f"Password for {name}: ")
    if getpass.getpass("Again: ") != first:
        raise ServeError("the two passwords differ; nothing was changed")
    return first


def _drop_reviews(out: Path, reviews: Path | None) -> Path | None:
    """The drop's reviews.csv to show beside the store's decisions (None if the run recorded no data dir)."""
    if reviews is not None:
        return reviews.resolve()
    gpkg = out / "inventory.gpkg"
    if not gpkg.is_file():
        raise ServeError(f"{gpkg} does not exist; publish an inventory first with `residua run --out {out}`")
    return default_reviews_path(read_run_metadata(gpkg))


def _users_add_hint(args: argparse.Namespace) -> str:
    """The ``residua users add`` command that reaches the same store from a shell."""
    env = [f"{name}={os.environ[name]}" for name in ("DAGSTER_HOME", "RESIDUA_DAGSTER_DIR") if os.environ.get(name)]
    if os.environ.get("RESIDUA_POSTGIS_URL") or args.database:
        env = []
    program = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "residua" else "residua"
    database = [f"--database {args.database}"] if args.database else []
    return " ".join([*env, program, "users", "add", "NAME", "--role", "admin", *database])


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
