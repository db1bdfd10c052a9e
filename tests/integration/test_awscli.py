"""The aws CLI (v1, from the pinned virtualenv) against keypaird, configured only through the
environment, with the host's AWS config files replaced by empty ones."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import (MD5_FP_RE, clean_env, openssl_md5_spki, openssl_sha1_pkcs8, puttygen_public,
                     ssh_pub_from_private, ssh_sha256_aws, type_b64, write_private)


def aws_bin() -> str:
    p = Path(sys.executable).parent / "aws"
    if not p.exists():
        pytest.fail(f"the aws CLI is not in the test virtualenv ({p}): run scripts/test", pytrace=False)
    return str(p)


@pytest.fixture
def aws(srv, tmp_path):
    cfg = tmp_path / "aws-config"
    cred = tmp_path / "aws-credentials"
    cfg.write_text("")
    cred.write_text("")
    env = clean_env({
        "AWS_ACCESS_KEY_ID": srv.creds[1],
        "AWS_SECRET_ACCESS_KEY": srv.creds[2],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(cfg),
        "AWS_SHARED_CREDENTIALS_FILE": str(cred),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "AWS_PAGER": "",
    })

    def run(*args, endpoint=True, env_extra=None, check=True):
        cmd = [aws_bin()]
        if endpoint:
            cmd += ["--endpoint-url", srv.url]
        cmd += list(args)
        e = dict(env, **(env_extra or {}))
        cp = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=120,
                            stdin=subprocess.DEVNULL)
        if check:
            assert cp.returncode == 0, f"{' '.join(cmd)} exited {cp.returncode}:\n{cp.stdout}\n{cp.stderr}"
        return cp

    return run


def test_cli_create_rsa(aws, srv, tmp_path):
    cp = aws("ec2", "create-key-pair", "--key-name", "x", "--query", "KeyMaterial", "--output", "text")
    pem = write_private(tmp_path / "x.pem", cp.stdout)
    assert cp.stdout.startswith("-----BEGIN RSA PRIVATE KEY-----")
    pub = ssh_pub_from_private(pem)
    [k] = srv.describe(KeyNames=["x"], IncludePublicKey=True)
    assert type_b64(k["PublicKey"]) == pub
    assert k["KeyFingerprint"] == openssl_sha1_pkcs8(pem)


def test_cli_create_ed25519_ppk(aws, srv, tmp_path):
    cp = aws("ec2", "create-key-pair", "--key-name", "p", "--key-type", "ed25519", "--key-format", "ppk",
             "--output", "json")
    r = json.loads(cp.stdout)
    assert r["KeyMaterial"].startswith("PuTTY-User-Key-File-2: ssh-ed25519")
    ppk = write_private(tmp_path / "p.ppk", r["KeyMaterial"])
    pub = puttygen_public(ppk)
    pubfile = tmp_path / "p.pub"
    pubfile.write_text(" ".join(pub) + "\n")
    assert r["KeyFingerprint"] == ssh_sha256_aws(pubfile)
    [k] = srv.describe(KeyNames=["p"], IncludePublicKey=True)
    assert type_b64(k["PublicKey"]) == pub


def test_cli_import_describe_delete(aws, srv, keys):
    pubfile = Path(str(keys["rsa2048"]) + ".pub")
    cp = aws("ec2", "import-key-pair", "--key-name", "imp", "--public-key-material", f"fileb://{pubfile}",
             "--tag-specifications", "ResourceType=key-pair,Tags=[{Key=Env,Value=prod}]", "--output", "json")
    r = json.loads(cp.stdout)
    fp = openssl_md5_spki(pubfile)
    assert MD5_FP_RE.match(fp) and r["KeyFingerprint"] == fp
    cp = aws("ec2", "describe-key-pairs", "--key-names", "imp", "--include-public-key", "--output", "json")
    [k] = json.loads(cp.stdout)["KeyPairs"]
    assert k["KeyFingerprint"] == fp and k["KeyType"] == "rsa"
    assert k["PublicKey"] == pubfile.read_text(), "the key file byte for byte, trailing newline included"
    assert k["Tags"] == [{"Key": "Env", "Value": "prod"}]
    cp = aws("ec2", "describe-key-pairs", "--filters", "Name=tag:Env,Values=prod", "--query",
             "KeyPairs[].KeyName", "--output", "text")
    assert cp.stdout.split() == ["imp"]
    cp = aws("ec2", "delete-key-pair", "--key-name", "imp", "--output", "json")
    assert json.loads(cp.stdout)["Return"] is True
    cp = aws("ec2", "describe-key-pairs", "--key-names", "imp", check=False)
    assert cp.returncode != 0
    assert "InvalidKeyPair.NotFound" in cp.stderr and "The key pair 'imp' does not exist" in cp.stderr


def test_cli_import_ed25519(aws, srv, keys):
    pubfile = Path(str(keys["ed25519"]) + ".pub")
    cp = aws("ec2", "import-key-pair", "--key-name", "e", "--public-key-material", f"fileb://{pubfile}",
             "--query", "KeyFingerprint", "--output", "text")
    assert cp.stdout.strip() == ssh_sha256_aws(pubfile)


def test_cli_tags(aws, srv):
    kid = aws("ec2", "create-key-pair", "--key-name", "t", "--key-type", "ed25519", "--query", "KeyPairId",
              "--output", "text").stdout.strip()
    aws("ec2", "create-tags", "--resources", kid, "--tags", "Key=a,Value=1", "Key=b,Value=2")
    cp = aws("ec2", "describe-tags", "--filters", f"Name=resource-id,Values={kid}", "--output", "json")
    tags = sorted((t["Key"], t["Value"], t["ResourceType"]) for t in json.loads(cp.stdout)["Tags"])
    assert tags == [("a", "1", "key-pair"), ("b", "2", "key-pair")]
    aws("ec2", "delete-tags", "--resources", kid, "--tags", "Key=a")
    cp = aws("ec2", "describe-key-pairs", "--key-pair-ids", kid, "--query", "KeyPairs[0].Tags", "--output", "json")
    assert json.loads(cp.stdout) == [{"Key": "b", "Value": "2"}]


def test_cli_dry_run(aws, srv):
    cp = aws("ec2", "create-key-pair", "--key-name", "d", "--dry-run", check=False)
    assert cp.returncode != 0
    assert "DryRunOperation" in cp.stderr and "Request would have succeeded, but DryRun flag is set." in cp.stderr
    assert srv.describe() == []


def test_cli_duplicate(aws, srv):
    aws("ec2", "create-key-pair", "--key-name", "dup", "--key-type", "ed25519")
    cp = aws("ec2", "create-key-pair", "--key-name", "dup", check=False)
    assert cp.returncode != 0
    assert "InvalidKeyPair.Duplicate" in cp.stderr and "The keypair 'dup' already exists." in cp.stderr


def test_cli_endpoint_from_env(aws, srv):
    aws("ec2", "create-key-pair", "--key-name", "envurl", "--key-type", "ed25519", endpoint=False,
        env_extra={"AWS_ENDPOINT_URL": srv.url})
    cp = aws("ec2", "describe-key-pairs", "--query", "KeyPairs[].KeyName", "--output", "text",
             endpoint=False, env_extra={"AWS_ENDPOINT_URL_EC2": srv.url})
    assert cp.stdout.split() == ["envurl"]


def test_cli_region_flag(aws, srv):
    aws("ec2", "create-key-pair", "--key-name", "r", "--key-type", "ed25519", "--region", "eu-central-1")
    assert [k["KeyName"] for k in srv.describe("eu-central-1")] == ["r"]
    assert srv.describe() == []


def test_cli_wrong_secret(aws, srv):
    cp = aws("ec2", "describe-key-pairs", check=False, env_extra={"AWS_SECRET_ACCESS_KEY": "nope"})
    assert cp.returncode != 0 and "SignatureDoesNotMatch" in cp.stderr


def test_boto3_endpoint_from_env(srv, monkeypatch):
    import boto3
    from botocore.config import Config
    monkeypatch.setenv("AWS_ENDPOINT_URL", srv.url)
    c = boto3.session.Session(aws_access_key_id=srv.creds[1], aws_secret_access_key=srv.creds[2],
                              region_name="us-east-1").client(
        "ec2", config=Config(retries={"total_max_attempts": 1}))
    c.create_key_pair(KeyName="b3", KeyType="ed25519")
    assert [k["KeyName"] for k in c.describe_key_pairs()["KeyPairs"]] == ["b3"]
