"""`Server`: the bundled keypaird binary as a context manager, and the accounts it hands out."""

from __future__ import annotations

import http.client
import os
import queue
import re
import secrets
import shutil
import signal
import string
import subprocess
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Optional

__all__ = ["Account", "Server", "ServerError", "find_binary"]

# The first line `keypaird serve` prints on stdout once the port is bound (crates/server, main.rs).
_BANNER = re.compile(r"^keypaird listening on http://(?P<host>[^\s:]+):(?P<port>\d+)\s*$")
# What `keypaird accounts create` prints for the key it made (crates/server, accounts.rs).
_EXPORT = re.compile(r"^export (?P<name>AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)=(?P<value>\S+)$")
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


class ServerError(RuntimeError):
    """keypaird could not be found, did not start, or refused an account."""


def find_binary() -> str:
    """The keypaird executable: `KEYPAIRD_BIN` if set, else the one this package installed.

    pip puts a wheel's binary in the scripts directory of the environment it installs into
    (or of the user scheme for `pip install --user`), which is on PATH only while that
    environment is activated, so those directories are searched before PATH.
    """
    override = os.environ.get("KEYPAIRD_BIN")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise ServerError(f"KEYPAIRD_BIN={override!r} is not an executable file")
        return override
    name = "keypaird.exe" if os.name == "nt" else "keypaird"
    for directory in _scripts_directories():
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise ServerError(
        "the keypaird binary was not found next to this Python's scripts or on PATH; "
        "install the keypaird wheel or set KEYPAIRD_BIN"
    )


def _scripts_directories() -> list[str]:
    directories = [sysconfig.get_path("scripts")]
    if hasattr(sysconfig, "get_preferred_scheme"):  # Python 3.10+
        user_scheme = sysconfig.get_preferred_scheme("user")
    else:
        user_scheme = f"{os.name}_user"
    try:
        directories.append(sysconfig.get_path("scripts", user_scheme))
    except KeyError:
        pass
    return directories


