"""Security of the built-in tools: each limit is exercised by code that tries to break it.

Tests that rely on Linux namespaces skip (with the launcher's own reason) where
the OS refuses them; a control run without namespaces shows that the same
attack succeeds there, so a pass means the isolation did the work.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from agentkit.agents.tool import Tool, ToolResult, load_builtin

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox tests target Linux")


def python_tool(**settings: Any) -> Tool:
    return load_builtin("python", **{"timeout_s": 20.0, **settings})


async def run(code: str, **settings: Any) -> ToolResult:
    return await python_tool(**settings).call({"code": code}, timeout=60)


def processes_with(mark: str) -> list[int]:
    """Live processes whose command line contains ``mark`` (seen from the host's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if mark.encode() in cmdline:
                found.append(int(entry.name))
    return found


def gone(mark: str) -> bool:
    """True once no process carries ``mark``; allows a moment for SIGKILL to be delivered."""
    for _ in range(50):
        if not processes_with(mark):
            return True
        time.sleep(0.1)
    return False


def unique_seconds() -> str:
    """A sleep duration unique to this test run, usable as a marker in a command line."""
    return f"{900 + uuid.uuid4().int % 100}.{uuid.uuid4().int % 10**6:06d}"


def require(result: ToolResult, key: str) -> None:
    isolation = result.details["isolation"]
    if isolation[key].startswith("not"):
        pytest.skip(f"{key} isolation unavailable here: {isolation}")


# -- calculator ------------------------------------------------------------------


@pytest.fixture(scope="module")
def calculator() -> Tool:
    return load_builtin("calculator")


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("-2 ** 2", -4),
        ("7 // 2 + 7 % 2", 4),
        ("2 ** 0.5", 2**0.5),
        ("sqrt(16) + abs(-3) + floor(2.7) + ceil(2.1) + round(2.567, 2)", 4.0 + 3 + 2 + 3 + 2.57),
        ("log(e) + cos(0) + max(1, 2, 3)", 5.0),
        ("2 ** 1000 % 1000", 2**1000 % 1000),
    ],
)
def test_calculator_computes(calculator: Tool, expression: str, value: float) -> None:
    assert float(calculator(expression)) == pytest.approx(value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("x + 1", "unknown name 'x'"),
        ("__builtins__", "unknown name '__builtins__'"),
        ("(1).__class__", "attribute access"),
        ("math.sqrt(2)", "attribute access"),
        ("__import__('os').system('echo hi')", "attribute access"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("open('/etc/passwd')", "function 'open' is not allowed"),
        ("eval('1')", "function 'eval' is not allowed"),
        ("(1)(2)", "only the listed functions can be called"),
        ("(lambda: 1)()", "lambda is not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("[1, 2][0]", "indexing and slicing"),
        ("[x for x in (1, 2)]", "comprehensions are not allowed"),
        ("'a' * 3", "strings are not allowed"),
        ("sqrt(x=4)", "plain positional arguments"),
        ("9 ** 9 ** 9", "exponent 387420489 is too large"),
        ("2 ** 1001", "exponent 1001 is too large"),
        ("10 ** -2000", "exponent -2000 is too large"),
        ("(10 ** 1000) ** 1000", "is too large (over 4096 bits)"),
        ("10.0 ** 400", "result is too large"),
        ("exp(1000)", "result is too large"),
        ("1 / 0", "division by zero"),
        ("1 +" * 200 + "1", "expression is 601 characters long; the limit is 500"),
        ("import os", "not a valid expression"),
    ],
)
def test_calculator_refuses(calculator: Tool, expression: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        calculator(expression)
    assert message in str(caught.value)


async def test_calculator_refusal_is_an_observation(calculator: Tool) -> None:
    result = await calculator.call({"expression": "__import__('os')"})
    assert not result.ok and result.error is not None
    assert result.error.startswith("CalculatorError: function '__import__' is not allowed; allowed functions: abs")


# -- read_file -------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "notes.txt").write_text("inside\n")
    (root / "sub" / "deep.txt").write_text("deep\n")
    (outside / "secret.txt").write_text("TOP-SECRET-CONTENT\n")
    return {"root": root, "outside": outside}


async def read(tree: dict[str, Path], path: str, **settings: Any) -> ToolResult:
    return await load_builtin("read_file", root=tree["root"], **settings).call({"path": path})


async def test_read_file_reads_inside_the_root(tree: dict[str, Path]) -> None:
    assert (await read(tree, "notes.txt")).output == "inside\n"
    assert (await read(tree, "sub/../sub/deep.txt")).output == "deep\n"
    assert (await read(tree, str(tree["root"] / "notes.txt"))).output == "inside\n"


@pytest.mark.parametrize("path", ["../outside/secret.txt", "sub/../../outside/secret.txt"])
async def test_read_file_refuses_dotdot_escapes(tree: dict[str, Path], path: str) -> None:
    result = await read(tree, path)
    assert not result.ok and "TOP-SECRET" not in result.observation
    assert result.error == f"ReadFileError: refused '{path}': '..' leads outside the folder this tool may read"


async def test_read_file_refuses_absolute_paths_outside(tree: dict[str, Path]) -> None:
    for path in (str(tree["outside"] / "secret.txt"), "/etc/passwd"):
        result = await read(tree, path)
        assert not result.ok and "resolves outside" in str(result.error)


async def test_read_file_refuses_symlink_escapes(tree: dict[str, Path]) -> None:
    root = tree["root"]
    (root / "link.txt").symlink_to(tree["outside"] / "secret.txt")
    (root / "linked_dir").symlink_to(tree["outside"], target_is_directory=True)
    (root / "ok_link.txt").symlink_to(root / "notes.txt")
    for path in ("link.txt", "linked_dir/secret.txt"):
        result = await read(tree, path)
        assert not result.ok and "TOP-SECRET" not in result.observation
        assert "resolves outside" in str(result.error)
    assert (await read(tree, "ok_link.txt")).output == "inside\n"


async def test_read_file_limits_size_and_kind(tree: dict[str, Path]) -> None:
    root = tree["root"]
    (root / "big.txt").write_text("a" * 5000)
    big = await read(tree, "big.txt", max_bytes=100)
    assert big.ok and big.output.startswith("a" * 100 + "\n[truncated: the file is 5000 bytes; showed the first 100]")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02")
    assert "binary file" in str((await read(tree, "blob.bin")).error)
    os.mkfifo(root / "pipe")  # opening a FIFO for reading would block without a writer
    assert "not a regular file" in str((await read(tree, "pipe")).error)
    assert "is a folder" in str((await read(tree, "sub")).error)
    assert (await read(tree, "missing.txt")).error == "ReadFileError: no such file: 'missing.txt'"


async def test_read_file_defaults_to_the_current_folder(tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree["root"])
    default = load_builtin("read_file")
    assert (await default.call({"path": "notes.txt"})).output == "inside\n"
    assert not (await default.call({"path": "../outside/secret.txt"})).ok


# -- python sandbox ------------------------------------------------------------------------


async def test_python_runs_code_in_a_fresh_folder_with_a_stripped_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKIT_SECRET_TOKEN", "hunter2")
    result = await run("import os\nprint(sorted(os.listdir('.')))\nprint(sorted(os.environ))\nprint(2 + 2)")
    assert result.ok, result.observation
    listing, env_names, value = result.output.splitlines()
    assert listing == "['main.py']"
    assert "AGENTKIT_SECRET_TOKEN" not in env_names and env_names.startswith("['HOME', 'LANG'")
    assert value == "4"
    assert result.details["exit_code"] == 0 and not result.details["timed_out"]


async def test_python_failure_is_an_observation() -> None:
    result = await run("raise ValueError('boom')")
    assert not result.ok and result.error == "exit code 1"
    assert "ValueError: boom" in result.observation
    quiet = await run("x = 1")
    assert quiet.ok and "print()" in quiet.output


async def test_python_kills_an_infinite_loop_at_the_timeout() -> None:
    mark = unique_seconds()
    code = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'while True: pass', '{mark}'])"
    result = await run(code, timeout_s=1.5, cpu_s=30)
    assert not result.ok and result.details["timed_out"]
    assert result.error == "the code ran longer than 1.5 s and was killed"
    assert gone(mark)


