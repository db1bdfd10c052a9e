"""Helpers shared by the integration tests: starting the real keypaird binary, talking to it with
boto3 and with raw SigV4-signed HTTP, reading EC2 XML, and the outside oracles (ssh-keygen,
openssl, puttygen) that check every key the server hands out.

The wire contract these helpers encode is shared/reference/aws-ec2.md; nothing here looks at the
server's source.
"""

from __future__ import annotations

import atexit
import base64
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3
import botocore.auth
import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

REPO_ROOT = Path(__file__).resolve().parents[2]
NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
VERSION = "2016-11-15"
FORM_CT = "application/x-www-form-urlencoded; charset=utf-8"

KEY_PAIR_ID_RE = re.compile(r"^key-[0-9a-f]{17}$")
CREATE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
RSA_FP_RE = re.compile(r"^([0-9a-f]{2}:){19}[0-9a-f]{2}$")  # SHA-1, 20 bytes
MD5_FP_RE = re.compile(r"^([0-9a-f]{2}:){15}[0-9a-f]{2}$")  # MD5, 16 bytes
ED_FP_RE = re.compile(r"^[A-Za-z0-9+/]{43}=$")  # SHA-256, padded base64
LISTEN_RE = re.compile(r"^keypaird listening on (https?)://(127\.0\.0\.1):(\d+)\s*$")

# The error table of the reference: code -> (HTTP status, exact message or None when the
# reference only describes it).
ERRORS = {
    "InvalidKeyPair.Duplicate": 400,
    "InvalidKeyPair.NotFound": 400,
    "InvalidKey.Format": 400,
    "KeyPairLimitExceeded": 400,
    "MissingParameter": 400,
    "InvalidParameterValue": 400,
    "UnknownParameter": 400,
    "InvalidAction": 400,
    "NoSuchVersion": 400,
    "DryRunOperation": 412,
    "AuthFailure": 401,
    "SignatureDoesNotMatch": 403,
    "IncompleteSignature": 400,
    "MissingAuthenticationToken": 401,
    "RequestExpired": 400,
}
# Codes real EC2 uses for cases the reference's table does not cover. Accepted only where the
# reference is silent (garbage bodies, bad percent-encoding, a bad NextToken, the tag limit);
# the report lists them so the reference can be brought up to date.
EXTRA_ERRORS = {
    "MissingAction": {400},
    "MalformedQueryString": {400, 404},  # AWS's common-errors page says 404; EC2's are 400s
    "InvalidPaginationToken": {400},
    "TagLimitExceeded": {400},
    "InvalidID": {400},
}
MSG_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MSG_AUTH_FAILURE = "AWS was not able to validate the provided access credentials"
MSG_DRY_RUN = "Request would have succeeded, but DryRun flag is set."
MSG_EXPIRED = "Request has expired."
MSG_KEY_FORMAT = "Key is not in valid OpenSSH public key format"

# Fixed credentials of the account most tests use. The secret has '/' and '+' like real ones.
TESTER = ("tester", "AKIDTESTER0000000001", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY1")
OTHER = ("other", "AKIDOTHER00000000002", "je7MtGbClwBF/2Zp9Utk+h3yCo8nvbEXAMPLEKEY2")


def binary() -> Path:
    p = Path(os.environ.get("KEYPAIRD_BIN") or REPO_ROOT / "target" / "debug" / "keypaird")
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.fail(
            f"keypaird binary not found at {p}: run `cargo build -p keypaird` or set KEYPAIRD_BIN",
            pytrace=False,
        )
    return p


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"`{name}` is not installed: apt-get install {package} (scripts/test does this)",
                    pytrace=False)
    return path


