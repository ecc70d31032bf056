"""Command line: ``serve`` (the default) runs an emulator; ``state``/``counters``/``configure`` query one."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import os
import shlex
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, TypeVar

from .faults import MAX_DELAY_SECONDS, FaultConfig, check_delay
from .server import (
    DEFAULT_API_KEY,
    DEFAULT_ASSISTANT,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    MoveworksEmulator,
)

_COMMANDS = ("serve", "state", "counters", "configure", "reset-counters")
_URL_VARIABLE = "MOVEWORKS_EMULATOR_URL"
_N = TypeVar("_N", int, float)
_AIRFLOW_API_PORT = 8080


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each default, except where there is none or it is a flag's."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def _parsed(text: str, convert: Callable[[str], _N], kind: str, expected: str) -> _N:
    """``convert(text)``, or a usage error naming what was expected (never a traceback)."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid {kind} {text!r}: not {expected}") from None


def _port(text: str) -> int:
    """A TCP port number, 0 for any free one; anything else is a usage error, not a traceback."""
    port = _parsed(text, int, "port", "a number")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: must be 0 to 65535 (0 picks a free one)")
    return port


def _count(text: str) -> int:
    """A whole number, 0 or more."""
    value = _parsed(text, int, "count", "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid count {value}: must be 0 or more")
    return value


def _share(text: str) -> float:
    """A fraction from 0 to 1."""
    value = _parsed(text, float, "share", "a number")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"invalid share {value:g}: must be from 0 to 1")
    return value


def _seconds(text: str) -> float:
    """A positive number of seconds."""
    value = _parsed(text, float, "seconds", "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"invalid seconds {text!r}: must be a positive number")
    return value


def _delay(name: str) -> Callable[[str], float]:
    """The type of a delay flag: seconds from 0 to ``MAX_DELAY_SECONDS``; ``inf``, ``nan`` or
    ``1e308`` are usage errors (``configure`` checks before sending, as ``serve`` does)."""

    def convert(text: str) -> float:
        value = _parsed(text, float, "seconds", "a number")
        try:
            check_delay(name, value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return value

    convert.__name__ = "seconds"  # what argparse calls the type in its own messages
    return convert


def _nonblank(text: str) -> str:
    """A credential or name the hook would accept: not empty, no blanks around it."""
    if not text.strip() or text != text.strip():
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: empty or with blanks around it")
    return text


def _switch(parser: argparse.ArgumentParser, flag: str, defaults: bool, **kwargs: Any) -> None:
    """A boolean fault flag: ``serve`` turns it on; ``configure`` can also turn it off again
    (``--no-...``), or a fault set while the emulator runs could only be undone by a restart."""
    if defaults:
        parser.add_argument(flag, action="store_true", **kwargs)
    else:
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, **{**kwargs, "default": None})


def _add_fault_flags(parser: argparse.ArgumentParser, defaults: bool) -> None:
    default: Any = (lambda value: value) if defaults else (lambda value: None)
    most = f"at most {MAX_DELAY_SECONDS:g}"
    parser.add_argument(
        "--latency",
        type=_delay("latency"),
        default=default(0.0),
        help=f"seconds added to each API response, {most}",
    )
    parser.add_argument(
        "--jitter",
        type=_delay("jitter"),
        default=default(0.0),
        help=f"up to this many extra seconds, {most}",
    )
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="requests/second per credential (0: no limit)"
    )
    if defaults:
        parser.add_argument(
            "--no-retry-after",
            dest="retry_after",
            action="store_false",
            default=True,
            help="429 without Retry-After",
        )
    else:
        parser.add_argument(
            "--retry-after",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="429 with (--retry-after) or without (--no-retry-after) Retry-After",
        )
    parser.add_argument("--error-rate", type=float, default=default(0.0), help="share of 500 INTERNAL_ERROR")
    parser.add_argument("--drop-rate", type=float, default=default(0.0), help="share of connections dropped")
    _switch(parser, "--drop-after-apply", defaults, help="drop after applying the change")
    parser.add_argument("--slow-rate", type=float, default=default(0.0), help="share of late responses")
    parser.add_argument(
        "--slow-seconds",
        type=_delay("slow_seconds"),
        default=default(0.0),
        help=f"delay of a late response, {most} seconds",
    )
    _switch(parser, "--fault-token-endpoint", defaults, help="inject faults into the token endpoint")


def _fault_knobs(args: argparse.Namespace) -> dict[str, Any]:
    names = [f.name for f in dataclasses.fields(FaultConfig)]
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_moveworks.emulator",
        description="Run a local Moveworks Conversations API emulator; it prints its URLs, the "
        "credentials it accepts and a ready-to-paste AIRFLOW_CONN_MOVEWORKS_DEFAULT. Other "
        f"commands query a running one: {', '.join(_COMMANDS[1:])} (see <command> --help).",
        formatter_class=_HelpWithDefaults,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=_port, default=0, help="0 picks a free port (avoid 8080: Airflow's API server)"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        type=_nonblank,
        help=f"an accepted API key, repeatable (default: {DEFAULT_API_KEY})",
    )
    parser.add_argument(
        "--client-id", type=_nonblank, default=DEFAULT_CLIENT_ID, help="the accepted OAuth client ID"
    )
    parser.add_argument(
        "--client-secret",
        type=_nonblank,
        default=DEFAULT_CLIENT_SECRET,
        help="the accepted OAuth client secret",
    )
    parser.add_argument(
        "--assistant-name",
        type=_nonblank,
        default=DEFAULT_ASSISTANT,
        help="the Assistant-Name header required",
    )
    parser.add_argument("--seed-conversations", type=_count, default=0, help="conversations to start with")
    parser.add_argument(
        "--archived-share", type=_share, default=0.2, help="share of seeded conversations archived"
    )
    parser.add_argument("--random-seed", type=int, default=None, help="makes seeding and faults repeatable")
    parser.add_argument("--token-ttl", type=_seconds, default=3600.0, help="OAuth token lifetime, seconds")
    parser.add_argument(
        "--token-response-shape",
        choices=("flat", "wrapped"),
        default="flat",
        help="token endpoint body: flat fields or wrapped in 'data'",
    )
    parser.add_argument("--base-path", default="/rest/v1beta1", help="path of the API under the root URL")
    parser.add_argument("--verbose", action="store_true", help="log method, path and status to stderr")
    _add_fault_flags(parser, defaults=True)
    return parser