async def test_python_kills_processes_that_left_the_process_group() -> None:
    mark = unique_seconds()
    code = (
        "import os\n"
        f"if os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['sleep', '{mark}'])\n"
        "print('parent done')"
    )
    result = await run(code)
    assert result.ok and result.output.strip() == "parent done"
    if "pid" not in result.details["isolation"]["namespaces"]:
        for pid in processes_with(mark):  # clean up after the known gap
            os.kill(pid, 9)
        pytest.skip(f"no PID namespace here: {result.details['isolation']}")
    assert gone(mark)


async def test_python_tool_timeout_still_kills_the_process() -> None:
    mark = unique_seconds()
    tool = python_tool(timeout_s=30.0)
    result = await tool.call({"code": f"import os\nos.execv('/bin/sleep', ['sleep', '{mark}'])"}, timeout=1.0)
    assert not result.ok and result.error == "tool 'python' did not finish within 1 s"
    assert gone(mark)


async def test_python_memory_bomb_hits_the_limit() -> None:
    bomb = "chunks = []\nwhile True:\n    chunks.append(bytearray(10 * 2**20))"
    result = await run(bomb, memory_mb=200)
    assert not result.ok and not result.details["timed_out"]
    assert result.error == "exit code 1: out of memory (the limit is 200 MB)"
    assert "MemoryError" in result.output
    under = await run("data = bytearray(100 * 2**20)\nprint(len(data))", memory_mb=200)
    assert under.ok and under.output.strip() == str(100 * 2**20)


