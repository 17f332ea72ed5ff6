"""`callrec calls incoming | press | silence | hang-up`: a test's far end, from the command line.

These talk to a running server over HTTP (its `/_callrec/` extension), with an account's
credentials: the calls live in the server's processes, not in the database alone."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_SERVER = os.environ.get("CALLREC_SERVER", "http://127.0.0.1:8080")
TIMEOUT_SECONDS = 30


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calls = commands.add_parser(
        "calls", help="place an inbound call, or play the far end of a live one"
    ).add_subparsers(dest="action", required=True)
    incoming = calls.add_parser("incoming", help="call one of the account's numbers")
    incoming.add_argument("--from", dest="from_", required=True, metavar="NUMBER")
    incoming.add_argument("--to", required=True, metavar="NUMBER")
    press = calls.add_parser("press", help="the far end presses keys")
    press.add_argument("--digits", required=True)
    silence = calls.add_parser("silence", help="the far end says nothing for a while")
    silence.add_argument("--seconds", required=True)
    hang_up = calls.add_parser("hang-up", help="the far end hangs up")
    for command in (press, silence, hang_up):
        command.add_argument("--call", required=True, metavar="CA_SID")
    for command in (incoming, press, silence, hang_up):
        command.add_argument("--server", default=DEFAULT_SERVER, help="the server's base URL")
        command.add_argument(
            "--account", default=os.environ.get("TWILIO_ACCOUNT_SID"), metavar="AC_SID",
            help="default: $TWILIO_ACCOUNT_SID",
        )  # fmt: skip
        command.add_argument(
            "--token", default=os.environ.get("TWILIO_AUTH_TOKEN"),
            help="the account's auth token; default: $TWILIO_AUTH_TOKEN",
        )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if not args.account or not args.token:
        print("callrec: give --account and --token (or set TWILIO_*)", file=sys.stderr)
        return 2
    base = f"/_callrec/Accounts/{args.account}"
    if args.action == "incoming":
        path, form = f"{base}/IncomingCalls.json", {"From": args.from_, "To": args.to}
    elif args.action == "press":
        path, form = f"{base}/Calls/{args.call}/Digits.json", {"Digits": args.digits}
    elif args.action == "silence":
        path, form = f"{base}/Calls/{args.call}/Silence.json", {"Seconds": args.seconds}
    else:
        path, form = f"{base}/Calls/{args.call}/Hangup.json", {}
    return _post(args.server.rstrip("/") + path, form, args.account, args.token)


def _post(url: str, form: dict[str, str], username: str, password: str) -> int:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Basic {credentials}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            print(answer.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            message = body or error.reason
        print(f"callrec: HTTP {error.code}: {message}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"callrec: cannot reach {url}: {error}", file=sys.stderr)
        return 1