def _emulator(args: argparse.Namespace) -> MoveworksEmulator:
    return MoveworksEmulator(
        api_keys=args.api_keys or (DEFAULT_API_KEY,),
        clients={args.client_id: args.client_secret},
        assistant_name=args.assistant_name,
        seed_conversations=args.seed_conversations,
        archived_share=args.archived_share,
        random_seed=args.random_seed,
        token_ttl=args.token_ttl,
        token_response_shape=args.token_response_shape,
        host=args.host,
        port=args.port,
        base_path=args.base_path,
        verbose=args.verbose,
        **_fault_knobs(args),
    )


def _serve(argv: Sequence[str]) -> int:
    parser = _serve_parser()
    args = parser.parse_args(argv)
    try:
        emu = _emulator(args)
    except ValueError as error:
        # A fault value out of range (e.g. --error-rate 5): a usage error, not a traceback.
        parser.error(str(error))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        emu.start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            sys.stderr.write(
                f"emulator: {args.host}:{args.port} is already in use (Airflow's API server takes "
                f"{_AIRFLOW_API_PORT}); choose another --port, or --port 0 for any free one\n"
            )
        else:
            # An unknown --host, an address this machine does not have, a port it may not open.
            reason = error.strerror or str(error)
            sys.stderr.write(f"emulator: cannot listen on {args.host}:{args.port}: {reason}\n")
        return 1
    with emu:
        # The credentials banner is the one place secrets are printed: it is addressed to the user.
        connection = {
            "conn_type": "moveworks",
            "host": emu.base_url,
            "password": emu.api_keys[0],
            "extra": {"assistant_name": emu.assistant_name},
        }
        banner = {
            "MOVEWORKS_EMULATOR_URL": emu.url,
            "MOVEWORKS_BASE_URL": emu.base_url,
            "MOVEWORKS_TOKEN_URL": emu.token_url,
            "MOVEWORKS_EMULATOR_PORT": str(emu.port),
            "MOVEWORKS_ASSISTANT_NAME": emu.assistant_name,
            "MOVEWORKS_API_KEY": emu.api_keys[0],
            "MOVEWORKS_API_KEYS": ",".join(emu.api_keys),
            "MOVEWORKS_CLIENT_ID": args.client_id,
            "MOVEWORKS_CLIENT_SECRET": args.client_secret,
        }
        lines = [f"{key}={value}\n" for key, value in banner.items()]
        # Last, whole: paste it into the shell that runs Airflow (quoted for sh and bash).
        lines.append(f"export AIRFLOW_CONN_MOVEWORKS_DEFAULT={shlex.quote(json.dumps(connection))}\n")
        sys.stdout.write("".join(lines))
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    return 0


def _query(argv: Sequence[str], command: str) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m airflow_provider_moveworks.emulator {command}",
        formatter_class=_HelpWithDefaults,
    )
    from_env = os.environ.get(_URL_VARIABLE)
    parser.add_argument(
        "--url",
        required=not from_env,
        default=from_env,
        help=f"the emulator's root, base or token URL; ${_URL_VARIABLE} (as the banner prints it) when set",
    )
    if command == "configure":
        _add_fault_flags(parser, defaults=False)
    args = parser.parse_args(argv)
    root = args.url.rstrip("/")
    for suffix in ("/rest/v1beta1", "/oauth/v1/token"):
        # Accept the base or token URL too, so a script can pass whichever it has.
        root = root.removesuffix(suffix)
    endpoint = {
        "state": "/state",
        "counters": "/counters",
        "configure": "/faults",
        "reset-counters": "/reset-counters",
    }
    data = None
    if command == "configure":
        data = json.dumps(_fault_knobs(args)).encode()
    elif command == "reset-counters":
        data = b"{}"
    if not root.startswith(("http://", "https://")):
        parser.error("--url must be an http:// or https:// URL")
    try:
        req = urllib.request.Request(f"{root}/_emulator{endpoint[command]}", data=data)  # noqa: S310
    except ValueError as exc:
        parser.error(f"--url {args.url!r} is not a usable URL: {exc}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the user's own URL
            payload = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        # The emulator says what was wrong (e.g. "error_rate must be between 0 and 1"): show it.
        sys.stderr.write(f"emulator {command}: {exc.code} {exc.reason}: {_api_message(exc)}\n")
        return 1
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"emulator {command}: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return 0


def _api_message(error: urllib.error.HTTPError) -> str:
    """The ``error.message`` of an emulator answer, or the start of whatever body it has."""
    body = error.read(4096)
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace").strip()[:200] or "(no body)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _COMMANDS:
        command, rest = args[0], args[1:]
        return _serve(rest) if command == "serve" else _query(rest, command)
    return _serve(args)
