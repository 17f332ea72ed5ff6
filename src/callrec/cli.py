"""`callrec serve | migrate | copy | accounts create | keys create | callbacks dead | replay |
calls incoming | press | silence | hang-up`."""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from callrec import __version__, cli_calls, logs
from callrec.api.callbacks import entry as entry_json
from callrec.callbacks.dispatcher import replay
from callrec.domain.errors import DomainError, InvalidParameter, NotFound
from callrec.domain.model import MICROS_PER_SECOND
from callrec.domain.recording import SOFT_DELETE_RETENTION
from callrec.ids import system_clock
from callrec.server import Config, build, open_accounts
from callrec.service.accounts import AccountService
from callrec.storage.base import StorageError
from callrec.storage.copy import CannotCopy, copy_database
from callrec.storage.factory import open_store

DEFAULT_DATA_DIR = os.environ.get("CALLREC_DATA_DIR", "var")
DATABASE_ENV = "CALLREC_DATABASE_URL"
SHUTDOWN_GRACE_SECONDS = 10


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callrec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"callrec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the Twilio-compatible API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    _data_dir(serve)
    serve.add_argument(
        "--answer-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="how long an emulated call rings before it is answered (default 1.0)",
    )
    serve.add_argument(
        "--streams-path",
        default="/streams",
        help="path of the media stream WebSocket (default /streams)",
    )
    serve.add_argument(
        "--stream-grace",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long a call waits for a dropped stream to reconnect before it ends (5.0)",
    )
    serve.add_argument(
        "--callback-retry-delays",
        type=_delays,
        metavar="S,S,...",
        help="seconds before each retry of a failed status callback (default 5,30,120,420)",
    )
    serve.add_argument(
        "--soft-delete-retention",
        type=float,
        default=SOFT_DELETE_RETENTION / MICROS_PER_SECOND,
        metavar="SECONDS",
        help="how long a deleted recording stays visible with IncludeSoftDeleted (40 days)",
    )
    serve.add_argument(
        "--public-media",
        action="store_true",
        help="serve recording media without credentials (Twilio's default; off here)",
    )
    serve.add_argument(
        "--public-url",
        help="absolute base URL of this server, for media_url (default: from each request)",
    )
    serve.add_argument(
        "--peer-url",
        help="where the other processes of the deployment reach this one (default:"
        " http://HOST:PORT, with the machine's name for 0.0.0.0)",
    )

    serve.add_argument(
        "--media-store",
        metavar="s3://BUCKET[/PREFIX]",
        help="keep completed recordings' files in an S3-compatible bucket (endpoint and"
        " credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …; default: the data directory)",
    )
    serve.add_argument(
        "--media-urls",
        choices=("redirect", "proxy"),
        default="redirect",
        help="with --media-store, answer media requests with a redirect to a short-lived signed"
        " URL, as Twilio does (default), or pass the bytes through",
    )
    serve.add_argument(
        "--encrypt-at-rest",
        action="store_true",
        help="seal capture files and rendered audio in the data directory with the server's key"
        " (and ask the media store for server-side encryption)",
    )
    serve.add_argument(
        "--retention",
        type=float,
        metavar="SECONDS",
        help="delete completed recordings' audio this long after they complete, unless their"
        " account says otherwise (default: keep it)",
    )
    serve.add_argument(
        "--retention-sweep",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how often to look for recordings past their retention (60)",
    )
    serve.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics at http://METRICS_HOST:PORT/metrics (default: none)",
    )
    serve.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address of the metrics' listener (default 127.0.0.1: this machine only)",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="one line per request and per notable event, as text or JSON (default text)",
    )
    serve.add_argument(
        "--shutdown-grace",
        type=float,
        default=SHUTDOWN_GRACE_SECONDS,
        metavar="SECONDS",
        help="on SIGTERM, how long requests in flight may take before connections are closed"
        f" ({SHUTDOWN_GRACE_SECONDS})",
    )

    migrate = commands.add_parser("migrate", help="bring the database's schema up to date")
    _data_dir(migrate)

    copying = commands.add_parser(
        "copy",
        help="copy a deployment's database to another backend",
        description="Copy every row of a deployment's database (SQLite in a data directory, or"
        " PostgreSQL) into an empty one, in one transaction; the source is only read. Stop the"
        " source's servers first. The audio and secret.key are not in the database: they stay in"
        " the data directory, which the new deployment must keep using (--data-dir D"
        " --database URL).",
    )
    for option, role in (("--from", "source"), ("--to", "target")):
        copying.add_argument(
            option,
            dest=role,
            required=True,
            metavar="D|URL",
            help=f"the {role}: a data directory (its SQLite callrec.db) or a postgresql:// URL",
        )

    accounts = commands.add_parser("accounts", help="manage accounts").add_subparsers(
        dest="action", required=True
    )
    create_account = accounts.add_parser("create", help="create an account, print sid and token")
    _data_dir(create_account)
    create_account.add_argument("--friendly-name", default="callrec account")
    create_account.add_argument("--parent", metavar="AC_SID", help="make it a subaccount of this")
    create_account.add_argument("--json", action="store_true", help="print JSON")
    update_account = accounts.add_parser("update", help="change an account's settings")
    _data_dir(update_account)
    update_account.add_argument("--account", required=True, metavar="AC_SID")
    update_account.add_argument(
        "--retention",
        type=_retention,
        metavar="SECONDS|default",
        help="delete its completed recordings' audio this long after they complete"
        " ('default': the server's --retention)",
    )
    update_account.add_argument(
        "--encryption-key",
        metavar="CR_SID|none",
        help="encrypt its new recordings with this public key of the account (Twilio's Voice"
        " Recording Encryption; 'none': stop)",
    )

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create_key = keys.add_parser("create", help="create an API key, print sid and secret")
    _data_dir(create_key)
    create_key.add_argument("--account", required=True, metavar="AC_SID")
    create_key.add_argument("--friendly-name", default="callrec key")
    create_key.add_argument("--json", action="store_true", help="print JSON")

    callbacks = commands.add_parser("callbacks", help="status callbacks").add_subparsers(
        dest="action", required=True
    )
    dead = callbacks.add_parser("dead", help="list the callbacks that could not be delivered")
    _data_dir(dead)
    dead.add_argument("--account", required=True, metavar="AC_SID")
    dead.add_argument("--json", action="store_true", help="print JSON")
    again = callbacks.add_parser("replay", help="send a dead letter again")
    _data_dir(again)
    again.add_argument("--account", required=True, metavar="AC_SID")
    again.add_argument("id", type=int)

    cli_calls.add_commands(commands)

    args = parser.parse_args(argv)
    if args.command == "calls":
        return cli_calls.run(args)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "copy":
            return _copy(args)
        if args.command == "accounts":
            return _create_account(args) if args.action == "create" else _update_account(args)
        if args.command == "callbacks":
            return _dead_letters(args) if args.action == "dead" else _replay(args)
        return _create_key(args)
    except InvalidParameter as error:
        print(f"callrec: {error.message}", file=sys.stderr)
        return 2
    except NotFound:
        print("callrec: not found (no such account, or no such dead letter)", file=sys.stderr)
        return 2
    except DomainError as error:
        print(f"callrec: {error}", file=sys.stderr)
        return 2
    except (StorageError, CannotCopy, ValueError) as error:
        print(f"callrec: {error}", file=sys.stderr)
        return 1


