"""Never recorded: key material and secrets (docs/audit.md, 'Never recorded'). Key pairs are created
in both dialects (RSA and ed25519, PEM and PPK) and access keys with the command line; then the raw
bytes of the SQLite files, every `keypaird audit --json` line and every LookupEvents page of both
APIs are searched for each private key line and each secret the server handed out."""

from __future__ import annotations

import base64
import json
import re

from aliyun_support import create as ecs_create
from audit_support import SENSITIVE, TrailCore, TrailTea, audit, cloudtrail, ct_all, trail_event
from support import TESTER, create_account, sqlite_url


def public_bytes(pem: str) -> list:
    """The encodings of a PEM private key's public half (SSH wire blob, SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization as ser
    data = pem.encode()
    if b"OPENSSH PRIVATE KEY" in data:
        key = ser.load_ssh_private_key(data, None)
    else:
        key = ser.load_pem_private_key(data, None)
    pub = key.public_key()
    blob = base64.b64decode(pub.public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).split()[1])
    spki = pub.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
    return [blob, spki]


def private_lines(material: str) -> list:
    """The lines of a private key that only its holder knows: a PEM's base64 body lines, except
    those that only encode the public key (a PKCS#8 RSA key's modulus lines line up with the
    ssh-rsa blob the store rightly keeps), and a PPK's Private-Lines. Short trailing lines are
    left out: they could match by chance."""
    lines = material.strip().splitlines()
    if lines[0].startswith("PuTTY-User-Key-File"):
        i = next(n for n, l in enumerate(lines) if l.startswith("Private-Lines:"))
        count = int(lines[i].split(":")[1])
        out = lines[i + 1:i + 1 + count]
    else:
        public = public_bytes(material)
        out = [l for l in lines if not l.startswith("-----")
               and not (len(l) % 4 == 0 and any(base64.b64decode(l) in p for p in public))]
    return [l.strip() for l in out if len(l.strip()) >= 16]


def test_no_private_key_and_no_secret_is_recorded(account, keypaird, store, tmp_path):
    url = sqlite_url(store)
    secrets = [TESTER[2]]
    srv = keypaird(extra=["--audit-reads"])
    c = srv.ec2()
    materials = []
    for kt in ("rsa", "ed25519"):
        for kf in ("pem", "ppk"):
            r = c.create_key_pair(KeyName=f"s-{kt}-{kf}", KeyType=kt, KeyFormat=kf)
            materials.append(r["KeyMaterial"])
    materials.append(ecs_create(srv, "s-ecs")["PrivateKeyBody"])
    # Failed creates and reads of the same names, recorded too.
    srv.call("CreateKeyPair", {"KeyName": "s-rsa-pem"}).error("InvalidKeyPair.Duplicate")
    c.describe_key_pairs(IncludePublicKey=True)
    # Access keys and an account with generated secrets.
    from test_access_keys import key_cli, new_key
    k = new_key(url)
    secrets.append(k[2])
    key_cli(url, "disable", k[1])
    key_cli(url, "enable", k[1])
    out = create_account(url, "gen").stdout
    secrets.append(re.search(r"AWS_SECRET_ACCESS_KEY=(\S+)", out).group(1))
    key_cli(url, "delete", k[1])

    needles = [l for m in materials for l in private_lines(m)] + secrets
    assert len(needles) > 40, needles

    # Everything the API shows.
    pages = []
    events, _ = ct_all(cloudtrail(srv), MaxResults=3)
    pages.append(json.dumps(events, default=str))
    assert len(events) == 6, [e["EventName"] for e in events]  # 4 creates, the duplicate, the read
    for ev in events:
        rec = trail_event(ev)
        if rec["eventName"] == "CreateKeyPair" and "errorCode" not in rec:
            assert rec["responseElements"]["keyMaterial"] == SENSITIVE
    for cls in (TrailCore, TrailTea):
        evs, _ = cls(srv).all()
        pages.append(json.dumps(evs))
        [ecs] = [e for e in evs if e["eventName"] == "CreateKeyPair"]
        re_ = ecs["responseElements"]
        re_ = json.loads(re_) if isinstance(re_, str) else re_
        assert re_["PrivateKeyBody"] == SENSITIVE
    lines = audit(url, limit=100000)
    assert len(lines) >= 12
    pages.append("\n".join(json.dumps(l) for l in lines))

    # The raw files of the store (the database and its WAL, if any), while serving and after.
    def files() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(store.parent.glob(store.name + "*")))

    raw = files()
    srv.stop()
    raw += files()
    assert raw
    for n in needles:
        assert n.encode() not in raw, f"the store's files hold {n[:24]}..."
        for p in pages:
            assert n not in p, f"an audit page shows {n[:24]}..."
            # JSON escapes '/' nowhere by default, but an escaped form must not hide one either.
            assert n.replace("/", "\\/") not in p
