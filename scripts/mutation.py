"""`make mutation`: plant one realistic bug at a time in the hook, the HTTP client, the bulk
engine, validation, the connection's settings and lineage, run the fast tests that execute the
changed code, and print every bug that no test caught (a surviving mutant).

    python scripts/mutation.py                     # every target, 2 mutants at a time
    python scripts/mutation.py --only client/ -j 1  # targets whose path contains "client/"
    make mutation MUTATION_ARGS="--only hooks/ --only client/ --only validation"
    python scripts/mutation.py --list               # the mutants, without running them

How it stays fast despite Airflow's import cost: the fast tests run once in this process, under
a trace that records which test runs which line of the targets. Then a second pytest session
collects them once more, and each mutant runs in a child forked from it (everything imported,
every test collected): the child swaps the code of the one function (or the value of the one
module constant) it changes and runs only the tests that ran the changed lines, until one
fails: first those that caught the latest mutants of the same function, then those that caught
the most for their time, then the quickest. The files on disk are never written, so an
interrupted run leaves nothing to restore. A mutant is killed when a test fails, crashes or
hangs past its time limit (2 s plus 3 times its own time); it survives when every test passes,
or when no fast test runs its code at all. The end of the output gives the slowest mutants, the
score of each module, then the overall one.

The bugs planted (in function bodies and module constants, never docstrings or messages):
comparisons (< <=, == !=, in, is), and/or, a dropped ``not`` or a negated condition, numbers
+1, True/False, + - * /, a call statement deleted (a secret not kept, a session not closed),
a ``raise`` deleted, ``raise ... from None`` losing its ``from None``, ``redact(x)`` becoming
``x``, ``min``/``max`` returning one side, and a header, field or key name misspelt.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "airflow_provider_moveworks"
TARGETS = ("hooks/moveworks.py", "client/*.py", "bulk/*.py", "validation.py", "connection.py", "lineage.py")
# The fast tests: unit tests, and the bulk tests against the in-process emulator (not the ones
# running whole DAGs: they need a database and a minute, and in a forked child dag.test() waits
# for ever on the event loop of an execution API whose thread did not survive the fork).
TESTS = (
    "tests/unit",
    "tests/bulk",
    # The client against real loopback servers (no DAG, 16 s in all): deadlines, TLS, proxies,
    # redirects, the wrong scheme, a token endpoint down. Only they reach the deadline's sockets.
    "tests/integration/test_deadline.py",
    "tests/integration/test_tls.py",
    "tests/integration/test_loopback_proxies.py",
    "tests/integration/test_wrong_scheme.py",
    "tests/integration/test_redirects.py",
    "tests/integration/test_token_endpoint_down.py",
    "--ignore=tests/bulk/test_dag.py",
    "--ignore=tests/bulk/test_interruptions_in_airflow.py",
    "-m",
    "not soak",
)
# dag.test() in a forked child waits for ever on the event loop of an execution API whose thread
# did not survive the fork: a test calling it (in Airflow 3's or 2's DAG) cannot judge a mutant.
DAG_FILES = ("/sdk/definitions/dag.py", "/airflow/models/dag.py")
# The mutants that change nothing observable, each with the reason: not run (a survivor runs every
# test of its lines, the slowest mutants of all), and counted as not killed.
EQUIVALENTS = REPO / "docs" / "mutation.md"
EQUIVALENT_HEADING = "## Equivalent mutants"
CANNOT_APPLY = 99  # a child's exit status: the tool, not the tests, failed
# String constants in these positions name something (a header, a JSON field, a key): misspell them.
NAME_CALLS = {"get", "pop", "setdefault", "startswith", "endswith", "getheader"}


@dataclass
class Mutant:
    path: Path
    line: int
    what: str
    scope: str  # the qualified name of the function changed, or "<module>.NAME" of a constant
    code: types.CodeType | None = None  # the function's new code
    value: Any = None  # the constant's new value
    lines: tuple[int, int] = (0, 0)  # the first and last line of the code changed
    tests: list[str] = field(default_factory=list)
    budget: float = 60.0  # seconds before the child is killed (and the mutant counted as caught)
    code_line: str = ""  # the source line at ``line``, stripped: how docs/mutation.md names it
    left_out: int = 0  # tests of its lines not run: past the time it may spend on tests

    @property
    def module(self) -> str:
        return str(self.path.relative_to(PACKAGE))

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


# -- planting bugs ---------------------------------------------------------------------------
_SWAPS: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.And: ast.Or,
    ast.Or: ast.And,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
}


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_name_like(text: str) -> bool:
    return 0 < len(text) <= 40 and not any(char.isspace() for char in text)


def mutations(node: ast.AST, parent: ast.AST | None) -> Iterator[tuple[str, Any]]:
    """(description, replacement) for each bug this node can carry; the replacement is a node,
    or a callable applied to a copy of the node."""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in _SWAPS:
                new = copy.deepcopy(node)
                new.ops[index] = _SWAPS[type(op)]()
                yield f"{ast.unparse(node)}  ->  {ast.unparse(new)}", new
    elif isinstance(node, (ast.BoolOp, ast.BinOp)):
        op = node.op
        if type(op) in _SWAPS:
            new = copy.deepcopy(node)
            new.op = _SWAPS[type(op)]()
            yield f"{ast.unparse(node)}  ->  {ast.unparse(new)}", new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield f"{ast.unparse(node)}  ->  {ast.unparse(node.operand)}", node.operand
    elif isinstance(node, ast.Constant) and not isinstance(parent, ast.Expr):
        value = node.value
        new_value: Any = None
        if isinstance(value, bool):
            new_value = not value
        elif isinstance(value, (int, float)):
            new_value = value + 1
        elif isinstance(value, str) and _is_name_like(value) and _names_something(node, parent):
            new_value = "XX" + value + "XX"
        if new_value is not None:
            yield _in_context(node, parent, ast.Constant(new_value)), ast.Constant(new_value)
    elif isinstance(node, ast.Call):
        name = _call_name(node)
        if "redact" in name and len(node.args) == 1 and not node.keywords:
            yield f"{ast.unparse(node)}  ->  {ast.unparse(node.args[0])}", node.args[0]
        if name in ("min", "max") and len(node.args) == 2 and not node.keywords:
            for arg in node.args:
                yield f"{ast.unparse(node)}  ->  {ast.unparse(arg)}", arg


def _in_context(node: ast.Constant, parent: ast.AST | None, new: ast.Constant) -> str:
    """A constant's change shown in the expression around it (``rsplit('@', 1)  ->
    rsplit('@', 2)``, not ``1  ->  2``): two alike constants of one line are told apart."""
    plain = f"{node.value!r}  ->  {new.value!r}"
    if parent is None or isinstance(parent, (ast.stmt, ast.Dict, ast.JoinedStr, ast.FormattedValue)):
        return plain
    changed = copy.copy(parent)
    for name, value in ast.iter_fields(parent):
        if value is node:
            setattr(changed, name, new)
        elif isinstance(value, list) and any(item is node for item in value):
            setattr(changed, name, [new if item is node else item for item in value])
    before, after = ast.unparse(parent), ast.unparse(changed)
    return f"{before}  ->  {after}" if len(before) <= 60 and before != after else plain


def _names_something(node: ast.Constant, parent: ast.AST | None) -> bool:
    if isinstance(parent, ast.Subscript) and parent.slice is node:
        return True
    if isinstance(parent, ast.Dict) and node in parent.keys:
        return True
    if isinstance(parent, ast.Compare):
        return True
    return isinstance(parent, ast.Call) and _call_name(parent) in NAME_CALLS and node in parent.args


def statement_mutations(node: ast.stmt) -> Iterator[tuple[str, ast.stmt]]:
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield f"{ast.unparse(node)}  ->  (deleted)", ast.Pass()
    elif isinstance(node, ast.Raise):
        yield f"{ast.unparse(node).splitlines()[0]}  ->  (deleted)", ast.Pass()
        if isinstance(node.cause, ast.Constant) and node.cause.value is None:
            yield "raise ... from None  ->  raise ...", ast.Raise(exc=node.exc, cause=None)
    elif isinstance(node, (ast.If, ast.While)) and not _is_comparison(node.test):
        new = copy.copy(node)
        new.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        yield f"if {ast.unparse(node.test)}  ->  if not {ast.unparse(node.test)}", new


def _is_comparison(test: ast.expr) -> bool:
    """Conditions whose own operators are mutated already."""
    negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    return negated or isinstance(test, (ast.Compare, ast.BoolOp))


def _children(node: ast.AST) -> Iterator[tuple[str, int | None, ast.AST]]:
    """(field, index, child) of every child node, skipping nested function signatures."""
    for name, value in ast.iter_fields(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and name != "body":
            continue  # decorators and defaults run at import, not when the function runs
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield name, index, item
        elif isinstance(value, ast.AST):
            yield name, None, value


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualified name, node) of module functions and methods (nested ones belong to these)."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def _sites(root: ast.AST) -> Iterator[tuple[list[tuple[str, int | None]], str, Any, tuple[int, int]]]:
    """(path from root, description, replacement, lines changed) of every bug under ``root``."""
    stack: list[tuple[ast.AST, ast.AST | None, list[tuple[str, int | None]]]] = [(root, None, [])]
    while stack:
        node, parent, path = stack.pop()
        if node is not root:
            if isinstance(node, ast.stmt):
                # A negated condition changes the condition's lines, not the body's.
                changed = node.test if isinstance(node, (ast.If, ast.While)) else node
                for what, new in statement_mutations(node):
                    yield path, what, new, _span(changed)
            for what, new in mutations(node, parent):
                yield path, what, new, _span(node)
        for name, index, child in _children(node):
            if isinstance(child, ast.Expr) and isinstance(child.value, ast.Constant):
                continue  # a docstring
            stack.append((child, node, [*path, (name, index)]))


def _span(node: ast.AST) -> tuple[int, int]:
    first = getattr(node, "lineno", 0)
    return first, getattr(node, "end_lineno", None) or first


def _replace(root: ast.AST, path: list[tuple[str, int | None]], new: ast.AST) -> None:
    node = root
    for name, index in path[:-1]:
        node = getattr(node, name) if index is None else getattr(node, name)[index]
    name, index = path[-1]
    if index is None:
        setattr(node, name, new)
    else:
        getattr(node, name)[index] = new


def _find_code(code: types.CodeType, qualname: str, line: int) -> types.CodeType | None:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_qualname == qualname and const.co_firstlineno == line:
                return const
            found = _find_code(const, qualname, line)
            if found is not None:
                return found
    return None


def plant(path: Path) -> list[Mutant]:
    """Every mutant of one file, each with the compiled code it swaps in."""
    source = path.read_text(encoding="utf-8")
    source_lines = source.splitlines()
    tree = ast.parse(source)
    original = compile(tree, str(path), "exec")
    planted: list[Mutant] = []
    for qualname, function in _functions(tree):
        for site_path, what, new, lines in _sites(function):
            mutated = copy.deepcopy(tree)
            target = _locate(mutated, qualname)
            _replace(target, site_path, copy.deepcopy(new))
            ast.fix_missing_locations(mutated)
            try:
                module_code = compile(mutated, str(path), "exec")
            except (SyntaxError, ValueError):
                continue
            code = _find_code(module_code, qualname, target.lineno)
            before = _find_code(original, qualname, target.lineno)
            if code is None or before is None or code.co_freevars != before.co_freevars:
                continue  # e.g. super() deleted: the live function's closure no longer fits
            line = _line_of(function, site_path)
            text = source_lines[line - 1].strip()
            planted.append(Mutant(path, line, what, qualname, code=code, lines=lines, code_line=text))
    for node in tree.body:  # module constants: NAME = number
        if (
            isinstance(node, (ast.Assign, ast.AnnAssign))
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, (int, float))
            and not isinstance(node.value.value, bool)
        ):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name):
                value = node.value.value
                planted.append(
                    Mutant(
                        path,
                        node.lineno,
                        f"{target.id} = {value!r}  ->  {value + 1!r}",
                        f"<module>.{target.id}",
                        value=value + 1,
                        lines=(node.lineno, node.lineno),
                        code_line=source_lines[node.lineno - 1].strip(),
                    )
                )
    return planted


def listed_equivalents(path: Path = EQUIVALENTS) -> dict[tuple[str, str, str], str]:
    """(module, code line, mutant) -> reason, from the table of equivalent mutants in
    docs/mutation.md: rows ``| `module` | `code line` | `mutant` | reason |`` (a ``|`` inside a
    cell written ``\\|``)."""
    listed: dict[tuple[str, str, str], str] = {}
    in_section = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_section = line.strip() == EQUIVALENT_HEADING
            continue
        if not (in_section and line.startswith("| `")):
            continue
        cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 4:
            module, code_line, what = (cell.strip("`") for cell in cells[:3])
            listed[(module, code_line, what)] = cells[3]
    return listed


def _locate(tree: ast.Module, qualname: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for name, function in _functions(tree):
        if name == qualname:
            return function
    raise LookupError(qualname)


def _line_of(root: ast.AST, path: list[tuple[str, int | None]]) -> int:
    node, line = root, getattr(root, "lineno", 0)
    for name, index in path:
        node = getattr(node, name) if index is None else getattr(node, name)[index]
        line = getattr(node, "lineno", line)
    return line


# -- which tests run which code ----------------------------------------------------------------
class Tracer:
    """Records, per test, the lines of the targets it ran (in any thread: a line run by a worker
    thread counts for the test running at the time)."""

    def __init__(self, files: set[str]) -> None:
        self.files = files
        self.current: str | None = None
        self.lines: dict[tuple[str, int], set[str]] = {}
        self.durations: dict[str, float] = {}
        self.failed: list[str] = []
        self.run_dags: set[str] = set()  # tests that called dag.test()

    def trace(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        if code.co_filename in self.files:
            return self.trace_lines  # line events of this frame only: the rest runs untraced
        if code.co_name == "test" and code.co_filename.endswith(DAG_FILES) and self.current is not None:
            self.run_dags.add(self.current)
        return None

    def trace_lines(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        if event == "line" and self.current is not None:
            self.lines.setdefault((frame.f_code.co_filename, frame.f_lineno), set()).add(self.current)
        return self.trace_lines

    # pytest hooks
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.current = nodeid

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.failed:
            self.failed.append(report.nodeid)


class Shard:
    """A pytest plugin: keep every ``count``-th test from the ``index``-th, so that ``count``
    processes share the tests (interleaved, each gets its share of slow and quick ones)."""

    def __init__(self, index: int, count: int) -> None:
        self.index = index
        self.count = count

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        kept = [item for number, item in enumerate(items) if number % self.count == self.index]
        config.hook.pytest_deselected(
            items=[item for number, item in enumerate(items) if number % self.count != self.index]
        )
        items[:] = kept


def _map_shard(files: set[str], test_args: tuple[str, ...], index: int, count: int) -> tuple[int, Tracer]:
    import pytest

    tracer = Tracer(files)
    sys.settrace(tracer.trace)  # type: ignore[arg-type]
    threading.settrace(tracer.trace)  # type: ignore[arg-type]
    try:
        # The trace slows some tests down tenfold (a 33 MB body scanned by a generator): no time
        # limit but a generous one here, where a slow test is not a hung mutant.
        args = ["-q", "-p", "no:cacheprovider", "--timeout=900", *test_args]
        code = pytest.main(args, plugins=[tracer, Shard(index, count)])
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
    return int(code), tracer


def map_tests(files: set[str], test_args: tuple[str, ...], shards: int) -> Tracer | None:
    """Run the fast tests under the trace, in ``shards`` forked processes at once (the trace
    keeps a core busy), and merge what they recorded; ``None`` if the tests could not run."""
    import pickle
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mutation-map-"))
    children: dict[int, int] = {}
    for index in range(shards):
        pid = os.fork()
        if pid == 0:  # the child: its output to a file, its map to another
            status = 3
            try:
                log = os.open(folder / f"{index}.log", os.O_WRONLY | os.O_CREAT, 0o600)
                os.dup2(log, 1)
                os.dup2(log, 2)
                code, tracer = _map_shard(files, test_args, index, shards)
                with open(folder / f"{index}.pickle", "wb") as out:
                    pickle.dump((code, tracer.lines, tracer.durations, tracer.failed, tracer.run_dags), out)
                status = 0
            finally:
                os._exit(status)
        children[pid] = index
    merged = Tracer(files)
    ok = True
    try:
        while children:
            pid, status = os.wait()
            index = children.pop(pid)
            log_lines = (folder / f"{index}.log").read_text(errors="replace").splitlines()
            print(f"map {index + 1}/{shards}: {log_lines[-1] if log_lines else '(no output)'}", flush=True)
            if os.waitstatus_to_exitcode(status) != 0 or not (folder / f"{index}.pickle").exists():
                print("\n".join(log_lines[-40:]))
                print(f"map {index + 1}/{shards} ended with status {os.waitstatus_to_exitcode(status)}")
                ok = False
                continue
            with open(folder / f"{index}.pickle", "rb") as data:
                code, lines, durations, failed, run_dags = pickle.load(data)  # noqa: S301 (our child wrote it)
            if code not in (0, 1, 5):  # 5: this shard got no test (fewer tests than shards)
                print("\n".join(log_lines[-40:]))
                print(f"the fast tests could not run (pytest exit status {code})")
                ok = False
            for key, nodeids in lines.items():
                merged.lines.setdefault(key, set()).update(nodeids)
            merged.durations.update(durations)
            merged.failed += failed
            merged.run_dags |= run_dags
    except KeyboardInterrupt:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return merged if ok else None


def covering_tests(mutant: Mutant, tracer: Tracer, constants: dict[tuple[str, str], set[int]]) -> list[str]:
    """The tests that ran a line of the changed code (of a constant: a line of a function of its
    file reading it), quickest first. A test that never runs the change cannot catch it."""
    filename = str(mutant.path)
    if mutant.scope.startswith("<module>."):
        lines: set[int] = constants.get((filename, mutant.scope.removeprefix("<module>.")), set())
    else:
        lines = set(range(mutant.lines[0], mutant.lines[1] + 1))
    tests: set[str] = set()
    for line in lines:
        tests |= tracer.lines.get((filename, line), set())
    return sorted(tests, key=lambda nodeid: (tracer.durations.get(nodeid, 0.0), nodeid))


def constant_users(path: Path) -> dict[tuple[str, str], set[int]]:
    """(file, constant name) -> the lines of the functions of that file that read it."""
    users: dict[tuple[str, str], set[int]] = {}
    for _, function in _functions(ast.parse(path.read_text(encoding="utf-8"))):
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                users.setdefault((str(path), node.id), set()).add(node.lineno)
    return users


# -- running a mutant ------------------------------------------------------------------------
def apply(mutant: Mutant) -> None:
    """Swap the mutant into the live modules (in the forked child only)."""
    module = _module_of(mutant.path)
    if mutant.code is None:
        name = mutant.scope.removeprefix("<module>.")
        original = getattr(module, name)
        for other in list(sys.modules.values()):  # and wherever it was imported by name
            ours = getattr(other, "__name__", "").startswith("airflow_provider_moveworks")
            if ours and getattr(other, name, None) is original:
                setattr(other, name, mutant.value)
        return
    owner: Any = module
    parts = mutant.scope.split(".")
    for part in parts[:-1]:
        owner = getattr(owner, part)
    attribute = owner.__dict__[parts[-1]] if isinstance(owner, type) else getattr(owner, parts[-1])
    function = _function_of(attribute)
    function.__code__ = mutant.code


def _function_of(attribute: Any) -> Any:
    for name in ("fget", "func", "__func__"):  # property, cached_property, class/staticmethod
        inner = getattr(attribute, name, None)
        if isinstance(inner, types.FunctionType):
            return inner
    if isinstance(attribute, types.FunctionType):
        return attribute
    raise TypeError(f"cannot swap the code of {attribute!r}")


def _module_of(path: Path) -> types.ModuleType:
    relative = path.relative_to(REPO).with_suffix("")
    name = ".".join(relative.parts)
    __import__(name)
    return sys.modules[name]


class TestTimeouts:
    """A pytest plugin: each test's time limit, from what it took unchanged. A mutant that makes
    a 0.1 s test hang is caught in seconds, not at the suite's default limit."""

    def __init__(self, durations: dict[str, float], ceiling: float) -> None:
        self.durations = durations
        self.ceiling = ceiling

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        import pytest

        for item in items:
            limit = min(self.ceiling, 2.0 + 3 * self.durations.get(item.nodeid, self.ceiling))
            item.add_marker(pytest.mark.timeout(limit))


