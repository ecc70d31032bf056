"""Read-and-tweak endpoints under ``/_emulator`` (loopback only, no auth, never counted)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import ApiError
from .messages import Reply, Request

if TYPE_CHECKING:
    from .backend import Backend

PREFIX = "/_emulator"


def handle(emu: Backend, request: Request) -> Reply:
    """Serve one admin request: state, counters, faults (GET/POST), reset-counters, health."""
    name, method = request.path[len(PREFIX) :], request.method
    routes: dict[str, tuple[str, ...]] = {
        "/state": ("GET",),
        "/counters": ("GET",),
        "/faults": ("GET", "POST"),
        "/reset-counters": ("POST",),
        "/health": ("GET",),
    }
    if name not in routes:
        raise ApiError(404, "NOT_FOUND", "No such emulator endpoint")
    if method not in routes[name]:
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"Use {', '.join(routes[name])}")
    if name == "/state":
        return Reply(200, {"conversations": emu.conversations()})
    if name == "/counters":
        rows = emu.counter_rows()
        return Reply(200, {"counters": rows, "total": sum(int(str(r["count"])) for r in rows)})
    if name == "/reset-counters":
        emu.reset_counters()
        return Reply(200, {"reset": True})
    if name == "/health":
        return Reply(200, {"status": "ok"})
    if method == "POST":
        try:
            changes: Any = json.loads(request.body or b"{}")
            if not isinstance(changes, dict):
                raise TypeError("body must be a JSON object")
            emu.configure(**changes)
        except (ValueError, TypeError) as exc:
            raise ApiError(400, "INVALID_INPUT", str(exc)) from exc
    return Reply(200, emu.fault_config.as_dict())
