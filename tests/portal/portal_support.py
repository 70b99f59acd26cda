"""Helpers for the portal tests: scorecards made by hand, a real PostgreSQL server, a threaded portal."""

from __future__ import annotations

import contextlib
import copy
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from harness import scorecard as scorecard_mod

SHA = "0" * 64
TOKEN = "test-upload-token"


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


TEMPLATE: dict[str, Any] = {
    "schema_version": "1.0",
    "harness": {"name": "lgc-harness", "version": "0.1.0"},
    "run": {"id": "run-1", "started_at": "2026-01-15T10:00:00+00:00", "finished_at": "2026-01-15T10:01:00+00:00"},
    "subject": {"vendor": "Demo Santé", "product": "DemoCabinet", "version": "4.2.0"},
    "profile": {"name": "vendor.toml", "sha256": SHA, "targets": ["fhir", "dmp"]},
    "plugins": [{"name": "interop", "status": "loaded", "version": "0.1.0"}],
    "rule_packs": [],
    "policy": {"name": "default", "version": "1", "sha256": SHA},
    "scores": {
        "overall": {"score": 7.5, "coverage": 1.0, "status": "fail"},
        "families": {
            "interop": {"score": 10.0, "coverage": 1.0, "status": "pass", "weight": 1, "scored": True,
                        "counts": {"pass": 1}, "checks": {"interop.capability.statement":
                                                           {"score": 10.0, "weight": 3, "status": "pass"}}},
            "dmp": {"score": 5.0, "coverage": 1.0, "status": "fail", "weight": 1, "scored": True,
                    "counts": {"pass": 1, "fail": 1}, "checks": {"dmp.cda.xsd":
                                                                 {"score": 5.0, "weight": 3, "status": "fail"}}},
        },
    },
    "checks": [
        {"id": "interop.capability.statement", "title": "CapabilityStatement", "family": "interop",
         "severity": "high", "requirements": [], "target": "fhir", "documentation": {"short": "metadata"}},
        {"id": "dmp.cda.xsd", "title": "CDA documents are XSD-valid", "family": "dmp", "severity": "high",
         "requirements": [], "target": "dmp", "documentation": {"short": "XSD"}},
    ],
    "results": [
        {"check_id": "interop.capability.statement", "item_id": "-", "status": "pass",
         "findings": [{"status": "pass", "message": "CapabilityStatement R4", "message_id": "interop.capability.ok"}]},
        {"check_id": "dmp.cda.xsd", "item_id": "doc-1.xml", "status": "pass",
         "findings": [{"status": "pass", "message": "valid", "message_id": "dmp.xsd.ok"}]},
        {"check_id": "dmp.cda.xsd", "item_id": "doc-2.xml", "status": "fail",
         "findings": [{"status": "fail", "severity": "high", "message": "element 'foo' not expected",
                       "message_id": "dmp.xsd.invalid",
                       "evidence": [{"kind": "file", "artefact": "doc-2.xml", "line": 12, "sha256": SHA}]}]},
    ],
    "requirements": [],
    "sections": {},
    "annotations": [],
}


def make_card(vendor: str = "Demo Santé", product: str = "DemoCabinet", version: str = "4.2.0", *,
              findings: int = 0, score: float = 7.5, packs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A valid scorecard; ``findings`` adds that many failing findings (one result each) to dmp.cda.xsd."""
    card = copy.deepcopy(TEMPLATE)
    card["subject"] = {"vendor": vendor, "product": product, "version": version}
    card["scores"]["overall"]["score"] = score
    card["rule_packs"] = packs or []
    for i in range(findings):
        card["results"].append({"check_id": "dmp.cda.xsd", "item_id": f"bulk-{i:06d}.xml", "status": "fail",
                                "findings": [{"status": "fail", "severity": "medium",
                                              "message": f"element 'x{i}' not expected here",
                                              "message_id": "dmp.xsd.invalid",
                                              "evidence": [{"kind": "file", "artefact": f"bulk-{i:06d}.xml",
                                                            "line": i % 500, "sha256": SHA}]}]})
    if findings < 1000:  # the big ones are validated where the test wants it
        scorecard_mod.validate(card)
    return card


def write_card(card: dict[str, Any], path: Path) -> Path:
    path.write_text(scorecard_mod.dumps(card), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------
# A real PostgreSQL server in a temporary folder
# --------------------------------------------------------------------------


class PostgresMissing(Exception):
    pass


def pg_bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
                        if p.split("/")[4].isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresMissing("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin "
                          "nor on PATH: install Debian's 'postgresql' package (apt-get install -y postgresql); "
                          "the portal storage tests must run against a real server")


#: Stops the server when the test process ends in any way (even killed): it waits for EOF on a pipe
#: whose write end only the test process holds.
WATCHDOG = """
import os, shutil, subprocess, sys
sys.stdin.buffer.read()
base, cmd = sys.argv[1], sys.argv[2:]
if os.path.isdir(base):
    subprocess.run(cmd, capture_output=True, timeout=120)
    shutil.rmtree(base, ignore_errors=True)
"""


class PostgresServer:
    """initdb + pg_ctl start on 127.0.0.1:<free port> (as the 'postgres' user when running as root)."""

    def __init__(self) -> None:
        self.bin = pg_bin_dir()
        self.base = Path(tempfile.mkdtemp(prefix="harness-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    self.user = pwd.getpwnam(name)
                    break
                except KeyError:
                    continue
            if self.user is None:
                raise PostgresMissing("running as root and no 'postgres' user to run the server as")
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self.role = self.user.pw_name if self.user else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.user is not None:
            cmd = ["runuser", "-u", self.user.pw_name, "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.base)

    def start(self) -> "PostgresServer":
        done = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.role,
                         "-E", "UTF8", "--locale=C", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed ({done.returncode}): {done.stderr or done.stdout}")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c fsync=off " \
                  f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        done = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                         "-t", "60", "start")
        if done.returncode:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed ({done.returncode}): {done.stderr or done.stdout}\n{log}")
        self.watchdog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(self.base), *self._stop_command()],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        return self

    def _stop_command(self) -> list[str]:
        # immediate: no shutdown checkpoint, the data folder is thrown away anyway
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
        return ["runuser", "-u", self.user.pw_name, "--", *cmd] if self.user is not None else cmd

    def stop(self) -> None:
        try:
            subprocess.run(self._stop_command(), capture_output=True, timeout=120, cwd=self.base)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            watchdog = getattr(self, "watchdog", None)
            if watchdog is not None:
                watchdog.stdin.close()
                watchdog.wait(timeout=30)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.role}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


# --------------------------------------------------------------------------
# The portal app on a loopback port, in this process
# --------------------------------------------------------------------------


class ThreadedServer:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the portal did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


@contextlib.contextmanager
def portal_process(args: list[str], env: dict[str, str] | None = None,
                   timeout: float = 60) -> Iterator[tuple[str, subprocess.Popen]]:
    """``harness portal serve ARGS --port 0`` as a child process; yields its URL."""
    proc = subprocess.Popen(["harness", "portal", "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    url = None
    lines = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("portal listening on "):
                url = line.split("portal listening on ", 1)[1].strip().rstrip("/")
                break
        if url is None:
            proc.kill()
            raise RuntimeError("harness portal serve did not start:\n" + "".join(lines)
                               + (proc.stdout.read() or ""))
        drain = threading.Thread(target=lambda: [lines.append(x) for x in proc.stdout], daemon=True)
        drain.start()  # keep the pipe empty so the server never blocks on a write
        proc.output = lines  # type: ignore[attr-defined]
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
