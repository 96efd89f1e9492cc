"""Launcher for the ``python`` tool: isolate, limit, then run untrusted code.

Started by ``tools/python.py`` as ``python -I _sandbox.py CONFIG_JSON``; it uses
the standard library only, so the sandboxed interpreter never imports agentkit.

1. Enter new network, mount and PID namespaces (plus a user namespace when not
   root): no network interface is up, so nothing can be reached.
2. Remount the whole file system read-only, except the work folder.
3. Fork a supervisor that is PID 1 of the new PID namespace; it mounts a
   private ``/proc`` and forks the code's process. When the supervisor exits,
   the kernel kills everything the code left behind.
4. The code's process sets resource limits, loses every capability (root stays
   uid 0 but without CAP_DAC_OVERRIDE or CAP_SYS_ADMIN, so it cannot undo the
   read-only mounts) and execs the interpreter on the script.

Each namespace step that the OS refuses is skipped and reported: the first line
on the status pipe says which isolation applied, the second how the code ended.
Resource limits and dropping capabilities are not optional: if one fails, the
code does not run.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = -100, 0x8000, 1
SYS_MOUNT_SETATTR = 442  # same number on every architecture
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 24, 28, 38
SECURE_ALL_BITS_LOCKED = 0x3F  # noroot, no_setuid_fixup, keep_caps, each with its lock

_libc = ctypes.CDLL(None, use_errno=True)


class MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    source_b, fstype_b = (None if s is None else s.encode() for s in (source, fstype))
    result: int = _libc.mount(source_b, target.encode(), fstype_b, ctypes.c_ulong(flags), None)
    _check(result, f"mount {target}")


def _mount_setattr(path: str, recursive: bool, attr_set: int = 0, attr_clr: int = 0) -> None:
    attr = MountAttr(attr_set, attr_clr, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    result = _libc.syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(), ctypes.c_uint(flags),
        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
    )  # fmt: skip
    _check(result, f"mount_setattr {path}")


def enter_namespaces() -> str:
    """Unshare network, mount and PID namespaces; a user namespace maps a non-root caller to itself."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | (0 if uid == 0 else CLONE_NEWUSER)
    _check(_libc.unshare(flags), "unshare")
    if uid != 0:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as file:
                file.write(text)
    return "network, mount, pid" + ("" if uid == 0 else ", user")


def confine_writes(work: str) -> str:
    """Make every mount read-only except a bind mount of the work folder."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the host
    _mount(work, work, None, MS_BIND | MS_REC)
    _mount_setattr("/", recursive=True, attr_set=MOUNT_ATTR_RDONLY)
    _mount_setattr(work, recursive=False, attr_clr=MOUNT_ATTR_RDONLY)
    return f"read-only except {work}"


def set_limits(limits: dict[str, int]) -> None:
    for name, value in (
        ("RLIMIT_CPU", limits["cpu_s"]),
        ("RLIMIT_AS", limits["memory_bytes"]),
        ("RLIMIT_FSIZE", limits["file_bytes"]),
        ("RLIMIT_NPROC", limits["processes"]),
        ("RLIMIT_NOFILE", limits["open_files"]),
        ("RLIMIT_CORE", 0),
    ):
        hard = value + 1 if name == "RLIMIT_CPU" else value  # SIGXCPU at the soft limit, SIGKILL a second later
        resource.setrlimit(getattr(resource, name), (value, hard))


def drop_privileges() -> None:
    """No new privileges on exec; root keeps uid 0 but loses every capability for good."""
    if not hasattr(_libc, "prctl"):
        return  # not Linux: neither capabilities nor no_new_privs exist
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")
    if os.geteuid() != 0:
        return  # a non-root caller's capabilities (if any, in its user namespace) vanish at exec
    with open("/proc/sys/kernel/cap_last_cap") as file:
        last_cap = int(file.read())
    for cap in range(last_cap + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    _check(_libc.prctl(PR_SET_SECUREBITS, SECURE_ALL_BITS_LOCKED, 0, 0, 0), "set securebits")


def run_code(config: dict[str, Any]) -> None:
    """In the code's process: limit, drop privileges, exec. Never returns."""
    try:
        os.chdir(config["work"])  # again: the bind mount now covers the old directory entry
        set_limits(config["limits"])
        drop_privileges()
        os.execv(sys.executable, [sys.executable, "-I", "-B", config["script"]])
    except (OSError, ValueError) as error:  # report through stderr, which the tool shows to the model
        print(f"sandbox setup failed: {error}", file=sys.stderr, flush=True)
    os._exit(126)


def supervise(config: dict[str, Any], status_fd: int, isolation: dict[str, str], pid_namespace: bool) -> None:
    """Report the isolation, fork the code's process, reap every child, report how the code ended.

    In a PID namespace this is PID 1: orphans are reparented here, and its exit
    makes the kernel kill whatever the code left running. Never returns.
    """
    if pid_namespace:
        try:
            _mount("proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
            isolation["proc"] = "private (shows only the sandbox's processes)"
        except OSError as error:
            isolation["proc"] = f"the host's ({error})"
    os.write(status_fd, (json.dumps(isolation) + "\n").encode())
    child = os.fork()
    if child == 0:
        os.close(status_fd)
        run_code(config)
    while True:
        pid, status = os.wait()
        if pid == child:
            break
    if os.WIFSIGNALED(status):
        outcome = {"signal": os.WTERMSIG(status)}
    else:
        outcome = {"exit_code": os.WEXITSTATUS(status)}
    os.write(status_fd, (json.dumps(outcome) + "\n").encode())
    os._exit(0)


def main() -> None:
    config = json.loads(sys.argv[1])
    status_fd = config["status_fd"]
    os.set_inheritable(status_fd, False)
    isolation: dict[str, str] = {}
    in_namespaces = False
    if config["namespaces"]:
        try:
            isolation["namespaces"] = enter_namespaces()
            in_namespaces = True
        except (OSError, AttributeError) as error:
            isolation["namespaces"] = f"unavailable ({error})"
    isolation["network"] = "isolated (no interface up)" if in_namespaces else "not isolated"
    try:
        isolation["filesystem"] = confine_writes(config["work"]) if in_namespaces else "not confined"
    except (OSError, AttributeError) as error:
        isolation["filesystem"] = f"not confined ({error})"
    isolation["user"] = "uid 0 without capabilities" if os.geteuid() == 0 else f"uid {os.geteuid()}"
    supervisor = os.fork()
    if supervisor == 0:
        supervise(config, status_fd, isolation, pid_namespace=in_namespaces)
    os.close(status_fd)
    _, status = os.waitpid(supervisor, 0)
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


if __name__ == "__main__":
    main()