def clean_env(extra: Mapping[str, str] | None = None) -> dict:
    """Environment for child processes: no KEYPAIRD_* or AWS_* leaking in from the host."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KEYPAIRD_") and not (k.startswith("AWS_") and k not in (
               "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"))}
    env.setdefault("RUST_BACKTRACE", "1")
    if extra:
        env.update(extra)
    return env


def sqlite_url(path: Path) -> str:
    path = Path(path)
    assert path.is_absolute()
    return f"sqlite://{path}"  # absolute path: sqlite:///abs/path/k.db


# PostgreSQL stores have no default master key file (every node must share one), so every
# command on one gets its schema's key file from here unless the test names one itself.
_PG_KEYS = Path(tempfile.mkdtemp(prefix="keypaird-pg-keys-"))
atexit.register(shutil.rmtree, _PG_KEYS, ignore_errors=True)


def pg_master_key_file(store_url: str) -> Path:
    """The master key file of a PostgreSQL store URL: one per schema, shared by every node and
    CLI call of a test, as every node of a deployment shares one."""
    schema = dict(parse_qsl(urlsplit(store_url).query)).get("schema") or "public"
    return _PG_KEYS / f"{schema}.master-key"


def with_master_key(args: list, env: Mapping[str, str] | None) -> list:
    """`args` with --master-key-file added when they name a PostgreSQL store (by --store or
    KEYPAIRD_STORE) and no key file (by the flag or KEYPAIRD_MASTER_KEY_FILE)."""
    if "--master-key-file" in args or "KEYPAIRD_MASTER_KEY_FILE" in (env or {}):
        return args
    url = (env or {}).get("KEYPAIRD_STORE", "")
    if "--store" in args[:-1]:
        url = args[args.index("--store") + 1]
    if url.startswith(("postgres://", "postgresql://")):
        return [*args, "--master-key-file", str(pg_master_key_file(url))]
    return args


def run_cli(args: Iterable[str], *, env: Mapping[str, str] | None = None, cwd=None,
            timeout: float = 60, pg_master_key: bool = True) -> subprocess.CompletedProcess:
    args = [str(a) for a in args]
    if pg_master_key:
        args = with_master_key(args, env)
    return subprocess.run([str(binary()), *args], capture_output=True, text=True,
                          env=clean_env(env), cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def create_account(store_url: str, name: str, akid: str | None = None, secret: str | None = None,
                   quota: int | None = None) -> subprocess.CompletedProcess:
    args = ["accounts", "create", name, "--store", store_url]
    if akid is not None:
        args += ["--access-key-id", akid, "--secret-access-key", secret]
    if quota is not None:
        args += ["--key-pair-quota", str(quota)]
    cp = run_cli(args)
    assert cp.returncode == 0, (
        f"`keypaird {' '.join(args)}` exited {cp.returncode}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
    return cp


def assert_no_panic(text: str):
    assert "panicked at" not in text and "RUST_BACKTRACE" not in text, f"the binary panicked:\n{text}"


# --------------------------------------------------------------------------------------------
# The server process


@dataclass
class Server:
    proc: subprocess.Popen
    host: str
    port: int
    store_url: str
    store_path: Path | None
    stderr_path: Path
    lines: list = field(default_factory=list)
    creds: tuple | None = None  # (name, akid, secret) of the account tests use by default
    scheme: str = "http"
    ca_bundle: str | None = None  # the CA that signed its certificate, when it serves TLS
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    # -- output
    def stdout(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_stdout(self, pattern: str, timeout: float = 10) -> re.Match | None:
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search("".join(self.lines))
                if m or time.monotonic() > deadline:
                    return m
                self._cond.wait(0.1)

    def wait_stderr(self, predicate, timeout: float = 5):
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr()
            if predicate(text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    # -- lifecycle
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    # -- clients
    def ec2(self, region: str = "us-east-1", creds: tuple | None = None, **config):
        name, akid, secret = creds or self.creds
        return ec2_client(self.url, akid, secret, region, verify=self.ca_bundle, **config)

    def call(self, action: str | None, params: Mapping | None = None, **kw) -> "Reply":
        kw.setdefault("creds", self.creds)
        return call(self.url, action, params, **kw)

    def healthz(self) -> int:
        return requests.get(self.url + "/healthz", timeout=5).status_code

    def describe(self, region: str = "us-east-1", creds=None, **params) -> list:
        return self.ec2(region, creds).describe_key_pairs(**params)["KeyPairs"]


def _die_with_parent():
    """In the child: get SIGKILL if the test process dies, so no server outlives the suite."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_server(*, store_url: str, store_path: Path | None, workdir: Path, extra=(),
                 env: Mapping[str, str] | None = None, listen: str | None = "127.0.0.1:0",
                 creds=None, timeout: float = 30, ca_bundle: str | None = None) -> Server:
    args = [str(binary()), "serve"]
    if listen is not None:
        args += ["--listen", listen]
    if store_url is not None:
        args += ["--store", store_url]
    args += [str(a) for a in extra]
    args = [args[0], *with_master_key(args[1:], env)]
    workdir.mkdir(parents=True, exist_ok=True)
    n = len(list(workdir.glob("stderr-*.log")))
    stderr_path = workdir / f"stderr-{n}.log"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=workdir, env=clean_env(env), text=True, bufsize=1,
                                preexec_fn=_die_with_parent)
    srv = Server(proc=proc, host="127.0.0.1", port=0, store_url=store_url, store_path=store_path,
                 stderr_path=stderr_path, creds=creds)

    def pump():
        for line in proc.stdout:
            with srv._cond:
                srv.lines.append(line)
                srv._cond.notify_all()
        with srv._cond:
            srv._cond.notify_all()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    m = None
    while time.monotonic() < deadline:
        m = srv.wait_stdout(LISTEN_RE.pattern, timeout=0.2)
        if m or proc.poll() is not None:
            break
    if not m:
        srv.stop(2)
        pytest.fail(
            f"`{' '.join(args)}` did not print 'keypaird listening on http://HOST:PORT' "
            f"(exit code {proc.returncode})\nstdout:\n{srv.stdout()}\nstderr:\n{srv.stderr()}",
            pytrace=False)
    srv.scheme, srv.host, srv.port = m.group(1), m.group(2), int(m.group(3))
    srv.ca_bundle = ca_bundle
    while time.monotonic() < deadline:
        try:
            if requests.get(srv.url + "/healthz", timeout=2,
                            verify=ca_bundle or True).status_code == 200:
                return srv
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    srv.stop(2)
    pytest.fail(f"GET /healthz never answered 200\nstderr:\n{srv.stderr()}", pytrace=False)


