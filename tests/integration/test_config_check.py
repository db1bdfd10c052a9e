"""`keypaird config check`: the configuration `serve` would run with, after flags, environment and
the config file, printed as a config file with every secret as <redacted>; invalid settings exit
1 with the reason. The store URL can come from a file (--store-file, KEYPAIRD_STORE_FILE,
store_file), so a password stays out of the command line and the environment."""

import datetime
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support import binary, clean_env


def check(*args, env=None, cwd=None):
    return subprocess.run([str(binary()), "config", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=30, cwd=cwd,
                          env=clean_env(env))


DEFAULTS_AFTER_STORE = """any_credentials = false
allow_reset = false
ppk_version = 2
rsa_pool_size = 32
last_used_flush_interval = "15s"
audit_reads = false
console = true
audit_retention = "90d"
# tls_cert, tls_key: not set, plain HTTP
max_body_bytes = 262144
header_read_timeout = "10s"
keep_alive_idle = "1m"
body_read_timeout = "10s"
min_body_rate = 16384
request_timeout = "1m"
send_timeout = "10s"
max_connections = 10000
max_in_flight = 256
"""
HEADER = ("# The configuration `keypaird serve` would run with: flags, then environment, then\n"
          "# the config file, then defaults.\n")


def test_defaults(tmp_path):
    done = check(cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == HEADER + (
        'listen = "127.0.0.1:8787"\n'
        '# metrics_listen: not set, /metrics on the API port\n'
        'log_format = "text"\n'
        'store = "sqlite://./keypaird-data/keypaird.db"\n'
        'master_key_file = "./keypaird-data/keypaird.db.master-key"\n') + DEFAULTS_AFTER_STORE
    assert not (tmp_path / "keypaird-data").exists(), "config check must not open the store"


def test_flags_win_over_environment_over_file_and_the_password_is_redacted(tmp_path):
    config = tmp_path / "keypaird.toml"
    config.write_text('listen = "0.0.0.0:9000"\nppk_version = 3\nrsa_pool_size = 4\n'
                      'metrics_listen = "127.0.0.1:9101"\n'
                      'keep_alive_idle = "90s"\nstore = "sqlite:///from/file.db"\n'
                      'audit_retention = "12h"\n')
    store_file = tmp_path / "store-url"
    store_file.write_text("postgres://kp:s3cret-pw@db.internal:5432/keys?schema=a&password=also\n")
    done = check("--config", config, "--rsa-pool-size", "8", "--master-key-file", "/etc/kp.key",
                 "--log-format", "json",
                 env={"KEYPAIRD_LISTEN": "127.0.0.1:9100", "KEYPAIRD_STORE_FILE": str(store_file),
                      "KEYPAIRD_AUDIT_READS": "true"})
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == HEADER + (
        'listen = "127.0.0.1:9100"\n'
        'metrics_listen = "127.0.0.1:9101"\n'
        'log_format = "json"\n'
        'store = "postgres://kp:<redacted>@db.internal:5432/keys?schema=a&password=<redacted>"\n'
        'master_key_file = "/etc/kp.key"\n'
        'any_credentials = false\n'
        'allow_reset = false\n'
        'ppk_version = 3\n'
        'rsa_pool_size = 8\n'
        'last_used_flush_interval = "15s"\n'
        'audit_reads = true\n'
        'console = true\n'
        'audit_retention = "12h"\n'
        '# tls_cert, tls_key: not set, plain HTTP\n'
        'max_body_bytes = 262144\n'
        'header_read_timeout = "10s"\n'
        'keep_alive_idle = "1m 30s"\n') + DEFAULTS_AFTER_STORE.split('keep_alive_idle = "1m"\n')[1]
    assert "s3cret" not in done.stdout and "also" not in done.stdout


def test_the_output_is_a_config_file_that_gives_the_same_output(tmp_path):
    first = check("--listen", "127.0.0.1:0", "--store", "sqlite:///var/lib/kp.db",
                  "--any-credentials", "--ppk-version", "3")
    assert first.returncode == 0, first.stderr
    saved = tmp_path / "saved.toml"
    saved.write_text(first.stdout)
    again = check("--config", saved)
    assert (again.returncode, again.stdout) == (0, first.stdout)


def test_the_store_file_can_come_from_the_config_file(tmp_path):
    store_file = tmp_path / "store-url"
    store_file.write_text("  sqlite:///data/kp.db  \n")
    config = tmp_path / "keypaird.toml"
    config.write_text(f'store_file = "{store_file}"\n')
    done = check("--config", config)
    assert done.returncode == 0, done.stderr
    assert 'store = "sqlite:///data/kp.db"\nmaster_key_file = "/data/kp.db.master-key"\n' in done.stdout


def _tls_pair(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_files_are_loaded_and_shown(tmp_path):
    cert, key = _tls_pair(tmp_path)
    done = check("--tls-cert", cert, "--tls-key", key, "--store", "sqlite:///x.db")
    assert done.returncode == 0, done.stderr
    assert f'tls_cert = "{cert}"\ntls_key = "{key}"\n' in done.stdout
    assert "not set, plain HTTP" not in done.stdout


@pytest.mark.parametrize("case, message", [
    ("bad listen", "keypaird: error: the listen address 'nonsense' is not valid: use HOST:PORT, "
                   "for example 127.0.0.1:8787"),
    ("bad metrics listen", "keypaird: error: the metrics_listen address 'localhost' is not "
                           "valid: use HOST:PORT"),
    ("postgres without key", "keypaird: error: a PostgreSQL store needs a master key file"),
    ("unknown store", "keypaird: error: unsupported store URL 'mysql://u:<redacted>@h/db'"),
    ("missing tls file", "keypaird: error: cannot read the certificate file"),
    ("not pem", "keypaird: error: no PEM private key in"),
    ("unknown key", "keypaird: error: the config file"),
    ("bad duration", "is not a duration"),
    ("store and store_file", "keypaird: error: the config file has both store and store_file: "
                             "keep one"),
    ("empty store file", "keypaird: error: the store file"),
    ("missing store file", "keypaird: error: cannot read the store file"),
])
def test_invalid_configurations_exit_1_with_the_reason(tmp_path, case, message):
    cert, key = _tls_pair(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not pem at all\n")
    config = tmp_path / "keypaird.toml"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    args = {
        "bad listen": ["--listen", "nonsense"],
        "bad metrics listen": ["--metrics-listen", "localhost"],
        "postgres without key": ["--store", "postgres://u:pw@h/db"],
        "unknown store": ["--store", "mysql://u:pw@h/db"],
        "missing tls file": ["--tls-cert", tmp_path / "nope.crt", "--tls-key", key],
        "not pem": ["--tls-cert", cert, "--tls-key", garbage],
        "unknown key": ["--config", config],
        "bad duration": ["--config", config],
        "store and store_file": ["--config", config],
        "empty store file": ["--store-file", empty],
        "missing store file": ["--store-file", tmp_path / "nope"],
    }[case]
    config.write_text({"unknown key": 'listne = "x"\n',
                       "bad duration": 'send_timeout = "soon"\n',
                       "store and store_file": f'store = "sqlite:///a.db"\nstore_file = "{empty}"\n',
                       }.get(case, ""))
    done = check(*args)
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert message in done.stderr, done.stderr
    assert "pw" not in done.stderr.replace("pwd", "")


def test_store_and_store_file_flags_conflict(tmp_path):
    store_file = tmp_path / "s"
    store_file.write_text("sqlite:///a.db\n")
    done = check("--store", "sqlite:///b.db", "--store-file", store_file)
    assert done.returncode == 2
    assert "cannot be used with" in done.stderr


def test_serve_reads_the_store_url_from_its_file(tmp_path):
    store_file = tmp_path / "store-url"
    db = tmp_path / "kp.db"
    store_file.write_text(f"sqlite://{db}\n")
    done = subprocess.run([str(binary()), "accounts", "create", "from-file"],
                          capture_output=True, text=True, timeout=30,
                          env=clean_env({"KEYPAIRD_STORE_FILE": str(store_file)}))
    assert done.returncode == 0, done.stderr
    assert db.exists()
    listed = subprocess.run([str(binary()), "accounts", "list", "--store-file", str(store_file)],
                            capture_output=True, text=True, timeout=30, env=clean_env())
    assert listed.returncode == 0, listed.stderr
    assert "from-file" in listed.stdout