class MutantRunner:
    """A pytest plugin for the second pytest session: it collects the fast tests once, then, in
    place of pytest's own loop, runs every mutant in a forked child, which runs the mutant's tests
    among the items already collected. Collecting them again in each child would take longer
    than most mutants' tests."""

    def __init__(self, run: Any, durations: dict[str, float], ceiling: float) -> None:
        self.run = run  # called with this plugin once the tests are collected
        self.timeouts = TestTimeouts(durations, ceiling)
        self.items: dict[str, Any] = {}
        self.killer_fd: int | None = None
        self.failed = False

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        self.timeouts.pytest_collection_modifyitems(items)
        self.items = {item.nodeid: item for item in items}

    def pytest_runtestloop(self, session: Any) -> bool:
        self.run(self)
        return True

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and self.killer_fd is not None:
            self.failed = True
            os.write(self.killer_fd, report.nodeid.encode() + b"\n")

    def run_child(self, mutant: Mutant, killer_fd: int) -> int:
        """In the forked child: apply the mutant, run its tests until one fails; 0 if none did."""
        import shutil
        import tempfile

        stderr = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            apply(mutant)
        except Exception as error:
            os.write(stderr, f"\ncannot apply {mutant.where} {mutant.what}: {error!r}\n".encode())
            return CANNOT_APPLY
        self.killer_fd = killer_fd
        items = [self.items[nodeid] for nodeid in mutant.tests if nodeid in self.items]
        if items:  # the session's reporter writes to the stdout it saved at its start: not here
            reporter = items[0].config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                items[0].config.pluginmanager.unregister(reporter)
        factory = getattr(items[0].config, "_tmp_path_factory", None) if items else None
        basetemp = tempfile.mkdtemp(prefix="mutant-")
        if factory is not None:  # each child's tmp_path under a folder of its own, removed after
            factory._given_basetemp = Path(basetemp)
            factory._basetemp = None
        try:
            for index, item in enumerate(items):
                # After the last test, only its own fixtures end: the child exits, and the session's
                # (an emulator serving in a thread) could wait for ever in a child's teardown.
                following = items[index + 1] if index + 1 < len(items) else item
                item.ihook.pytest_runtest_protocol(item=item, nextitem=following)
                if self.failed:
                    return 1
            return 0
        finally:
            shutil.rmtree(basetemp, ignore_errors=True)