# --------------------------------------------------------------------------------------------
# Clients


def ec2_client(url: str, akid: str, secret: str, region: str = "us-east-1", verify=None,
               **config):
    session = boto3.session.Session(aws_access_key_id=akid, aws_secret_access_key=secret,
                                    region_name=region)
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=120, **config)
    return session.client("ec2", endpoint_url=url, config=cfg, verify=verify)


def form(action: str | None, params: Mapping | None = None, version: str | None = VERSION) -> dict:
    d = {}
    if action is not None:
        d["Action"] = action
    if version is not None:
        d["Version"] = version
    d.update({k: v for k, v in (params or {}).items()})
    return d


def sign(req: AWSRequest, creds: tuple, region: str = "us-east-1", *, skew: float = 0,
         query: bool = False, expires: int = 300):
    """Sign an AWSRequest in place with botocore's own signer, optionally with a clock skew."""
    _, akid, secret = creds
    c = Credentials(akid, secret)
    signer = SigV4QueryAuth(c, "ec2", region, expires=expires) if query else SigV4Auth(c, "ec2", region)
    if skew:
        real = botocore.auth.get_current_datetime

        def shifted(*a, **k):
            import datetime as _dt
            return real(*a, **k) + _dt.timedelta(seconds=skew)

        botocore.auth.get_current_datetime = shifted
        try:
            signer.add_auth(req)
        finally:
            botocore.auth.get_current_datetime = real
    else:
        signer.add_auth(req)
    return req


def send(req: AWSRequest, timeout: float = 60) -> requests.Response:
    p = req.prepare()
    return requests.request(p.method, p.url, headers=dict(p.headers.items()), data=p.body,
                            timeout=timeout, allow_redirects=False)


def call(url: str, action: str | None, params: Mapping | None = None, *, creds=None,
         region: str = "us-east-1", method: str = "POST", body: bytes | str | None = None,
         headers: Mapping | None = None, version: str | None = VERSION, skew: float = 0,
         signed: bool = True, mutate=None, timeout: float = 60) -> "Reply":
    """Raw HTTP request signed with botocore's SigV4Auth (header form).

    POST: parameters form-encoded in the body (or `body` verbatim). GET: parameters in the query.
    `mutate(prepared_headers: dict) -> None` may break the signed request before it is sent.
    """
    data = form(action, params, version)
    hdrs = dict(headers or {})
    if method == "GET":
        req = AWSRequest(method="GET", url=url + "/", params=data, headers=hdrs)
    else:
        hdrs.setdefault("Content-Type", FORM_CT)
        payload = body if body is not None else urlencode(data)
        if isinstance(payload, str):
            payload = payload.encode()
        req = AWSRequest(method=method, url=url + "/", data=payload, headers=hdrs)
    if signed:
        sign(req, creds, region, skew=skew)
    p = req.prepare()
    h = dict(p.headers.items())
    if mutate:
        mutate(h)
    r = requests.request(p.method, p.url, headers=h, data=p.body, timeout=timeout,
                         allow_redirects=False)
    return Reply(r)


