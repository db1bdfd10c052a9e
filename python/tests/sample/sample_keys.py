"""Fixed public keys and the fingerprints each cloud gives them, worked out with ssh-keygen and
openssl (ssh-keygen -l -E sha256|md5; ssh-keygen -e -m PKCS8 | openssl pkey -pubin -outform DER |
openssl md5 -c), and what the sample tests use to check a created key against its fingerprint."""

import base64
import hashlib
import struct

ED25519_LINE = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZObfbUoYLvkP+6hiG3U24AYNxrWWuHFeCOUi3lotP9"
    " sample@keypaird"
)
RSA_LINE = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0eQYqkgAYB+vnq53RPBowpaHiC8drOgsLMlAzliG20hnoQo2p4cDo050o"
    "2zberVwEgwNWtQIaD+ZnzK/Oslh4gnzO7HM6cY6DwTnDWz+T3CNvT/Be1cx2gbJ8a5JGBT8mNaVHHq9i2aQsJAx0s2CHOP+5"
    "dQN01c82u42Y3s+wwg1mUuJRbGWIb+dt8gktrqoI8OmnAavmg1YpiqGUxPB3s2O6tqemkn8t3sVZpKPV0yvWzrpxN3KbkUqq"
    "HTGKXLK4djFx08fBhAH2UqFABTLe8ubjPMx6JbIk/ERkZT32QmDlNyCv9o4c/t7L2GTJ+b8XkdWjc+MDV++1foqojofN"
    " sample-rsa"
)

# EC2: SHA-256 of the SSH blob, base64 with padding, for ed25519; MD5 of the DER public key for an
# imported RSA key.
ED25519_EC2_FINGERPRINT = "40OD9TpAKlaAO3PXko4HtoAiE/6d5aytySB/+bY707Q="
RSA_EC2_FINGERPRINT = "06:6d:61:f7:1d:43:39:e8:1e:a4:a5:1d:8c:2b:50:b5"
# ECS: MD5 of the SSH blob for every key type.
ED25519_ECS_FINGERPRINT = "d5:54:d6:9e:f2:d3:d1:7e:b7:cc:59:aa:7e:12:bc:66"
RSA_ECS_FINGERPRINT = "69:72:f6:f7:2e:ef:8a:4a:98:47:29:4a:2d:c8:a0:45"


def openssh_private_key_public_blob(pem: str) -> bytes:
    """The public key blob stored in clear in an unencrypted OpenSSH private key file."""
    body = "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))
    data = base64.b64decode(body)
    magic = b"openssh-key-v1\0"
    assert data.startswith(magic), "not an OpenSSH private key"
    offset = len(magic)
    fields = []
    for _ in range(3):  # cipher name, KDF name, KDF options
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        fields.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    assert fields[:2] == [b"none", b"none"], "an unencrypted key"
    (count,) = struct.unpack(">I", data[offset : offset + 4])
    assert count == 1
    offset += 4
    (length,) = struct.unpack(">I", data[offset : offset + 4])
    return data[offset + 4 : offset + 4 + length]


def ec2_ed25519_fingerprint(blob: bytes) -> str:
    return base64.b64encode(hashlib.sha256(blob).digest()).decode()


def md5_colon_hex(data: bytes) -> str:
    digest = hashlib.md5(data).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