def _killers_first(
    mutant: Mutant, killers: dict[str, list[str]], kills: dict[str, int], durations: dict[str, float]
) -> list[str]:
    """The mutant's tests, those that caught the latest mutants of the same function (then of
    the same file) first: a test that caught a bug next door most often catches this one. Then
    the tests that caught the most mutants for their time, then the quickest."""
    tests = set(mutant.tests)
    first: list[str] = []
    for key in (mutant.scope, str(mutant.path)):
        first += [nodeid for nodeid in killers.get(key, []) if nodeid in tests and nodeid not in first]
    rest = sorted(
        (nodeid for nodeid in mutant.tests if nodeid not in first),
        key=lambda nodeid: (
            -kills.get(nodeid, 0) / (durations.get(nodeid, 0.0) + 0.1),
            durations.get(nodeid, 0.0),
        ),
    )
    return first + rest


def _cap(mutant: Mutant, durations: dict[str, float], test_seconds: float) -> None:
    """Keep the mutant's first tests (in the order they run) whose time, measured by the mapping
    pass, adds up to at most ``test_seconds``, and at least one; set its time limit from them.
    A mutant that survives its first ``test_seconds`` of tests is a survivor (shown with the
    number of its tests left out): without a cap, a survivor in code every bulk run goes through
    runs hundreds of tests against the emulator, minutes for one mutant."""
    kept: list[str] = []
    spent = 0.0
    for nodeid in mutant.tests:
        took = durations.get(nodeid, 0.0)
        if kept and spent + took > test_seconds:
            break
        kept.append(nodeid)
        spent += took
    mutant.left_out = len(mutant.tests) - len(kept)
    mutant.tests = kept
    # Allow 1.5 times their time (measured under the trace, itself slower than a plain run), plus
    # start-up: a mutant that slows every test down that much without failing one counts as
    # caught by a time limit.
    mutant.budget = 30.0 + 1.5 * spent