# --------------------------------------------------------------------------------------------
# Replies


def local(tag: str) -> str:
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


class Reply:
    def __init__(self, r: requests.Response):
        self.r = r
        self.status = r.status_code
        self.text = r.text
        self.content = r.content
        self.headers = r.headers
        self._root = None

    @property
    def root(self) -> ET.Element:
        if self._root is None:
            try:
                self._root = ET.fromstring(self.content)
            except ET.ParseError as e:
                raise AssertionError(
                    f"HTTP {self.status} body is not XML ({e}): {self.text[:2000]!r}") from None
        return self._root

    def __repr__(self):
        return f"<Reply {self.status} {self.text[:1500]!r}>"

    # success
    def el(self, path: str) -> ET.Element | None:
        """Find by a path of local names, namespace-qualified: 'keySet/item/keyName'."""
        return self.root.find("/".join(f"{{{NS}}}{p}" for p in path.split("/")))

    def els(self, path: str) -> list:
        return self.root.findall("/".join(f"{{{NS}}}{p}" for p in path.split("/")))

    def txt(self, path: str) -> str | None:
        e = self.el(path)
        return None if e is None else (e.text or "")

    def ok(self, action: str) -> "Reply":
        assert self.status == 200, f"{action}: expected 200, got {self!r}"
        assert_xml_content_type(self)
        assert self.root.tag == f"{{{NS}}}{action}Response", (
            f"root is {self.root.tag}, expected {{{NS}}}{action}Response")
        kids = list(self.root)
        assert kids and kids[0].tag == f"{{{NS}}}requestId", (
            f"requestId must be the first child: {[local(k.tag) for k in kids]}")
        assert (kids[0].text or "").strip(), "empty requestId"
        return self

    # errors
    @property
    def code(self) -> str | None:
        e = self.root.find("Errors/Error/Code")
        return None if e is None else e.text

    @property
    def message(self) -> str | None:
        e = self.root.find("Errors/Error/Message")
        return None if e is None else (e.text or "")

    def error(self, code: str, message: str | None = None, status: int | None = None) -> "Reply":
        """Assert the EC2 error envelope, code, HTTP status (from the reference table) and,
        when given, the exact message."""
        assert_error_envelope(self)
        assert self.code == code, f"expected {code}, got {self.code}: {self.message!r} (HTTP {self.status})"
        want = status if status is not None else ERRORS[code]
        assert self.status == want, f"{code}: expected HTTP {want}, got {self.status}"
        if message is not None:
            assert self.message == message, f"{code} message: expected {message!r}, got {self.message!r}"
        return self


def assert_xml_content_type(reply: Reply):
    ct = reply.headers.get("Content-Type", "")
    norm = ct.replace(" ", "").lower()
    assert norm == "text/xml;charset=utf-8", f"Content-Type must be text/xml;charset=UTF-8, got {ct!r}"


def assert_error_envelope(reply: Reply):
    """<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>"""
    assert 400 <= reply.status < 500, f"expected a 4xx, got {reply!r}"
    assert_xml_content_type(reply)
    assert reply.text.lstrip().startswith('<?xml version="1.0" encoding="UTF-8"?>'), (
        f"error body must start with the XML declaration: {reply.text[:200]!r}")
    root = reply.root
    assert root.tag == "Response", f"error root must be <Response> (no namespace), got {root.tag}"
    assert [c.tag for c in root] == ["Errors", "RequestID"], (
        f"<Response> children must be Errors, RequestID: {[c.tag for c in root]}")
    errors = root.find("Errors")
    assert [c.tag for c in errors] == ["Error"], f"<Errors> children: {[c.tag for c in errors]}"
    err = errors.find("Error")
    assert [c.tag for c in err] == ["Code", "Message"], f"<Error> children: {[c.tag for c in err]}"
    assert (err.find("Code").text or "").strip(), "empty <Code>"
    assert (err.find("Message").text or "").strip(), "empty <Message>"
    assert (root.find("RequestID").text or "").strip(), "empty <RequestID>"


