"""TLS on the listener (--tls-cert, --tls-key), with verification on everywhere: a test CA made
here signs the server's certificate, and every client is given that CA and nothing else. boto3,
the aws CLI (--ca-bundle), aliyun-python-sdk-core (verify=) and the Tea SDK (RuntimeOptions
ca=) all work; HTTP/2 and HTTP/1.1 are offered by ALPN; plain HTTP on the TLS port gets a closed
connection; SIGHUP swaps the certificate without dropping a keep-alive client; a bad new pair is
refused with a log line and the old one stays."""

import datetime
import http.client
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import TESTER, binary, sqlite_url, start_server

ED25519_LINE = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
                " tls@test")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


class CertificateAuthority:
    """A CA that signs server certificates for 127.0.0.1 and localhost."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder()
                     .subject_name(_name("keypaird test CA")).issuer_name(_name("keypaird test CA"))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.bundle = directory / "ca.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str) -> tuple[Path, Path, int]:
        """A server certificate and its key as PEM files; returns (cert, key, serial)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        serial = x509.random_serial_number()
        cert = (x509.CertificateBuilder()
                .subject_name(_name(stem)).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(serial)
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost")]), critical=False)
                .sign(self.key, hashes.SHA256()))
        cert_path, key_path = self.directory / f"{stem}.crt", self.directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
        return cert_path, key_path, serial


@pytest.fixture
def ca(tmp_path):
    return CertificateAuthority(tmp_path)


@pytest.fixture
def tls_srv(account, store, tmp_path, ca):
    """A server on TLS whose live certificate and key are the files `server.crt`/`server.key`."""
    cert, key, serial = ca.issue("first")
    live_cert, live_key = tmp_path / "server.crt", tmp_path / "server.key"
    live_cert.write_bytes(cert.read_bytes())
    live_key.write_bytes(key.read_bytes())
    srv = start_server(store_url=sqlite_url(store), store_path=store, workdir=tmp_path / "run",
                       creds=TESTER, ca_bundle=str(ca.bundle),
                       extra=["--tls-cert", live_cert, "--tls-key", live_key])
    srv.first_serial = serial
    yield srv
    srv.stop()


def peer_serial(srv, ca_bundle) -> int:
    """The serial number of the certificate a new connection is served."""
    context = ssl.create_default_context(cafile=str(ca_bundle))
    with socket.create_connection((srv.host, srv.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def test_boto3_with_verification_creates_lists_and_deletes(tls_srv):
    assert tls_srv.url.startswith("https://127.0.0.1:")
    assert any(line.startswith(f"keypaird listening on https://127.0.0.1:{tls_srv.port}")
               for line in tls_srv.lines)
    ec2 = tls_srv.ec2()
    made = ec2.create_key_pair(KeyName="over-tls", KeyType="ed25519")
    assert made["KeyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["over-tls"]
    ec2.delete_key_pair(KeyName="over-tls")
    assert ec2.describe_key_pairs()["KeyPairs"] == []


def test_a_client_without_the_ca_is_refused(tls_srv):
    import botocore.exceptions
    import requests
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_srv.url + "/healthz", timeout=5)
    with pytest.raises(botocore.exceptions.SSLError):
        from support import ec2_client
        ec2_client(tls_srv.url, *TESTER[1:]).describe_key_pairs()


def test_aws_cli_with_ca_bundle(tls_srv, ca):
    aws = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "aws"
    command = [str(aws) if aws.exists() else "aws", "--endpoint-url", tls_srv.url,
               "--ca-bundle", str(ca.bundle), "--region", "us-east-1", "--output", "json",
               "ec2", "import-key-pair", "--key-name", "cli-tls",
               "--public-key-material", ED25519_LINE]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": TESTER[1], "AWS_SECRET_ACCESS_KEY": TESTER[2],
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stdout)
    assert imported["KeyName"] == "cli-tls"
    # EC2's ed25519 rule: ssh-keygen's SHA256 fingerprint, base64 with its padding kept.
    keygen = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", "/dev/stdin"],
                            input=ED25519_LINE, capture_output=True, text=True, check=True)
    assert imported["KeyFingerprint"] == keygen.stdout.split()[1].removeprefix("SHA256:") + "="


