"""Start, stop and inspect the local cloud's background processes (`python -m helpers local ...`).

Three services, each a process of its own with a PID file, a log file and a free loopback port:
  aws        moto server (+ Glue job execution), see aws_server.py
  snowflake  fakesnow server (+ fidelity fixes), see snowflake_server.py
  source     a static HTTP server for the fixture, standing in for raw.githubusercontent.com
`up` is idempotent: a service that is already running and healthy is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from helpers.local_cloud.bootstrap import bootstrap
from helpers.settings import PROJECT_ROOT, Settings

SERVICES = ("aws", "snowflake", "source")
FIXTURES_DIR = PROJECT_ROOT / "helpers" / "fixtures"
REGION = "us-east-1"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# Snowflake's own AWS principal may do nothing but assume the roles customers grant it.
PRINCIPAL_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
}


def snowflake_principal_keys(settings: Settings) -> dict[str, str]:
    """boto3 keyword arguments for the local stand-in of Snowflake's AWS principal (the IAM user a storage
    integration's DESC shows), written by `local up`. Real Snowflake never hands these out: local only."""
    keys = json.loads((Path(settings.state_dir) / "snowflake_principal.json").read_text())
    return {"aws_access_key_id": keys["access_key_id"], "aws_secret_access_key": keys["secret_access_key"]}


# Below Linux's ephemeral range (32768-60999), where the OS hands out ports for outgoing connections.
STABLE_PORTS = range(20000, 32000)


def stable_port(state_dir: Path, service: str) -> int:
    """The port a service gets for this state directory when it is free: the same on every `local up`,
    even after `local down --wipe`, and (almost always) different for another state directory (each
    test worker has its own). The Snowflake port is in dbt's profile, and dbt re-parses the whole
    project when the profile changes: a new port on every fresh local cloud made every first run
    re-parse (~4 s), where a real account's host never changes."""
    slots = len(STABLE_PORTS) // len(SERVICES)
    slot = zlib.crc32(str(Path(state_dir).resolve()).encode()) % slots
    return STABLE_PORTS[slot * len(SERVICES) + SERVICES.index(service)]


