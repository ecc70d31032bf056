"""The processes of a throwaway deployment, all on loopback, each in its own process group.

``Stack`` starts PostgreSQL (a fresh cluster, run by an unprivileged user), Redis, the emulator
and Airflow's components, remembers every process it started, and stops them all in
:meth:`Stack.stop` (SIGTERM to each group, SIGKILL to whatever is left after a grace period).
Every wait is bounded; :meth:`Stack.diagnostics` gives the tail of every component's log.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path


class DeployError(RuntimeError):
    """The deployment did not do what the test expects; the message says what and where."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, stack: Stack, interval: float = 0.5
) -> float:
    """Call ``check`` until it is true; fail after ``timeout`` s. Returns the seconds it took."""
    started = time.monotonic()
    while True:
        stack.check_alive()
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise DeployError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"<{error}>"
    return "\n".join(text.splitlines()[-lines:])


class Stack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.expected_exits: set[str] = set()

    # -- processes -------------------------------------------------------------------------------

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        """Start ``name`` (again, after :meth:`kill`: from then on it must stay up)."""
        self.expected_exits.discard(name)
        with (self.logs / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                list(argv),
                env=env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it stops its children
            )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if name not in self.expected_exits and process.poll() is not None:
                raise DeployError(f"{name} exited with {process.returncode}")

    def kill(self, name: str) -> None:
        """SIGKILL a component and every process it started, as a machine failure would.

        Not only its process group: Airflow's task supervisor puts each task process in a group
        of its own, which would outlive a group kill and go on sending requests."""
        self.expected_exits.add(name)
        process = self.processes[name]
        tree = [process.pid, *descendants(process.pid)]
        for pid in tree:  # stopped first, so that nothing forks while the tree is killed
            _signal(pid, signal.SIGSTOP)
        for pid in [*tree, *descendants(process.pid)]:
            _signal(pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, grace: float = 8.0) -> None:
        # Airflow first (it holds database connections), the database last.
        order = sorted(self.processes, key=lambda name: {"redis": 1, "postgres": 2}.get(name, 0))
        groups = [self.processes[name].pid for name in order]
        # Task processes run in process groups of their own: remember them before their parents go.
        strays = {pid for pgid in groups for pid in descendants(pgid)}
        for pgid in groups:
            _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_group_alive(pgid) for pgid in groups):
            time.sleep(0.2)
        for pgid in groups:
            strays.update(descendants(pgid))
            _signal_group(pgid, signal.SIGKILL)
        for pid in strays:
            _signal(pid, signal.SIGKILL)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.processes.clear()

    def diagnostics(self, lines: int = 40) -> str:
        parts = [f"--- {path.name} ---\n{tail(path, lines)}" for path in sorted(self.logs.glob("*.log"))]
        task_logs = sorted(p for p in (self.root / "airflow-home" / "logs").rglob("*") if p.is_file())
        parts += [f"--- {path.relative_to(self.root)} ---\n{tail(path, 15)}" for path in task_logs[-12:]]
        return "\n".join(parts)

    # -- services ----------------------------------------------------------------------------------

    def start_postgres(self) -> int:
        """A fresh cluster in ``root/postgres``, owned and run by an unprivileged user; returns its
        port. Its one role, ``airflow``, is trusted on loopback: the cluster lives for one test."""
        bin_dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key)
        if not bin_dirs:
            raise DeployError("no /usr/lib/postgresql/*/bin: install Debian's postgresql")
        pg_bin = Path(bin_dirs[-1])
        data, sockets = self.root / "postgres" / "data", self.root / "postgres" / "run"
        sockets.mkdir(parents=True)
        run_as = _unprivileged_user()
        owner = pwd.getpwnam(run_as) if run_as else None
        if owner is not None:
            for path in (data.parent, sockets):
                shutil.chown(path, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", run_as, "--"] if run_as else []
        subprocess.run(
            [
                *(*as_user, str(pg_bin / "initdb"), "-D", str(data)),
                *("-U", "airflow", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        port = free_port()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(sockets),
            "max_connections": "300",
            # A throwaway cluster: durability buys nothing here and costs the test seconds.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        self.start("postgres", [*as_user, str(pg_bin / "postgres"), "-D", str(data), *args])
        wait_for(
            "PostgreSQL to accept connections",
            lambda: _run_ok([str(pg_bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"]),
            30,
            self,
        )
        subprocess.run(
            [str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return port

    def start_redis(self, name: str = "redis", port: int | None = None) -> int:
        """A Redis server that keeps nothing on disk; returns its port. Given the ``port`` of one
        that was killed, it starts again on it, empty."""
        port = port or free_port()
        workdir = self.root / name
        workdir.mkdir(exist_ok=True)
        self.start(
            name,
            [
                *("redis-server", "--bind", "127.0.0.1", "--port", str(port)),
                *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
            ],
        )
        wait_for(f"{name} to answer PING", lambda: _redis_ping(port), 30, self)
        return port

    def start_emulator(self, name: str, args: Sequence[str]) -> str:
        """The emulator in its own process; returns its root URL."""
        port = free_port()
        argv = [sys.executable, "-m", "airflow_provider_moveworks.emulator", "serve", "--port", str(port)]
        self.start(name, [*argv, *args])
        url = f"http://127.0.0.1:{port}"
        wait_for("the emulator", lambda: _http_ok(f"{url}/_emulator/health"), 30, self)
        return url


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in Path(path).parent.name.split(".") if part.isdigit())


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root: run it as ``postgres`` (or ``nobody``) when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise DeployError("running as root, and neither a postgres nor a nobody user exists")


def _run_ok(argv: Sequence[str]) -> bool:
    return subprocess.run(list(argv), capture_output=True, timeout=10, check=False).returncode == 0


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _http_ok(url: str, timeout: float = 5) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, children first (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(Path(stat).parent.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