def assert_documented_error(reply: Reply, allowed: Iterable[str] | None = None):
    """A 4xx in the EC2 envelope whose code is in the reference's table with its table status."""
    assert_error_envelope(reply)
    codes = set(allowed) if allowed else (set(ERRORS) | set(EXTRA_ERRORS)) - {"DryRunOperation"}
    assert reply.code in codes, f"code {reply.code!r} ({reply.message!r}) not in {sorted(codes)}"
    statuses = {ERRORS[reply.code]} if reply.code in ERRORS else EXTRA_ERRORS[reply.code]
    assert reply.status in statuses, f"{reply.code} must be HTTP {statuses}, got {reply.status}"


def client_error(excinfo, code: str, message: str | None = None, status: int | None = None):
    """Check a botocore ClientError."""
    e = excinfo.value
    err = e.response["Error"]
    assert err["Code"] == code, f"expected {code}, got {err}"
    want = status if status is not None else ERRORS[code]
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == want, e.response["ResponseMetadata"]
    assert e.response["ResponseMetadata"].get("RequestId"), "botocore found no RequestID in the error"
    if message is not None:
        assert err["Message"] == message, f"{code}: expected {message!r}, got {err['Message']!r}"
    return err


# --------------------------------------------------------------------------------------------
# Oracles: outside tools that check what the server returns


def run(cmd, *, input: bytes | str | None = None, cwd=None, shell=False, check=True) -> str:
    if isinstance(input, str):
        input = input.encode()
    cp = subprocess.run(cmd, input=input, capture_output=True, cwd=cwd, shell=shell, timeout=120,
                        executable="/bin/bash" if shell else None)
    if check and cp.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {cp.returncode}:\n{cp.stdout.decode(errors='replace')}"
                             f"\n{cp.stderr.decode(errors='replace')}")
    return cp.stdout.decode(errors="replace")


def write_private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def type_b64(line: str) -> tuple:
    parts = line.strip().split()
    assert len(parts) >= 2, f"not an OpenSSH public key line: {line!r}"
    return parts[0], parts[1]


def ssh_pub_from_private(keyfile: Path) -> tuple:
    """`ssh-keygen -y -f key` -> (type, base64)."""
    require_tool("ssh-keygen", "openssh-client")
    return type_b64(run(["ssh-keygen", "-y", "-f", str(keyfile)]))


def openssl_sha1_pkcs8(pem_file: Path) -> str:
    """Created RSA fingerprint oracle: openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c"""
    require_tool("openssl", "openssl")
    out = run(f"set -o pipefail; openssl pkcs8 -in '{pem_file}' -topk8 -nocrypt -outform DER | openssl sha1 -c",
              shell=True)
    return out.strip().split("= ", 1)[1].strip()


def openssl_md5_spki(pub_file: Path) -> str:
    """Imported RSA fingerprint oracle: ssh-keygen -e -m PKCS8 | openssl pkey -pubin -outform DER | openssl md5 -c"""
    require_tool("openssl", "openssl")
    require_tool("ssh-keygen", "openssh-client")
    out = run(f"set -o pipefail; ssh-keygen -e -m PKCS8 -f '{pub_file}' | "
              f"openssl pkey -pubin -outform DER | openssl md5 -c", shell=True)
    return out.strip().split("= ", 1)[1].strip()


def ssh_sha256_aws(key_file: Path) -> str:
    """ED25519 oracle: `ssh-keygen -l -f key` prints SHA256:<b64>; AWS prints <b64>=."""
    out = run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(key_file)])
    m = re.search(r"SHA256:([A-Za-z0-9+/]{43})", out)
    assert m, out
    return m.group(1) + "="


def ssh_bits(key_file: Path) -> int:
    return int(run(["ssh-keygen", "-l", "-f", str(key_file)]).split()[0])