def test_alibaba_core_sdk_with_verify(tls_srv, ca):
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkecs.request.v20140526.DescribeKeyPairsRequest import DescribeKeyPairsRequest
    from aliyunsdkecs.request.v20140526.ImportKeyPairRequest import ImportKeyPairRequest
    client = AcsClient(TESTER[1], TESTER[2], "cn-hangzhou", port=tls_srv.port, auto_retry=False,
                       max_retry_time=0, timeout=60, connect_timeout=5, verify=str(ca.bundle))

    def call(request):
        request.set_endpoint(tls_srv.host)
        request.set_protocol_type("https")
        request.set_accept_format("JSON")
        return json.loads(client.do_action_with_exception(request))

    imported = ImportKeyPairRequest()
    imported.set_KeyPairName("core-tls")
    imported.set_PublicKeyBody(ED25519_LINE)
    assert call(imported)["KeyPairName"] == "core-tls"
    listed = call(DescribeKeyPairsRequest())
    assert [k["KeyPairName"] for k in listed["KeyPairs"]["KeyPair"]] == ["core-tls"]


def test_alibaba_tea_sdk_with_ca(tls_srv, ca):
    from alibabacloud_ecs20140526 import models
    from alibabacloud_ecs20140526.client import Client
    from alibabacloud_tea_openapi.models import Config
    from darabonba.runtime import RuntimeOptions
    def client():
        return Client(Config(access_key_id=TESTER[1], access_key_secret=TESTER[2],
                             endpoint=f"{tls_srv.host}:{tls_srv.port}", protocol="https",
                             region_id="cn-hangzhou", read_timeout=60000, connect_timeout=5000))
    # Without the CA a new client fails verification.
    with pytest.raises(Exception) as refused:
        client().describe_key_pairs_with_options(
            models.DescribeKeyPairsRequest(region_id="cn-hangzhou"),
            RuntimeOptions(autoretry=False, max_attempts=0))
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    runtime = RuntimeOptions(autoretry=False, max_attempts=0, ca=str(ca.bundle))
    made = client().create_key_pair_with_options(
        models.CreateKeyPairRequest(region_id="cn-hangzhou", key_pair_name="tea-tls"), runtime)
    assert made.body.key_pair_name == "tea-tls"
    assert made.body.private_key_body.startswith("-----BEGIN PRIVATE KEY-----\n")


