"""The grader's sandbox: bubblewrap, limits, and a watchdog that kills a whole submission.

Each submission runs as an unprivileged user in new user, PID, network, IPC and UTS namespaces
(``bwrap --unshare-all --unshare-user --uid 1000``), with all capabilities dropped, a new session,
and only these paths visible: the system (``/usr`` and a few files of ``/etc``), the Python
installation and virtualenv, the offline data folders and the student build of medlab, all
read-only; its own scratch folder (home, ``/tmp`` and ``/dev/shm``) and output folder, writable.
There is no network (only a loopback of its own). Limits:

- **wall time**: the whole namespace is killed when the notebook runs past it;
- **memory**: a watchdog sums the resident memory of every process of the sandbox, polled every
  0.25 s, and kills them all past the limit (``RLIMIT_AS`` breaks TensorFlow, which reserves
  large virtual ranges, and cgroups are not writable in every container or CI runner);
- **files**: ``RLIMIT_FSIZE`` caps each file a submission writes (executed notebook, records,
  captured output), and the watchdog caps the total size and number of files in its scratch;
- **processes**: the watchdog kills the sandbox past a number of processes (``RLIMIT_NPROC`` does
  not apply to a user mapped to root).

Killing: the sandbox's processes are found as descendants of the bwrap process (an orphan inside
the PID namespace is adopted by the namespace's init, itself a child of bwrap) and all killed;
when bwrap dies, ``--die-with-parent`` and the end of the namespace's init kill what is left.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ETC = ["passwd", "group", "nsswitch.conf", "hosts", "host.conf", "localtime", "ld.so.cache",
       "ld.so.conf", "ld.so.conf.d", "alternatives", "fonts", "ssl", "ca-certificates", "mime.types",
       "matplotlibrc"]
"""The only files of ``/etc`` a submission sees (not ``shadow``, keys or the grader's config)."""

LAUNCH = ("import os, resource, signal, sys; n = int(sys.argv[1]); "
          "resource.setrlimit(resource.RLIMIT_FSIZE, (n, n)); "
          "resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); "
          "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); os.execvp(sys.argv[2], sys.argv[2:])")


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    wall_s: float = 900.0
    memory_mb: int = 4096
    file_mb: int = 64
    scratch_mb: int = 1024
    files: int = 20000
    processes: int = 256
    output_mb: int = 8


@dataclass
class Outcome:
    """How a sandboxed run ended: ``killed`` names the limit it broke, if any."""

    returncode: int | None
    timed_out: bool
    killed: str
    seconds: float
    peak_mb: float = 0.0


_BWRAP: dict[str, str | None] = {}


def bwrap() -> tuple[str | None, str]:
    """The path of a bubblewrap that works here, or ``None`` and why not."""
    if "path" not in _BWRAP:
        path, why = shutil.which("bwrap"), ""
        if path is None:
            why = "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
        else:
            try:
                proc = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user",
                                       "--die-with-parent", "--new-session", "--cap-drop", "ALL", "true"],
                                      capture_output=True, text=True, timeout=30)
                if proc.returncode:
                    path, why = None, f"bwrap does not work here: {proc.stderr.strip()[:300]}"
            except (OSError, subprocess.TimeoutExpired) as err:
                path, why = None, f"bwrap does not work here: {err}"
        _BWRAP["path"], _BWRAP["why"] = path, why
    return _BWRAP["path"], _BWRAP["why"] or ""