def _delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of seconds") from None
    if any(delay < 0 for delay in delays):
        raise argparse.ArgumentTypeError("delays cannot be negative")
    return delays


def _data_dir(parser: argparse.ArgumentParser) -> None:
    """--data-dir and --database: where a deployment keeps its state (every command takes both)."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(DEFAULT_DATA_DIR),
        help="where callrec keeps its audio, its key and (without --database) its SQLite"
        " database (default $CALLREC_DATA_DIR or ./var); shared by every process of a deployment",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get(DATABASE_ENV) or None,
        metavar="URL",
        help="postgresql://user:password@host:port/db for several processes on one PostgreSQL"
        f" (default ${DATABASE_ENV}; without either, SQLite in the data directory)",
    )


def _serve(args: argparse.Namespace) -> int:
    logs.configure(args.log_format)
    config = Config(
        args.data_dir,
        args.answer_delay,
        args.public_url,
        f"http://{args.host}:{args.port}",
        args.public_media,
        args.streams_path,
        args.stream_grace,
        args.callback_retry_delays,
        args.soft_delete_retention,
        args.database,
        args.peer_url or _peer_url(args.host, args.port),
        args.retention,
        args.retention_sweep,
        args.media_store,
        args.media_urls,
        args.encrypt_at_rest,
        args.metrics_port,
        args.metrics_host,
        args.log_format,
    )
    built = build(config)
    sid, token = _serving_account(built.accounts)
    where = f"data in {args.data_dir}/" + (", database on PostgreSQL" if args.database else "")
    print(
        f"callrec {__version__} on http://{args.host}:{args.port} ({where})\n"
        f"  TWILIO_ACCOUNT_SID={sid}\n"
        f"  TWILIO_AUTH_TOKEN={token}",
        flush=True,
    )
    server = _Server(
        built.uvicorn_config(
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # X-Forwarded-* are not trusted: callrec is its own front
            server_header=False,
            # SIGTERM: connections still open after this are closed, then the app shuts down
            # (what was answered is already durable); else one lingering socket holds the exit.
            timeout_graceful_shutdown=args.shutdown_grace,
        ),
        built.drain,
    )
    # uvicorn raises the signal that stopped it again once it has stopped; SIGTERM is a
    # shutdown asked for, and done: exit 0, as a service manager expects.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    # What exists now (modules, the app, its services) lives as long as the process: moved out
    # of the collector's reach, a full collection no longer walks it while requests wait (tens
    # of ms each: docs/BENCHMARKS.md, "UpdateCallRecording on PostgreSQL").
    gc.freeze()
    server.run()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, which tells callrec as soon as a signal asks it to stop (uvicorn runs
    the app's own shutdown only once its connections have closed)."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], None]) -> None:
        super().__init__(config)
        self._drain = drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._drain()
        super().handle_exit(sig, frame)


def _peer_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{host}:{port}"


def _migrate(args: argparse.Namespace) -> int:
    """Opening the store migrates it (under a lock that processes starting together share)."""
    open_store(args.database, args.data_dir)
    print("the database is up to date")
    return 0


def _copy(args: argparse.Namespace) -> int:
    copied = copy_database(args.source, args.target)
    for table, rows in copied.items():
        print(f"{table:<17}{rows:>10}")
    print("copied. The audio and secret.key are not in the database: serve the target with the")
    print("data directory that holds them (--data-dir).")
    return 0


def _serving_account(accounts: AccountService) -> tuple[str, str]:
    """The account to show: $TWILIO_ACCOUNT_SID/$TWILIO_AUTH_TOKEN (created if missing), else
    the first account of this data directory, else a new one."""
    sid, token = os.environ.get("TWILIO_ACCOUNT_SID"), os.environ.get("TWILIO_AUTH_TOKEN")
    if sid and token:
        return accounts.ensure_account(sid, token).sid, token
    existing = accounts.first_account()
    if existing is None:
        account, new_token = accounts.create_account("callrec account")
        return account.sid, new_token
    account, known = existing
    return account.sid, known or "(sealed with another key: see CALLREC_SECRET_KEY)"


def _create_account(args: argparse.Namespace) -> int:
    account, token = open_accounts(args.data_dir, args.database).create_account(
        args.friendly_name, parent_sid=args.parent
    )
    if args.json:
        print(
            json.dumps(
                {"account_sid": account.sid, "auth_token": token, "parent_sid": account.parent_sid}
            )
        )
    else:
        print(f"TWILIO_ACCOUNT_SID={account.sid}\nTWILIO_AUTH_TOKEN={token}")
    return 0


def _update_account(args: argparse.Namespace) -> int:
    if args.retention is None and args.encryption_key is None:
        print("callrec: nothing to change (--retention, --encryption-key)", file=sys.stderr)
        return 2
    accounts = open_accounts(args.data_dir, args.database)
    if args.retention is not None:
        retention = None if args.retention == "default" else args.retention
        accounts.set_retention(args.account, retention)
        print(f"{args.account}: retention {_shown_retention(retention)}")
    if args.encryption_key is not None:
        key = None if args.encryption_key == "none" else args.encryption_key
        accounts.set_encryption_key(args.account, key)
        print(f"{args.account}: recordings encrypted with {key}" if key else
              f"{args.account}: recordings not encrypted")  # fmt: skip
    return 0


def _retention(text: str) -> int | str:
    """Seconds (as microseconds), or "default"."""
    if text == "default":
        return text
    seconds = float(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the retention must be more than 0 seconds")
    return round(seconds * MICROS_PER_SECOND)


def _shown_retention(retention: int | None) -> str:
    return "the server's default" if retention is None else f"{retention / MICROS_PER_SECOND:g} s"


def _create_key(args: argparse.Namespace) -> int:
    sid, secret = open_accounts(args.data_dir, args.database).create_api_key(
        args.account, args.friendly_name
    )
    if args.json:
        print(json.dumps({"sid": sid, "secret": secret, "account_sid": args.account}))
    else:
        print(f"API key sid: {sid}\nAPI key secret: {secret}  (shown once; not stored)")
    return 0


def _dead_letters(args: argparse.Namespace) -> int:
    store = open_store(args.database, args.data_dir)
    dead = store.run_now(lambda tx: tx.dead_callbacks(args.account))
    if args.json:
        print(json.dumps([entry_json(item) for item in dead]))
        return 0
    for item in dead:
        print(
            f"{item.id}\t{item.subject_sid}\t{item.event}\t{item.attempts}\t{item.url}"
            f"\t{item.last_error}"
        )
    return 0


def _replay(args: argparse.Namespace) -> int:
    """The running server's dispatcher finds the entry within a second."""
    store = open_store(args.database, args.data_dir)
    replayed = store.run_now(lambda tx: replay(tx, args.id, args.account, system_clock()))
    if replayed is None:
        raise NotFound()
    print(f"callback {args.id} will be sent again")
    return 0