def _learn_killer(mutant: Mutant, read_fd: int, killers: dict[str, list[str]], kills: dict[str, int]) -> None:
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    for nodeid in reversed(b"".join(chunks).decode(errors="replace").split()):
        kills[nodeid] = kills.get(nodeid, 0) + 1
        for key in (mutant.scope, str(mutant.path)):
            found = killers.setdefault(key, [])
            if nodeid in found:
                found.remove(nodeid)
            found.insert(0, nodeid)
            del found[8:]


def run_all(
    mutants: list[Mutant],
    jobs: int,
    runner: MutantRunner,
    durations: dict[str, float],
    took: dict[int, float],
    preset: dict[int, str],
    test_seconds: float,
) -> dict[int, str]:
    """Run the mutants, ``jobs`` at a time, but those with a ``preset`` outcome (listed as
    equivalent); returns index -> outcome (killed/survived/timeout/equivalent)."""
    outcomes: dict[int, str] = {}
    running: dict[int, tuple[int, float, int]] = {}  # pid -> (index, deadline, pipe to read)
    killers: dict[str, list[str]] = {}  # function or file -> the tests that caught its latest mutants
    kills: dict[str, int] = {}  # test -> the mutants it caught
    began: dict[int, float] = {}
    queue = list(range(len(mutants)))
    done = 0
    started = time.monotonic()
    try:
        while queue or running:
            while queue and len(running) < jobs:
                index = queue.pop(0)
                if index in preset:
                    outcomes[index] = preset[index]
                    done += 1
                    continue
                if not mutants[index].tests:
                    outcomes[index] = "no test"
                    done += 1
                    continue
                mutants[index].tests = _killers_first(mutants[index], killers, kills, durations)
                _cap(mutants[index], durations, test_seconds)
                read_fd, write_fd = os.pipe()
                pid = os.fork()
                if pid == 0:  # the child
                    code = 4
                    try:
                        os.close(read_fd)
                        code = runner.run_child(mutants[index], write_fd)
                    finally:
                        os._exit(code)
                os.close(write_fd)
                running[pid] = (index, time.monotonic() + mutants[index].budget, read_fd)
                began[index] = time.monotonic()
            if not running:
                continue
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                time.sleep(0.02)
                for child, (index, deadline, read_fd) in list(running.items()):
                    if time.monotonic() > deadline:
                        os.kill(child, signal.SIGKILL)
                        os.waitpid(child, 0)
                        os.close(read_fd)
                        del running[child]
                        outcomes[index] = "timeout"
                        done += 1
                continue
            index, _, read_fd = running.pop(pid)
            took[index] = time.monotonic() - began[index]
            _learn_killer(mutants[index], read_fd, killers, kills)
            code = os.waitstatus_to_exitcode(status)
            outcomes[index] = {0: "survived", CANNOT_APPLY: "not applied"}.get(code, "killed")
            done += 1
            if outcomes[index] == "survived":  # as it happens, to start on it before the run ends
                mutant = mutants[index]
                print(f"survived: {mutant.where}  {mutant.scope}: {mutant.what}", file=sys.stderr, flush=True)
            if sys.stderr.isatty() or done % 50 == 0:
                progress = f"{done}/{len(mutants)} mutants, {time.monotonic() - started:.0f} s"
                print(f"\r{progress}", end="" if sys.stderr.isatty() else "\n", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        for child in running:
            os.kill(child, signal.SIGKILL)
        raise
    print(file=sys.stderr)
    return outcomes


def print_scores(mutants: list[Mutant], outcomes: dict[int, str]) -> None:
    """Killed / planted per module (a mutant that could not be applied counts in neither)."""
    scores: dict[str, list[int]] = {}
    for index, mutant in enumerate(mutants):
        outcome = outcomes[index]
        if outcome == "not applied":
            continue
        score = scores.setdefault(mutant.module, [0, 0, 0])
        score[0] += outcome in ("killed", "timeout")
        score[1] += 1
        score[2] += outcome == "equivalent"
    for module, (killed, total, equivalent) in sorted(scores.items()):
        killable = max(1, total - equivalent)
        print(
            f"{module:<24} {killed:>4}/{total:<4} killed  {100 * killed / total:5.1f}%"
            f"  ({equivalent} equivalent, {total - killed - equivalent} other survivors;"
            f" {100 * killed / killable:5.1f}% of the {total - equivalent} not equivalent)"
        )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a plain kill stops the children too


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", action="append", default=[], help="only targets whose path contains this (repeatable)"
    )
    parser.add_argument("-j", "--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        help="most seconds a test may take (default 20; a test gets 2 s plus 3 times its own time)",
    )
    parser.add_argument(
        "--test-seconds",
        type=float,
        default=15.0,
        help="most seconds of tests (as timed by the mapping pass) one mutant runs, its first ones "
        "(default 15): a survivor stops there instead of running every test of its lines",
    )
    parser.add_argument(
        "--tests",
        action="append",
        default=[],
        help="map and run only these test files or node ids (repeatable): a quick check that new "
        "tests catch the survivors they were written for; the score then counts only those tests",
    )
    parser.add_argument(
        "--at", action="append", default=[], help="only the mutants at this FILE:LINE, e.g. current.py:120"
    )
    parser.add_argument(
        "--run-equivalents",
        action="store_true",
        help="run the mutants docs/mutation.md lists as equivalent too (to check that they still survive)",
    )
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    args = parser.parse_args()
    test_args = (*args.tests, "-m", "not soak") if args.tests else TESTS

    paths = sorted({p for pattern in TARGETS for p in PACKAGE.glob(pattern) if p.name != "__init__.py"})
    paths = [p for p in paths if not args.only or any(part in str(p.relative_to(REPO)) for part in args.only)]
    mutants = sorted(
        (mutant for path in paths for mutant in plant(path)), key=lambda m: (str(m.path), m.line)
    )
    if args.at:
        mutants = [m for m in mutants if any(m.where.endswith("/" + at) for at in args.at)]
    listed = listed_equivalents()
    equivalent = {i for i, m in enumerate(mutants) if (m.module, m.code_line, m.what) in listed}
    if args.list:
        for index, mutant in enumerate(mutants):
            note = "  [listed as equivalent]" if index in equivalent else ""
            print(f"{mutant.where}  {mutant.scope}  {mutant.what}{note}")
        print(f"{len(mutants)} mutants, {len(equivalent)} listed as equivalent")
        return 0
    found = {(m.module, m.code_line, m.what) for m in mutants}
    for module, code_line, what in sorted(set(listed) - found):  # stale: the code changed since
        if not args.at and any(p.relative_to(PACKAGE).as_posix() == module for p in paths):
            print(
                f"listed as equivalent in docs/mutation.md, no such mutant now: {module}: {code_line}: {what}"
            )
    preset = {} if args.run_equivalents else dict.fromkeys(equivalent, "equivalent")

    import pytest

    begun = time.monotonic()
    os.chdir(REPO)
    print(
        f"{len(mutants)} mutants in {len(paths)} files; running the fast tests once to map them "
        f"({args.jobs} at a time)",
        flush=True,
    )
    tracer = map_tests({str(p) for p in paths}, test_args, max(1, args.jobs))
    if tracer is None:
        return 2
    print(f"mapped in {time.monotonic() - begun:.0f} s", flush=True)
    for nodeid in sorted(set(tracer.failed)):  # flaky or broken: they cannot judge a mutant
        print(f"left out, it fails unchanged: {nodeid}")
        for tests in tracer.lines.values():
            tests.discard(nodeid)
    for nodeid in sorted(tracer.run_dags - set(tracer.failed)):
        print(f"left out, it runs dag.test(): {nodeid}")
        for tests in tracer.lines.values():
            tests.discard(nodeid)
    constants: dict[tuple[str, str], set[int]] = {}
    for path in paths:
        for key, users in constant_users(path).items():
            constants.setdefault(key, set()).update(users)
    for mutant in mutants:
        mutant.tests = covering_tests(mutant, tracer, constants)

    signal.signal(signal.SIGTERM, _interrupt)  # again: the tests may have set their own handler
    started = time.monotonic()
    took: dict[int, float] = {}  # index -> seconds its child ran
    outcomes: dict[int, str] = {}

    def run(runner: MutantRunner) -> None:
        signal.signal(signal.SIGTERM, _interrupt)
        outcomes.update(
            run_all(mutants, args.jobs, runner, tracer.durations, took, preset, args.test_seconds)
        )

    runner = MutantRunner(run, tracer.durations, args.timeout)
    pytest.main(
        [
            "-qq",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            f"--timeout={args.timeout:g}",
            # On a hang, end the child at once: a signal can leave it stuck again in teardown.
            "-o",
            "timeout_method=thread",
            *test_args,
        ],
        plugins=[runner],
    )
    if len(outcomes) != len(mutants):
        print("the mutants could not run: collecting the tests again failed")
        return 2
    elapsed = time.monotonic() - started
    survivors = [(m, outcomes[i]) for i, m in enumerate(mutants) if outcomes[i] in ("survived", "no test")]
    not_applied = sum(1 for outcome in outcomes.values() if outcome == "not applied")
    equivalents = sum(1 for outcome in outcomes.values() if outcome == "equivalent")
    killed = len(mutants) - len(survivors) - not_applied - equivalents
    for mutant, outcome in survivors:
        note = " (no fast test runs this code)" if outcome == "no test" else ""
        if mutant.left_out:
            note += f" ({len(mutant.tests)} of its tests run, {mutant.left_out} slower ones left out)"
        print(f"SURVIVED {mutant.where}  {mutant.scope}: {mutant.what}{note}")
        print(f"    | `{mutant.module}` | `{_cell(mutant.code_line)}` | `{_cell(mutant.what)}` |  |")
    slowest = sorted(took, key=took.__getitem__, reverse=True)[:10]
    for index in slowest:  # where the time goes: most often survivors, which run every test they may
        mutant = mutants[index]
        print(
            f"slow: {took[index]:5.1f} s, {outcomes[index]}, {len(mutant.tests)} tests: "
            f"{mutant.where} {mutant.what}"
        )
    print_scores(mutants, outcomes)
    timeouts = sum(1 for outcome in outcomes.values() if outcome == "timeout")
    print(
        f"mutation score: {killed}/{len(mutants)} killed ({100 * killed / max(1, len(mutants)):.1f}%), "
        f"{len(survivors)} survived, {equivalents} listed as equivalent (not run), "
        f"{timeouts} killed by a time limit, {elapsed:.0f} s"
        + (f"; {not_applied} could not be applied (a fault of this script)" if not_applied else "")
        + f"; {time.monotonic() - begun:.0f} s in all with the map of which test runs which line"
    )
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