@pytest.mark.parametrize("offered, chosen", [
    (["h2", "http/1.1"], "h2"),
    (["http/1.1"], "http/1.1"),
])
def test_alpn_offers_http2_and_http1(tls_srv, ca, offered, chosen):
    context = ssl.create_default_context(cafile=str(ca.bundle))
    context.set_alpn_protocols(offered)
    with socket.create_connection((tls_srv.host, tls_srv.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.selected_alpn_protocol() == chosen


def test_http2_over_tls_serves_requests(tls_srv, ca):
    done = subprocess.run(["curl", "-sS", "--http2", "--cacert", str(ca.bundle), "-o", "/dev/null",
                           "-w", "%{http_version} %{http_code}", tls_srv.url + "/healthz"],
                          capture_output=True, text=True, timeout=30)
    assert done.stdout == "2 200", done.stderr


def test_plain_http_on_the_tls_port_gets_a_closed_connection(tls_srv):
    with socket.create_connection((tls_srv.host, tls_srv.port), timeout=5) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while chunk := raw.recv(4096):
            received += chunk
    # Closed without an HTTP reply (rustls may first send a TLS alert record, 0x15).
    assert not received.startswith(b"HTTP/"), received
    assert received == b"" or received[0] == 0x15, received
    # And the server is still serving TLS clients.
    assert tls_srv.ec2().describe_key_pairs()["KeyPairs"] == []


def _keep_alive(srv, ca) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(ca.bundle))
    connection = http.client.HTTPSConnection(srv.host, srv.port, context=context, timeout=10)
    connection.request("GET", "/healthz")
    reply = connection.getresponse()
    assert (reply.status, reply.read()) == (200, b"ok\n")
    return connection


def _healthz_again(connection: http.client.HTTPSConnection, socket_before) -> None:
    connection.request("GET", "/healthz")
    reply = connection.getresponse()
    assert (reply.status, reply.read()) == (200, b"ok\n")
    assert connection.sock is socket_before, "the keep-alive connection was replaced"


def _wait_for_log(srv, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in srv.stderr():
            return
        time.sleep(0.05)
    pytest.fail(f"no log line with {text!r}:\n{srv.stderr()}")


def test_sighup_swaps_the_certificate_and_keeps_connections(tls_srv, ca, tmp_path):
    assert peer_serial(tls_srv, ca.bundle) == tls_srv.first_serial
    connection = _keep_alive(tls_srv, ca)
    socket_before = connection.sock

    cert, key, second = ca.issue("second")
    (tmp_path / "server.crt").write_bytes(cert.read_bytes())
    (tmp_path / "server.key").write_bytes(key.read_bytes())
    tls_srv.proc.send_signal(signal.SIGHUP)
    _wait_for_log(tls_srv, "TLS certificate and key reloaded")
    assert peer_serial(tls_srv, ca.bundle) == second
    _healthz_again(connection, socket_before)
    connection.close()


def test_a_bad_pair_on_sighup_is_refused_and_the_old_one_stays(tls_srv, ca, tmp_path):
    connection = _keep_alive(tls_srv, ca)
    socket_before = connection.sock
    # A new certificate with the old key: they do not match.
    cert, _, _ = ca.issue("mismatched")
    (tmp_path / "server.crt").write_bytes(cert.read_bytes())
    tls_srv.proc.send_signal(signal.SIGHUP)
    _wait_for_log(tls_srv, "TLS reload refused; the certificate in use stays")
    assert "does not match the certificate" in tls_srv.stderr()
    assert peer_serial(tls_srv, ca.bundle) == tls_srv.first_serial
    _healthz_again(connection, socket_before)
    # Garbage is refused the same way.
    (tmp_path / "server.crt").write_text("not a certificate\n")
    tls_srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while tls_srv.stderr().count("TLS reload refused") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tls_srv.stderr().count("TLS reload refused") == 2
    assert peer_serial(tls_srv, ca.bundle) == tls_srv.first_serial
    assert tls_srv.proc.poll() is None
    connection.close()


@pytest.mark.parametrize("files, message", [
    ("missing", "cannot read the certificate file"),
    ("mismatched", "does not match the certificate"),
    ("cert only", "the following required arguments were not provided"),
])
def test_bad_tls_files_stop_the_start(account, store, tmp_path, ca, files, message):
    cert, key, _ = ca.issue("start")
    _, other_key, _ = ca.issue("other")
    args = {"missing": ["--tls-cert", tmp_path / "nope.crt", "--tls-key", key],
            "mismatched": ["--tls-cert", cert, "--tls-key", other_key],
            "cert only": ["--tls-cert", cert]}[files]
    done = subprocess.run([str(binary()), "serve", "--listen", "127.0.0.1:0", "--store",
                           sqlite_url(store), *map(str, args)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


def test_the_config_file_takes_the_pair_and_refuses_half_of_it(account, store, tmp_path, ca):
    cert, key, serial = ca.issue("from-file")
    config = tmp_path / "keypaird.toml"
    config.write_text(f'tls_cert = "{cert}"\ntls_key = "{key}"\n')
    srv = start_server(store_url=sqlite_url(store), store_path=store, workdir=tmp_path / "run",
                       creds=TESTER, ca_bundle=str(ca.bundle), extra=["--config", config])
    try:
        assert peer_serial(srv, ca.bundle) == serial
    finally:
        srv.stop()
    config.write_text(f'tls_cert = "{cert}"\n')
    done = subprocess.run([str(binary()), "serve", "--listen", "127.0.0.1:0", "--store",
                           sqlite_url(store), "--config", str(config)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "tls_cert and tls_key go together: give both or neither" in done.stderr, done.stderr