async def test_python_cpu_limit_kills_a_busy_loop() -> None:
    result = await run("while True: pass", cpu_s=1, timeout_s=30.0)
    assert not result.ok and not result.details["timed_out"]
    assert result.details["signal"] in (24, 9)  # SIGXCPU at the soft limit, SIGKILL at the hard one


async def test_python_file_size_limit() -> None:
    result = await run("open('big.bin', 'wb').write(b'x' * 3 * 2**20)", file_size_mb=1)
    assert not result.ok and "File too large" in result.output


async def test_python_output_is_truncated() -> None:
    result = await run("print('a' * 100_000)\nprint('THE END')", max_output_bytes=1000)
    assert result.ok and result.details["truncated"]
    assert len(result.output) < 1100 and "bytes of output cut" in result.output
    assert result.output.rstrip().endswith("THE END")


async def test_python_cannot_write_outside_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o777)  # file permissions alone would allow the write
    target = outside / "escaped.txt"
    code = (
        f"open('inside.txt', 'w').write('ok')\nprint(open('inside.txt').read())\nopen({str(target)!r}, 'w').write('x')"
    )
    result = await run(code)
    require(result, "filesystem")
    assert not result.ok and "Read-only file system" in result.output
    assert result.output.startswith("ok")  # the own folder stays writable
    assert not target.exists()

    control = await run(code, namespaces=False)
    assert control.ok and target.read_text() == "x"  # without the mount namespace the write goes through


async def test_python_cannot_undo_the_read_only_mounts() -> None:
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "MS_REMOUNT, MS_BIND = 32, 4096\n"
        "print(libc.mount(None, b'/', None, MS_REMOUNT | MS_BIND, None), ctypes.get_errno())\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])"
    )
    result = await run(code)
    require(result, "filesystem")
    assert result.ok, result.observation
    mount_result, cap_eff = result.output.split("\n", 1)
    assert mount_result == "-1 1"  # EPERM
    assert int(cap_eff.strip(), 16) == 0


async def test_python_sees_only_its_own_processes() -> None:
    result = await run("import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))")
    if not result.details["isolation"].get("proc", "").startswith("private"):
        pytest.skip(f"no private /proc here: {result.details['isolation']}")
    assert result.ok and result.output.strip() == "[1, 2]"  # the supervisor and the code itself


async def test_python_has_no_network() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\nprint('connected')"
    try:
        result = await run(code)
        require(result, "network")
        assert not result.ok and "connected" not in result.output
        assert "Network is unreachable" in result.output

        control = await run(code, namespaces=False)
        assert control.ok and control.output.strip() == "connected"  # the listener is really reachable
    finally:
        server.close()