@dataclass(frozen=True)
class Account:
    """One account's access key on one server, with what a client needs to reach it."""

    name: str
    access_key_id: str
    secret_access_key: str
    region: str
    endpoint_url: str
    aliyun_endpoint: str

    def aws_environment(self) -> dict[str, str]:
        """The environment variables boto3 and the aws CLI read, set to this account."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def __repr__(self) -> str:  # the secret stays out of test reports and logs
        return (
            f"Account(name={self.name!r}, access_key_id={self.access_key_id!r}, "
            f"region={self.region!r}, endpoint_url={self.endpoint_url!r})"
        )


class Server:
    """``keypaird serve`` on a free loopback port, for the duration of a ``with`` block.

    any_credentials: accept any access key without checking signatures (moto's behaviour);
        each access key ID is an account of its own, made on first use.
    allow_reset: add ``POST /moto-api/reset``, which empties the inventory.
    store: a store URL (``sqlite://PATH``, ``postgres://…``); by default a SQLite file in a
        temporary directory that is removed on exit.
    args: further ``keypaird serve`` flags, e.g. ``("--rsa-pool-size", "4")``.
    master_key_file: the master key file, for a `store` whose key is not beside it (PostgreSQL);
        passed to ``serve`` and to ``accounts create`` alike.
    region: the region accounts are handed out with.
    """

    def __init__(
        self,
        any_credentials: bool = True,
        allow_reset: bool = False,
        store: Optional[str] = None,
        args: Iterable[str] = (),
        *,
        master_key_file: Optional[str] = None,
        region: str = "us-east-1",
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.any_credentials = any_credentials
        self.allow_reset = allow_reset
        self.region = region
        if isinstance(args, (str, bytes)):
            raise TypeError("args is a sequence of flags, e.g. ('--rsa-pool-size', '4'), not a string")
        self._requested_store = store
        self._store: Optional[str] = None
        self._args = tuple(args)
        self._master_key_file = master_key_file
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._binary: Optional[str] = None
        self._workdir: Optional[str] = None
        self._process: Optional[subprocess.Popen] = None
        self._log = None
        self._stdout_reader: Optional[threading.Thread] = None
        self._host: Optional[str] = None
        self._port: Optional[int] = None
        self.returncode: Optional[int] = None

    # --- lifetime

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Starts the server and returns once ``/readyz`` answers 200."""
        if self._process is not None:
            raise ServerError("this Server is already running")
        deadline = time.monotonic() + self._startup_timeout
        self.returncode = None
        self._binary = find_binary()
        self._workdir = tempfile.mkdtemp(prefix="keypaird-")
        try:
            self._store = self._requested_store or "sqlite://" + os.path.join(
                self._workdir, "keypaird.db"
            )
            command = [
                self._binary,
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--store",
                self._store,
                *self._master_key_args(),
                *(["--any-credentials"] if self.any_credentials else []),
                *(["--allow-reset"] if self.allow_reset else []),
                *self._args,
            ]
            # stderr (keypaird's log) goes to a file so a long session never fills a pipe.
            self._log = open(self.log_path, "wb")
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._log,
            )
            self._host, self._port = self._await_banner(deadline)
            self._await_ready(deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after `stop_timeout` seconds; removes the temporary directory."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self._stop_timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self.returncode = process.returncode
            if self._stdout_reader is not None:
                self._stdout_reader.join()
                self._stdout_reader = None
            process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._store = None
        self._host = self._port = None

    # --- what clients need

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``, for boto3, the aws CLI and ``AWS_ENDPOINT_URL``."""
        return f"http://{self.aliyun_endpoint}"

    @property
    def aliyun_endpoint(self) -> str:
        """``127.0.0.1:PORT``, as the Alibaba SDKs take an endpoint (with protocol http)."""
        if self._port is None:
            raise ServerError("the server is not running")
        return f"{self._host}:{self._port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise ServerError("the server is not running")
        return self._port

    @property
    def store(self) -> str:
        """The store URL the server runs on."""
        if self._store is None:
            raise ServerError("the server is not running")
        return self._store

    @property
    def log_path(self) -> str:
        """keypaird's log (its stderr) for this run; removed with the temporary directory."""
        if self._workdir is None:
            raise ServerError("the server is not running")
        return os.path.join(self._workdir, "keypaird.log")

    def create_account(self, name: Optional[str] = None) -> Account:
        """A new account with an access key of its own.

        With `any_credentials` and no `name`, that is a fresh random access key, which keypaird
        makes into an account on its first request (no process is started). Otherwise the
        account is made on the store by ``keypaird accounts create``, which generates the key
        (so the secret never appears on a command line) and works while the server runs.
        """
        if self._port is None:
            raise ServerError("the server is not running")
        if self.any_credentials and name is None:
            access_key_id = "AKIA" + _random_text(_KEY_ID_ALPHABET, 16)
            return self._account(access_key_id, access_key_id, _random_text(_SECRET_ALPHABET, 40))
        if name is None:
            name = "test-" + secrets.token_hex(6)
        command = [
            self._binary,
            "accounts",
            "create",
            name,
            "--store",
            self.store,
            *self._master_key_args(),
        ]
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self._startup_timeout,
        )
        if done.returncode != 0:
            raise ServerError(f"keypaird accounts create {name}: {done.stderr.strip()}")
        exported = {}
        for line in done.stdout.splitlines():
            match = _EXPORT.match(line.strip())
            if match:
                exported[match["name"]] = match["value"]
        if set(exported) != {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}:
            raise ServerError(f"keypaird accounts create {name} printed no access key")
        return self._account(
            name, exported["AWS_ACCESS_KEY_ID"], exported["AWS_SECRET_ACCESS_KEY"]
        )

    # --- internals

    def _account(self, name: str, access_key_id: str, secret_access_key: str) -> Account:
        return Account(
            name=name,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            region=self.region,
            endpoint_url=self.endpoint_url,
            aliyun_endpoint=self.aliyun_endpoint,
        )

    def _master_key_args(self) -> list[str]:
        return ["--master-key-file", self._master_key_file] if self._master_key_file else []

    def _await_banner(self, deadline: float) -> tuple[str, int]:
        found: queue.Queue = queue.Queue()

        def read_stdout(stdout) -> None:
            # After the banner line the rest of stdout is read and dropped: the banner of a new
            # store holds the default account's secret, which is not kept anywhere.
            for raw in iter(stdout.readline, b""):
                match = _BANNER.match(raw.decode("utf-8", "replace"))
                if match:
                    found.put((match["host"], int(match["port"])))
            found.put(None)

        self._stdout_reader = threading.Thread(
            target=read_stdout, args=(self._process.stdout,), name="keypaird-stdout", daemon=True
        )
        self._stdout_reader.start()
        try:
            address = found.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise ServerError(
                f"keypaird printed no 'listening on' line within {self._startup_timeout} s"
                + self._log_tail()
            ) from None
        if address is None:
            self._process.wait()
            raise ServerError(
                f"keypaird serve exited with status {self._process.returncode}" + self._log_tail()
            )
        return address

    def _await_ready(self, deadline: float) -> None:
        last = "no answer"
        while True:
            if self._process.poll() is not None:
                raise ServerError(
                    f"keypaird serve exited with status {self._process.returncode}"
                    + self._log_tail()
                )
            connection = http.client.HTTPConnection(self._host, self._port, timeout=2)
            try:
                connection.request("GET", "/readyz")
                response = connection.getresponse()
                body = response.read().decode("utf-8", "replace").strip()
                if response.status == 200:
                    return
                last = f"{response.status} {body}"
            except OSError as err:
                last = str(err)
            finally:
                connection.close()
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"keypaird was not ready within {self._startup_timeout} s (/readyz: {last})"
                    + self._log_tail()
                )
            time.sleep(0.02)

    def _log_tail(self, lines: int = 20) -> str:
        if self._workdir is None:
            return ""
        try:
            with open(self.log_path, "rb") as log:
                tail = log.read().decode("utf-8", "replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "; its log ends:\n" + "\n".join(tail) if tail else ""


def _random_text(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))