def _free_port(preferred: int | None = None) -> int:
    """`preferred` (the port a service had before a restart) if it is free, else any free port."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # as the servers bind: a stopped server's connections in TIME_WAIT do not make its port busy
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free loopback port")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not alive
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _healthy(service: str, url: str) -> bool:
    path = {"aws": "/moto-api/reset-auth", "snowflake": "/health", "source": "/countries_sample.json"}[service]
    try:
        with urllib.request.urlopen(url + path, timeout=2) as r:  # noqa: S310 - loopback only
            return r.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500  # reset-auth answers 400 to GET: the server is up
    except OSError:
        return False


class LocalCloud:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.dir = self.settings.state_dir
        self.logs = self.dir / "logs"

    # -- state files ---------------------------------------------------------------------------
    def _pidfile(self, service: str) -> Path:
        return self.dir / f"{service}.pid"

    def _read(self, service: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._pidfile(service).read_text())
        except (OSError, ValueError):
            return None

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "launcher.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _write_secret(self, name: str, data: dict[str, Any]) -> Path:
        path = self.dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        return path

    # -- lifecycle -----------------------------------------------------------------------------
    def preferred_port(self, service: str) -> int:
        """A restarted service keeps its port (open connections' settings stay valid); a service
        started afresh gets its stable port."""
        return (self._read(service) or {}).get("port") or stable_port(self.dir, service)

    def _start(self, service: str, args: list[str]) -> dict[str, Any]:
        port = _free_port(self.preferred_port(service))
        url = f"http://127.0.0.1:{port}"
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{service}.log", "ab")  # noqa: SIM115 - handed to the child
        cmd = [sys.executable, *[a.format(port=port) for a in args]]
        proc = subprocess.Popen(  # noqa: S603
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        info = {"pid": proc.pid, "port": port, "url": url, "log": str(self.logs / f"{service}.log")}
        deadline = time.time() + 60
        while not _healthy(service, url):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                tail = (self.logs / f"{service}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"local {service} server failed to start (see {info['log']}):\n{tail}")
            time.sleep(0.1)
        self._pidfile(service).write_text(json.dumps(info))
        return info

    def _running(self, service: str) -> dict[str, Any] | None:
        info = self._read(service)
        if info and _alive(info["pid"]) and _healthy(service, info["url"]):
            return info
        return None

    def up(self) -> dict[str, Any]:
        with self._lock():
            aws = self._running("aws")
            fresh_aws = aws is None
            if fresh_aws:
                self._stop("aws")
                # the child inherits os.environ, so PIPELINE_LOCAL_IAM_PROPAGATION_SECONDS (IAM's
                # propagation delay, off by default; see aws_access.py) reaches the server. A server
                # that is already running keeps the setting it was started with: `local down` first.
                aws = self._start("aws", ["-m", "helpers.local_cloud.aws_server", "--port", "{port}"])
                self._bootstrap_aws(aws["url"])
            assert aws is not None
            snowflake = None if fresh_aws else self._running("snowflake")
            if snowflake is None:  # a new AWS means a new Snowflake principal: restart to pick it up
                self._stop("snowflake")
                snowflake = self._start(
                    "snowflake",
                    [
                        "-m",
                        "helpers.local_cloud.snowflake_server",
                        "--port",
                        "{port}",
                        "--state-dir",
                        str(self.dir / "snowflake"),
                        "--aws-endpoint",
                        aws["url"],
                        "--region",
                        REGION,
                        "--principal-file",
                        str(self.dir / "snowflake_principal.json"),
                        # the local warehouse's memory budget; what does not fit spills to disk
                        "--memory-limit",
                        os.environ.get("PIPELINE_LOCAL_WAREHOUSE_MEMORY", "2GB"),
                        "--spill-dir",
                        str(self.dir / "snowflake" / "spill"),
                    ],
                )
            if self._running("source") is None:
                self._stop("source")
                self._start(
                    "source", ["-m", "http.server", "--bind", "127.0.0.1", "--directory", str(FIXTURES_DIR), "{port}"]
                )
            # the operator (and whatever else an administrator sets up once), every `up`: idempotent,
            # and a policy changed by the settings (bucket, roles, job) is re-applied
            cloud = bootstrap(self.settings, self._connection(), self.dir)
            self._write_secret("cloud.json", cloud)
            return cloud

    def _bootstrap_aws(self, url: str) -> None:
        """Create the local admin (only for bootstrap.py and tests: the pipeline runs as the
        operator) and the IAM user that stands for Snowflake's principal, then switch IAM
        enforcement on: from here every request must be signed by a known key and allowed by its
        policies."""
        import boto3

        iam = boto3.client(
            "iam", endpoint_url=url, region_name=REGION, aws_access_key_id="bootstrap", aws_secret_access_key="x"
        )
        keys = {}
        for user, policy in (("local-admin", ADMIN_POLICY), ("snowflake-principal", PRINCIPAL_POLICY)):
            arn = iam.create_user(UserName=user)["User"]["Arn"]
            iam.put_user_policy(UserName=user, PolicyName=f"{user}-policy", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = {"arn": arn, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
        self.dir.mkdir(parents=True, exist_ok=True)
        self._write_secret("aws_admin.json", keys["local-admin"])
        self._write_secret("snowflake_principal.json", keys["snowflake-principal"])
        req = urllib.request.Request(
            url + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(req, timeout=5).read()  # noqa: S310 - loopback only

    def _connection(self) -> dict[str, Any]:
        """cloud.json's content before the bootstrap steps add theirs: endpoints and admin keys."""
        aws, snowflake, source = (self._read(s) for s in SERVICES)
        assert aws and snowflake and source
        password_file = self.dir / "snowflake_password"
        if not password_file.exists():
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(16))
        cloud = {
            "aws": {
                "url": aws["url"],
                "region": REGION,
                "admin": json.loads((self.dir / "aws_admin.json").read_text()),
            },
            "snowflake": {
                "host": "127.0.0.1",
                "port": snowflake["port"],
                "protocol": "http",
                "account": "fakesnow",
                "user": "pipeline",
                "password": password_file.read_text().strip(),
            },
            "source": {"url": source["url"]},
        }
        return cloud

    def _stop(self, service: str) -> bool:
        info = self._read(service)
        if not info or not _alive(info["pid"]):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(info["pid"], signal.SIGTERM)
        deadline = time.time() + 10
        while _alive(info["pid"]) and time.time() < deadline:
            time.sleep(0.1)
        if _alive(info["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(info["pid"], signal.SIGKILL)
        return True

    def _forget(self, service: str) -> None:
        self._pidfile(service).unlink(missing_ok=True)

    def down(self, wipe: bool = False) -> dict[str, bool]:
        with self._lock():
            stopped = {s: self._stop(s) for s in reversed(SERVICES)}
            for s in SERVICES:
                self._forget(s)
            (self.dir / "cloud.json").unlink(missing_ok=True)
            if wipe:
                import shutil

                shutil.rmtree(self.dir / "snowflake", ignore_errors=True)
            return stopped

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for service in SERVICES:
            info = self._read(service)
            running = bool(info and _alive(info["pid"]))
            out[service] = {
                "running": running,
                "healthy": bool(running and info and _healthy(service, info["url"])),
                **({"pid": info["pid"], "url": info["url"], "log": info["log"]} if info else {}),
            }
        return out