def _system_binds() -> list[str]:
    args: list[str] = []
    for top in ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]:
        p = Path(top)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), top]
        elif p.is_dir():
            args += ["--ro-bind", top, top]
    for name in ETC:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def command(*, scratch: Path, out: Path, ro: list[tuple[str, str]], env: dict[str, str],
            argv: list[str], workdir: str = "/home/student") -> list[str]:
    """The bwrap command line: system, ``ro`` (host path, sandbox path) read-only; ``scratch`` as the
    home folder, ``/tmp`` and ``/dev/shm``; ``out`` at ``/grader-out``; only ``env`` set."""
    path, why = bwrap()
    if path is None:
        raise RuntimeError(why)
    for sub in ("home", "tmp", "shm"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    args = [path, "--unshare-all", "--unshare-user", "--uid", "1000", "--gid", "1000",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox",
            *_system_binds(), "--proc", "/proc", "--dev", "/dev"]
    # the writable folders first: a read-only path below /tmp (a checkout or virtualenv there) is
    # then mounted on top of the scratch /tmp instead of being hidden by it
    args += ["--bind", str(scratch / "home"), workdir, "--bind", str(scratch / "tmp"), "/tmp",
             "--bind", str(scratch / "shm"), "/dev/shm", "--bind", str(out), "/grader-out"]
    for src, dst in ro:
        args += ["--ro-bind", src, dst]
    args += ["--chdir", workdir, "--clearenv"]
    for k, v in env.items():
        args += ["--setenv", k, v]
    return [*args, *argv]


def _processes() -> dict[int, tuple[int, int]]:
    """``pid -> (parent pid, resident bytes)`` of every process of this machine."""
    page, found = os.sysconf("SC_PAGE_SIZE"), {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().rsplit(b")", 1)[1].split()
            found[int(entry.name)] = (int(stat[1]), int(stat[21]) * page)
        except (OSError, IndexError, ValueError):
            continue
    return found


def descendants(root: int) -> dict[int, int]:
    """``pid -> resident bytes`` of ``root`` and every process below it."""
    procs, tree = _processes(), {}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in procs and pid not in tree:
            tree[pid] = procs[pid][1]
            todo += children.get(pid, [])
    return tree


def _usage(folder: Path, max_files: int) -> tuple[int, int]:
    """Bytes and entries under ``folder`` (symbolic links not followed; stops past ``max_files``)."""
    size, count, todo = 0, 0, [str(folder)]
    while todo and count <= max_files:
        try:
            with os.scandir(todo.pop()) as it:
                for entry in it:
                    count += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.path)
                        else:
                            size += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return size, count


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill a sandbox: bwrap first (its namespace dies with it), then every process left below it."""
    for _ in range(3):
        tree = descendants(proc.pid)
        for pid in [proc.pid, *[p for p in tree if p != proc.pid]]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not tree:
            break
        time.sleep(0.05)


def run(argv: list[str], *, limits: Limits, scratch: Path, log: Path, cwd: Path,
        env: dict[str, str] | None = None, live: set | None = None) -> Outcome:
    """Run ``argv`` (a bwrap command, or a bare one with ``--unsafe``) under the watchdog.

    Its output goes to ``log`` (capped by ``RLIMIT_FSIZE`` like every file it writes). ``live``, if
    given, holds the process while it runs, so that a grader interrupted by Ctrl-C can kill it.
    """
    fsize = limits.file_mb << 20
    cmd = [sys.executable, "-c", LAUNCH, str(fsize), *argv]
    start = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=cwd, env=env, start_new_session=True)
    if live is not None:
        live.add(proc)
    killed, timed_out, last_disk, peak = "", False, 0.0, 0
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if now - start > limits.wall_s:
                timed_out, killed = True, f"ran past the time limit of {limits.wall_s:.0f} s"
            else:
                tree = descendants(proc.pid)
                peak = max(peak, sum(tree.values()))
                if sum(tree.values()) > limits.memory_mb << 20:
                    killed = f"used more than {limits.memory_mb} MiB of memory"
                elif len(tree) > limits.processes:
                    killed = f"started more than {limits.processes} processes"
                elif now - last_disk > 1.0:
                    last_disk = now
                    size, count = _usage(scratch, limits.files)
                    if size > limits.scratch_mb << 20:
                        killed = f"wrote more than {limits.scratch_mb} MiB of files"
                    elif count > limits.files:
                        killed = f"created more than {limits.files} files"
            if killed:
                kill_tree(proc)
                break
            time.sleep(0.25)
    finally:
        if proc.poll() is None and not killed:  # interrupted (Ctrl-C): leave nothing running
            kill_tree(proc)
        proc.wait()
        kill_tree(proc)  # anything that escaped bwrap's death (there should be nothing)
        if live is not None:
            live.discard(proc)
    return Outcome(proc.returncode, timed_out, killed, round(time.monotonic() - start, 1),
                   round(peak / 2**20, 1))
