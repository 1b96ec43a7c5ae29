"""`PostgresServer`: a throw-away Postgres cluster for tests and benchmarks.

It runs the server binaries of the installed Postgres (Debian: `apt-get install postgresql`)
on a Unix socket in a temporary directory (no TCP port), as the `postgres` user when started
by root, and removes everything when it stops.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["PostgresServer", "find_pg_bin"]


def find_pg_bin() -> Path:
    """The directory holding `initdb` and `pg_ctl` (the newest installed version)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not candidates:
        raise RuntimeError("Postgres is not installed (no pg_ctl): apt-get install postgresql "
                           "(scripts/setup.sh does it)")
    return Path(candidates[-1]).parent


class PostgresServer:
    """`with PostgresServer() as url:` a fresh cluster; `url` is a `postgresql://` URI.

    `fsync=False` (tests) trades durability for speed; benchmarks keep the default.
    """

    def __init__(self, *, fsync: bool = True, user: str = "postgres") -> None:
        self.fsync = fsync
        self.user = user
        self.dir: Path | None = None
        self.url = ""

    def _run(self, *args: str) -> None:
        kw: dict[str, Any] = {}
        if os.geteuid() == 0:  # Postgres refuses to run as root
            entry = pwd.getpwnam(self.user)
            kw = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        proc = subprocess.run(args, cwd=self.dir, capture_output=True, text=True, timeout=120,
                              check=False, **kw)
        if proc.returncode != 0:
            log = self.dir / "server.log" if self.dir else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed: {proc.stderr.strip()}\n{tail}")

    def start(self) -> str:
        bin_dir = find_pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="agentkit-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        data = self.dir / "data"
        self._run(str(bin_dir / "initdb"), "-D", str(data), "-U", "agentkit", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        options = f"-k {self.dir} -c listen_addresses='' -p 5432"
        if not self.fsync:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-o", options,
                  "-l", str(self.dir / "server.log"), "start")
        self.url = f"postgresql://agentkit@/postgres?host={self.dir}&port=5432"
        return self.url

    def stop(self) -> None:
        if self.dir is None:
            return
        try:
            self._run(str(find_pg_bin() / "pg_ctl"), "-D", str(self.dir / "data"), "-w",
                      "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