def puttygen_public(ppk_file: Path) -> tuple:
    require_tool("puttygen", "putty-tools")
    out_file = ppk_file.with_suffix(".from-ppk.pub")
    run(["puttygen", str(ppk_file), "-O", "public-openssh", "-o", str(out_file)])
    return type_b64(out_file.read_text())


def puttygen_private_openssh(ppk_file: Path) -> Path:
    require_tool("puttygen", "putty-tools")
    out_file = ppk_file.with_suffix(".from-ppk.pem")
    run(["puttygen", str(ppk_file), "-O", "private-openssh", "-o", str(out_file)])
    os.chmod(out_file, 0o600)
    return out_file


def pem_body(pem: str) -> str:
    return "".join(l.strip() for l in pem.strip().splitlines() if not l.startswith("-----"))


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def verify_created_key(srv: Server, tmp: Path, resp: dict, key_type: str = "rsa",
                       key_format: str = "pem", region: str = "us-east-1", creds=None) -> dict:
    """Check a CreateKeyPair result with the outside tools and against DescribeKeyPairs.

    Returns {'pub': (type, b64), 'fingerprint': ...}.
    """
    material = resp["KeyMaterial"]
    name = resp["KeyName"]
    assert KEY_PAIR_ID_RE.match(resp["KeyPairId"]), resp["KeyPairId"]
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40] + "-" + resp["KeyPairId"]
    want_type = {"rsa": "ssh-rsa", "ed25519": "ssh-ed25519"}[key_type]
    if key_format == "pem":
        keyfile = write_private(tmp / f"{stem}.pem", material)
        first = material.strip().splitlines()[0]
        if key_type == "rsa":
            assert first == "-----BEGIN RSA PRIVATE KEY-----", f"RSA pem must be PKCS#1: {first!r}"
            assert material.strip().splitlines()[-1] == "-----END RSA PRIVATE KEY-----"
            assert "RSA key ok" in run(["openssl", "rsa", "-check", "-noout", "-in", str(keyfile)])
        else:
            assert first == "-----BEGIN OPENSSH PRIVATE KEY-----", f"ed25519 pem: {first!r}"
            assert material.strip().splitlines()[-1] == "-----END OPENSSH PRIVATE KEY-----"
        pub = ssh_pub_from_private(keyfile)
        rsa_pem = keyfile if key_type == "rsa" else None
    else:
        lines = material.splitlines()
        assert lines[0] == f"PuTTY-User-Key-File-2: {want_type}", (
            f"PPK must be PuTTY-User-Key-File-2 by default: {lines[0]!r}")
        assert "Encryption: none" in lines, "PPK must be unencrypted"
        keyfile = write_private(tmp / f"{stem}.ppk", material)
        pub = puttygen_public(keyfile)
        rsa_pem = puttygen_private_openssh(keyfile) if key_type == "rsa" else None
        if rsa_pem is not None:
            assert ssh_pub_from_private(rsa_pem) == pub
    assert pub[0] == want_type, pub
    pubfile = tmp / f"{stem}.pub"
    pubfile.write_text(f"{pub[0]} {pub[1]}\n")
    if key_type == "rsa":
        assert ssh_bits(pubfile) == 2048, "created RSA keys are 2048-bit"
        fp = openssl_sha1_pkcs8(rsa_pem)
        assert RSA_FP_RE.match(resp["KeyFingerprint"]), resp["KeyFingerprint"]
    else:
        fp = ssh_sha256_aws(pubfile)
        assert ED_FP_RE.match(resp["KeyFingerprint"]), resp["KeyFingerprint"]
    assert resp["KeyFingerprint"] == fp, (
        f"{key_type}/{key_format} fingerprint {resp['KeyFingerprint']} != oracle {fp}")
    d = srv.describe(region, creds, KeyPairIds=[resp["KeyPairId"]], IncludePublicKey=True)
    assert len(d) == 1, d
    assert d[0]["KeyName"] == name
    assert d[0]["KeyFingerprint"] == fp
    assert d[0]["KeyType"] == key_type
    assert type_b64(d[0]["PublicKey"]) == pub, (
        f"DescribeKeyPairs publicKey {d[0]['PublicKey']!r} != key derived from the private key {pub}")
    return {"pub": pub, "fingerprint": fp, "keyfile": keyfile, "pubfile": pubfile}
