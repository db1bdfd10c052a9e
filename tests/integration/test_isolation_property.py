"""A property test of tenant isolation (issue 11, point 7).

Hypothesis drives random sequences of valid and invalid calls from two accounts, A and B, in both
dialects (boto3 for EC2; aliyun-python-sdk-core (RPC v1) and the Tea SDK (V3) for ECS), in two
regions, against the real binary on SQLite and on PostgreSQL (two nodes, requests alternating
between them). A model says what each account holds in each (cloud, region) scope. After every
step:

- the reply is exactly what the model says: the key pairs, tags and fingerprints of a success, or
  the code, HTTP status and message of an error (duplicates, unknown names and IDs, the other
  account's real names and IDs, malformed keys, a wrong secret, the other account's access key
  ID signed with this account's secret, an unknown access key ID, over-quota creates);
- every scope's full listing, for both accounts, equals the model (names, IDs, fingerprints,
  public keys, tags, resource groups);
- no ID, fingerprint or name that only the other account ever held appears in a reply, unless the
  request itself carried it (an error message may echo the caller's input);
- and at the end of each example, for every scope of both accounts, creates up to the quota
  succeed and one more fails with the exact quota error: headroom is quota minus the account's
  own count, whatever the other account did.

Each example starts with two fresh accounts, each with a quota of its own (A 5, B 3 per scope,
so both hit it within the name pool) and two key pairs in every scope (so each has real names,
IDs and fingerprints for the other to ask for). Examples are derandomized and bounded (see
SETTINGS); a failure prints the steps and draws that led to it, and the test prints how many
replies of each kind it checked.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import itertools
import json
import re
import secrets
from dataclasses import dataclass, field

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)

import support
from aliyun_support import (VERSION, check_code_status_message, check_json_error_body, host_of,
                            small_rsa_line)
from pg_support import backend, nodes, pg_schema  # noqa: F401 - fixtures
from support import KEY_PAIR_ID_RE, MSG_AUTH_FAILURE, MSG_SIGNATURE

# Bounded for CI: each backend's run takes about a minute on a debug build on a quiet machine
# (PostgreSQL's writes cost more, so it runs fewer examples). No shrinking: every run of a
# sequence costs real requests, and the printed steps of the failing example are enough to read
# it (derandomize makes every run the same, so a failure also recurs).
BASE_SETTINGS = settings(max_examples=10, stateful_step_count=50, deadline=None,
                         derandomize=True, database=None,
                         phases=(Phase.explicit, Phase.reuse, Phase.generate),
                         suppress_health_check=list(HealthCheck), print_blob=True)
SETTINGS = {"sqlite": BASE_SETTINGS, "postgres": settings(BASE_SETTINGS, max_examples=5)}

ACCOUNTS = ("A", "B")
QUOTA = {"A": 5, "B": 3}
CLOUDS = ("ec2", "ecs")
# The same region names in both clouds, so a mix-up of providers would show too.
REGIONS = ("us-east-1", "cn-hangzhou")
SCOPES = [(c, r) for c in CLOUDS for r in REGIONS]

# Names either account may create (so both often hold the same name), more than either quota.
SHARED_NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")
# Names only one account ever creates: the other uses them only to ask for what is not its own.
OWN_NAMES = {"A": ("aonly-kilo", "aonly-lima"), "B": ("bonly-mike", "bonly-oscar")}
ALL_NAMES = SHARED_NAMES + OWN_NAMES["A"] + OWN_NAMES["B"]
NAME_PATTERNS = ("a*", "*o", "*onl*", "?lpha", "*")  # EC2 key-name filter values
ECS_PATTERNS = ("a*", "*o", "*onl*", "*")  # ECS KeyPairName: only * is a wildcard
TAG_KEYS = ("env", "team", "owner")
TAG_VALUES = ("prod", "dev", "qa")
GROUPS = ("rg-one", "rg-two")
NEVER_ID = "key-00000000000000000"  # well-formed, never handed out


def other(acct: str) -> str:
    return "B" if acct == "A" else "A"


# --------------------------------------------------------------------------------------------
# Keys and the fingerprints each cloud gives them


def colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def ssh_blob(line: str) -> bytes:
    return base64.b64decode(line.split()[1])


def ec2_import_fingerprint(line: str) -> str:
    if line.startswith("ssh-ed25519 "):
        return base64.b64encode(hashlib.sha256(ssh_blob(line)).digest()).decode()
    spki = serialization.load_ssh_public_key(line.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return colon_hex(hashlib.md5(spki).digest())


def key_type_of(line: str) -> str:
    return "ed25519" if line.startswith("ssh-ed25519 ") else "rsa"


def ecs_fingerprint(line: str) -> str:
    return colon_hex(hashlib.md5(ssh_blob(line)).digest())


def openssh_line(public_key) -> str:
    return public_key.public_bytes(serialization.Encoding.OpenSSH,
                                   serialization.PublicFormat.OpenSSH).decode()


def ec2_created(material: str, key_type: str) -> tuple[str, str]:
    """(fingerprint, public line without comment) of a key EC2 CreateKeyPair handed out."""
    if key_type == "ed25519":
        key = serialization.load_ssh_private_key(material.encode(), None)
        line = openssh_line(key.public_key())
        return base64.b64encode(hashlib.sha256(ssh_blob(line)).digest()).decode(), line
    key = serialization.load_pem_private_key(material.encode(), None)
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return colon_hex(hashlib.sha1(pkcs8).digest()), openssh_line(key.public_key())


def ecs_created(pem: str) -> tuple[str, str]:
    line = openssh_line(serialization.load_pem_private_key(pem.encode(), None).public_key())
    return ecs_fingerprint(line), line


def fresh_ed25519_line(comment: str) -> str:
    return f"{openssh_line(ed25519.Ed25519PrivateKey.generate().public_key())} {comment}"


@pytest.fixture(scope="module")
def key_pool():
    """Public keys to import (each may be imported by both accounts, under several names) and
    keys both dialects refuse."""
    good = [fresh_ed25519_line(f"pool{i}@isolation") for i in range(4)]
    good += [f"{openssh_line(rsa.generate_private_key(65537, 2048).public_key())} rsa{i}@isolation"
             for i in range(2)]
    truncated = good[0].split()
    bad = ["this is not a key",
           f"ssh-ed25519 {truncated[1][:30]} truncated@isolation",
           small_rsa_line(512)]  # below both clouds' minimum
    return good, bad


# --------------------------------------------------------------------------------------------
# The model


@dataclass
class Key:
    id: str
    name: str
    fingerprint: str
    key_type: str
    public_key: str  # what DescribeKeyPairs IncludePublicKey returns
    tags: dict = field(default_factory=dict)  # insertion order is the server's order
    group: str = ""


@dataclass
class Outcome:
    """One reply, whichever client got it: 200 with a body, or a 4xx code and message."""
    status: int
    body: dict | None
    code: str | None
    message: str | None
    raw: str  # the reply as the client read it, for the leak scan

    def ok(self) -> dict:
        assert self.status == 200 and self.code is None, f"expected 200, got {self}"
        return self.body


def ec2_error(out: Outcome, code: str, message: str):
    assert (out.code, out.status, out.message) == (code, support.ERRORS[code], message), out


def ecs_error(out: Outcome, code: str, message: str | None = None):
    assert out.code is not None, f"expected {code}, got {out}"
    check_code_status_message(out.code, out.status, out.message, code, message)


def ec2_match(pattern: str, value: str) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S) is not None


def ecs_match(pattern: str, value: str) -> bool:
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), value, re.S) is not None


# Draws whose shape never depends on the server's replies: Hypothesis replays an example by its
# choices, so a choice among server-made IDs is an index into a list kept in creation order.
PICK_RANGE = 16


def pick(data, items: list, label: str):
    return items[data.draw(st.integers(0, PICK_RANGE - 1), label=label) % len(items)]


def picks(data, items: list, label: str, min_size: int = 1, max_size: int = 2) -> list:
    indices = data.draw(st.lists(st.integers(0, PICK_RANGE - 1), min_size=min_size,
                                 max_size=max_size), label=label)
    return list(dict.fromkeys(items[i % len(items)] for i in indices))


def tag_list(pairs) -> list:
    """(key, value or None) pairs as both SDKs take them: [{"Key": …, "Value": …}]."""
    return [{"Key": k, **({"Value": v} if v is not None else {})} for k, v in pairs]


def tag_specification(tags: dict) -> dict:
    """EC2's TagSpecifications for a new key pair, or nothing when there are no tags."""
    if not tags:
        return {}
    return {"TagSpecifications": [{"ResourceType": "key-pair", "Tags": tag_list(tags.items())}]}


def flatten(params: dict) -> dict:
    """Nested ECS parameters (as the Tea models take them) to RPC query parameters."""
    out = {}
    for k, v in params.items():
        if isinstance(v, list):
            for i, item in enumerate(v, 1):
                if isinstance(item, dict):
                    out.update({f"{k}.{i}.{sk}": sv for sk, sv in item.items()})
                else:
                    out[f"{k}.{i}"] = item
        elif isinstance(v, bool):
            out[k] = "true" if v else "false"
        else:
            out[k] = str(v)
    return out


# --------------------------------------------------------------------------------------------
# Clients: one per node, credentials and region, reused across examples


class Clients:
    def __init__(self, servers: list):
        self.servers = servers
        self._turn = itertools.cycle(range(len(servers)))
        self._cache = {}

    def _node(self):
        return self.servers[next(self._turn)]

    def _cached(self, kind, srv, creds, region, make):
        k = (kind, srv.port, creds, region)
        if k not in self._cache:
            self._cache[k] = make()
        return self._cache[k]

    def ec2(self, creds: tuple, region: str, op: str, **kw) -> Outcome:
        srv = self._node()

        def make():
            client = support.ec2_client(srv.url, creds[1], creds[2], region)
            last = {}
            client.meta.events.register(
                "after-call.ec2", lambda http_response, **_: last.update(raw=http_response.text))
            return client, last

        client, last = self._cached("ec2", srv, creds, region, make)
        last.clear()
        try:
            body = getattr(client, op)(**kw)
            return Outcome(200, body, None, None, last.get("raw", ""))
        except ClientError as e:
            meta = e.response["ResponseMetadata"]
            assert meta.get("RequestId"), e.response
            return Outcome(meta["HTTPStatusCode"], None, e.response["Error"]["Code"],
                           e.response["Error"]["Message"], last.get("raw", ""))

    def ecs(self, via: str, creds: tuple, region: str, action: str, params: dict) -> Outcome:
        srv = self._node()
        params = {"RegionId": region, **params}
        return (self._core if via == "core" else self._tea)(srv, creds, region, action, params)

    def _core(self, srv, creds, region, action, params) -> Outcome:
        from aliyunsdkcore.acs_exception.exceptions import ServerException
        from aliyunsdkcore.client import AcsClient
        from aliyunsdkcore.request import CommonRequest
        client = self._cached("core", srv, creds, region, lambda: AcsClient(
            creds[1], creds[2], region, port=srv.port, auto_retry=False, max_retry_time=0,
            timeout=60, connect_timeout=5))
        req = CommonRequest(domain=srv.host, version=VERSION, action_name=action)
        req.set_method("POST")
        req.set_protocol_type("http")
        req.set_accept_format("JSON")
        for k, v in flatten(params).items():
            req.add_query_param(k, v)
        req.trans_to_acs_request()
        status, _, body, exc = client._implementation_of_do_action(req)
        raw = (body or b"").decode(errors="replace")
        if exc is None:
            assert status == 200, (status, raw)
            return Outcome(200, json.loads(body), None, None, raw)
        assert isinstance(exc, ServerException), f"core SDK: {exc!r}"
        check_json_error_body(json.loads(body), host_of(srv))
        return Outcome(exc.get_http_status(), None, exc.get_error_code(), exc.get_error_msg(), raw)

    def _tea(self, srv, creds, region, action, params) -> Outcome:
        from alibabacloud_ecs20140526 import models
        from alibabacloud_ecs20140526.client import Client
        from alibabacloud_tea_openapi.exceptions import ClientException
        from alibabacloud_tea_openapi.utils_models import Config
        from darabonba.runtime import RuntimeOptions

        def make():
            cfg = Config(access_key_id=creds[1], access_key_secret=creds[2], endpoint=host_of(srv),
                         protocol="http", region_id=region, read_timeout=60000,
                         connect_timeout=5000)
            return Client(cfg), RuntimeOptions(autoretry=False, max_attempts=0,
                                               read_timeout=60000, connect_timeout=5000)

        client, runtime = self._cached("tea", srv, creds, region, make)
        request = getattr(models, f"{action}Request")().from_map(params)
        call = getattr(client, re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower() + "_with_options")
        try:
            resp = call(request, runtime)
        except ClientException as e:
            body = {k: v for k, v in e.data.items() if k != "statusCode"}
            check_json_error_body(body, host_of(srv))
            return Outcome(e.status_code, None, e.code, body["Message"], json.dumps(body))
        assert resp.status_code == 200, resp
        body = resp.body.to_map()
        return Outcome(200, body, None, None, json.dumps(body))


# --------------------------------------------------------------------------------------------
# The state machine


class IsolationMachine(RuleBasedStateMachine):
    world = None  # set by the test: clients, store URL, key pool, account counter

    def __init__(self):
        super().__init__()
        self.ready = False
        self.creds = {}
        self.model = {(a, c, r): {} for a in ACCOUNTS for c, r in SCOPES}
        self.held = {a: set() for a in ACCOUNTS}  # every ID, name and fingerprint ever held
        # Everything ever handed out, in creation order, to ask for (see pick)
        self.ec2_ids = [NEVER_ID]
        self.fingerprints = {"ec2": ["00:11:22"], "ecs": ["00:11:22"]}

    # -- set-up: two fresh accounts per example, made with the CLI while the server runs
    @initialize()
    def make_accounts(self):
        w = self.world
        n = next(w["counter"])
        for a in ACCOUNTS:
            tag = f"{a}{n:04d}"
            creds = (f"iso-{tag.lower()}", f"AKIDISO{tag}{secrets.token_hex(4).upper()}",
                     f"s{secrets.token_hex(16)}/+{a}")  # not "-…": the CLI would read a flag
            support.create_account(w["url"], *creds, quota=QUOTA[a])
            self.creds[a] = creds
        self.seed()
        self.ready = True

    def seed(self):
        """Two key pairs in every scope of both accounts, a shared name and one of the account's
        own, each with a key of its own: from the first step on, each account has real names,
        IDs and fingerprints for the other to ask for, and B is one create from its quota."""
        good = self.world["keys"][0]
        for i, acct in enumerate(ACCOUNTS):
            for cloud, region in SCOPES:
                # the last names of the pools: draws lean to the first ones, which stay free
                for name, line, tags in ((SHARED_NAMES[-1], good[i], {TAG_KEYS[0]: TAG_VALUES[0]}),
                                         (OWN_NAMES[acct][-1], good[4 + i], {})):
                    if cloud == "ec2":
                        r = self.ec2(acct, region, "import_key_pair", KeyName=name,
                                     PublicKeyMaterial=line.encode(),
                                     **tag_specification(tags)).ok()
                        self.ec2_created_ok(acct, region, r, Key(
                            r["KeyPairId"], name, ec2_import_fingerprint(line), key_type_of(line),
                            line, dict(tags)))
                        continue
                    r = self.ecs(acct, region, "core", "ImportKeyPair", {
                        "KeyPairName": name, "PublicKeyBody": line, "ResourceGroupId": GROUPS[0],
                        "Tag": tag_list(tags.items())}).ok()
                    self.ecs_created_ok(acct, region, r, Key(
                        r["KeyPairId"], name, ecs_fingerprint(line), key_type_of(line), line,
                        dict(tags), GROUPS[0]))

    # -- helpers
    @property
    def clients(self) -> Clients:
        return self.world["clients"]

    def keys(self, acct, cloud, region) -> dict:
        return self.model[(acct, cloud, region)]

    def hold(self, acct, cloud, key_id, name, fingerprint):
        self.held[acct] |= {name, fingerprint} | ({key_id} if key_id else set())
        if cloud == "ec2":
            self.ec2_ids.append(key_id)
        if fingerprint not in self.fingerprints[cloud]:
            self.fingerprints[cloud].append(fingerprint)

    def foreign(self, acct) -> set:
        """What only the other account ever held."""
        return self.held[other(acct)] - self.held[acct]

    def scan(self, acct, request, out: Outcome, what: str):
        self.world["outcomes"][f"{what}: {out.code or 200}"] += 1
        asked = json.dumps(request, default=str)
        # A public key in the request carries its fingerprint: importing a key the other
        # account also imported is expected to show the same fingerprint.
        key = request.get("PublicKeyMaterial", b"").decode() or request.get("PublicKeyBody", "")
        if key in self.world["keys"][0]:
            asked += ec2_import_fingerprint(key) + ecs_fingerprint(key)
        leaked = sorted(t for t in self.foreign(acct) if t in out.raw and t not in asked)
        assert not leaked, f"reply to {acct} holds the other account's {leaked}: {out.raw[:2000]}"

    def ec2(self, acct, region, op, **kw) -> Outcome:
        out = self.clients.ec2(self.creds[acct], region, op, **kw)
        self.scan(acct, kw, out, f"EC2 {op}")
        return out

    def ecs(self, acct, region, via, action, params) -> Outcome:
        out = self.clients.ecs(via, self.creds[acct], region, action, params)
        self.scan(acct, params, out, f"ECS {action}")
        return out

    def draw_region(self, data, acct, cloud) -> str:
        """Half the time a region where the caller holds key pairs (when it holds any), so that
        calls on its own key pairs are frequent."""
        busy = [r for r in REGIONS if self.keys(acct, cloud, r)]
        if data.draw(st.booleans(), label="busy region") and busy:
            return pick(data, busy, "region")
        return pick(data, list(REGIONS), "region")

    def draw_ids(self, data, acct, region, max_size=2) -> list:
        """EC2 IDs to ask for: half the time the caller's own, else any ever handed out (the
        other account's, other regions', deleted ones, one never made)."""
        own = [k.id for k in self.keys(acct, "ec2", region).values()]
        mine = data.draw(st.booleans(), label="own ids")
        return picks(data, own if mine and own else self.ec2_ids, "ids", max_size=max_size)

    def draw_names(self, data, acct, cloud, region, min_size=1, max_size=2) -> list:
        """Names to ask for: half the time the caller's own, else any of either account."""
        own = list(self.keys(acct, cloud, region))
        mine = data.draw(st.booleans(), label="own names")
        return picks(data, own if mine and own else list(ALL_NAMES), "names", min_size, max_size)

    def draw_tags(self, data, at_least=0) -> dict:
        keys = data.draw(st.lists(st.sampled_from(TAG_KEYS), min_size=at_least, max_size=2,
                                  unique=True), label="tag keys")
        return {k: data.draw(st.sampled_from(TAG_VALUES), label=f"value of {k}") for k in keys}

    def quota_refusal(self, acct, cloud, out: Outcome):
        if cloud == "ec2":
            ec2_error(out, "KeyPairLimitExceeded",
                      f"Maximum of {QUOTA[acct]} key pairs reached in this region.")
        else:
            ecs_error(out, "QuotaExceed.KeyPair")

    def new_key_refusal(self, acct, cloud, region, name, out: Outcome) -> bool:
        """Checks the refusal a new key pair of this name gets, if any; True when refused."""
        scope = self.keys(acct, cloud, region)
        if name in scope:
            if cloud == "ec2":
                ec2_error(out, "InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")
            else:
                ecs_error(out, "KeyPair.AlreadyExist")
            return True
        if len(scope) >= QUOTA[acct]:
            self.quota_refusal(acct, cloud, out)
            return True
        return False

    # ------------------------------------------------------------------------------ rules
    # One rule per dialect that picks the operation: Hypothesis's swarm testing switches whole
    # rules off for an example, and with a rule per operation a short run left some out.
    EC2_OPERATIONS = ("ec2_create", "ec2_import", "ec2_delete", "ec2_describe_named",
                      "ec2_describe_filtered", "ec2_tag", "ec2_describe_tags", "ec2_forged")
    ECS_OPERATIONS = ("ecs_new", "ecs_delete", "ecs_describe_filtered", "ecs_tag",
                      "ecs_list_tags", "ecs_join_group_or_attach", "ecs_forged")

    @rule(acct=st.sampled_from(ACCOUNTS), data=st.data(),
          operation=st.sampled_from(EC2_OPERATIONS))
    def ec2_call(self, acct, data, operation):
        getattr(self, operation)(acct, data)

    @rule(acct=st.sampled_from(ACCOUNTS), data=st.data(),
          operation=st.sampled_from(ECS_OPERATIONS))
    def ecs_call(self, acct, data, operation):
        getattr(self, operation)(acct, data)

    # ------------------------------------------------------------------------------ EC2
    def ec2_create(self, acct, data):
        region = pick(data, list(REGIONS), "region")
        key_type = data.draw(st.sampled_from(["ed25519", "ed25519", "rsa"]), label="key type")
        name = data.draw(st.sampled_from(SHARED_NAMES + OWN_NAMES[acct]), label="name")
        tags = self.draw_tags(data)
        out = self.ec2(acct, region, "create_key_pair", KeyName=name, KeyType=key_type,
                       **tag_specification(tags))
        if self.new_key_refusal(acct, "ec2", region, name, out):
            return
        r = out.ok()
        fingerprint, line = ec2_created(r["KeyMaterial"], key_type)
        self.ec2_created_ok(acct, region, r, Key(r["KeyPairId"], name, fingerprint, key_type,
                                                 f"{line} {name}", dict(tags)))

    def ec2_import(self, acct, data):
        region = pick(data, list(REGIONS), "region")
        good, bad = self.world["keys"]
        name = data.draw(st.sampled_from(SHARED_NAMES + OWN_NAMES[acct]), label="name")
        malformed = data.draw(st.booleans(), label="malformed")
        line = data.draw(st.sampled_from(bad if malformed else good), label="key")
        tags = self.draw_tags(data)
        out = self.ec2(acct, region, "import_key_pair", KeyName=name,
                       PublicKeyMaterial=line.encode(), **tag_specification(tags))
        if malformed:  # the key is read before the name is looked at
            return ec2_error(out, "InvalidKey.Format", support.MSG_KEY_FORMAT)
        if self.new_key_refusal(acct, "ec2", region, name, out):
            return
        key_type = key_type_of(line)
        r = out.ok()
        self.ec2_created_ok(acct, region, r, Key(r["KeyPairId"], name,
                                                 ec2_import_fingerprint(line), key_type, line,
                                                 dict(tags)))

    def ec2_created_ok(self, acct, region, reply: dict, key: Key):
        """A CreateKeyPair or ImportKeyPair reply is the key pair the model now holds."""
        assert KEY_PAIR_ID_RE.match(reply["KeyPairId"]), reply
        assert (reply["KeyName"], reply["KeyFingerprint"]) == (key.name, key.fingerprint), reply
        # tagSet appears only when tags were applied
        assert reply.get("Tags", []) == tag_list(key.tags.items()), reply
        self.keys(acct, "ec2", region)[key.name] = key
        self.hold(acct, "ec2", key.id, key.name, key.fingerprint)

    def ec2_delete(self, acct, data):
        region = self.draw_region(data, acct, "ec2")
        scope = self.keys(acct, "ec2", region)
        if data.draw(st.booleans(), label="by id"):
            key_id = self.draw_ids(data, acct, region, max_size=1)[0]
            out = self.ec2(acct, region, "delete_key_pair", KeyPairId=key_id)
            gone = next((k for k in scope.values() if k.id == key_id), None)
        else:
            name = self.draw_names(data, acct, "ec2", region, max_size=1)[0]
            out = self.ec2(acct, region, "delete_key_pair", KeyName=name)
            gone = scope.get(name)
        r = out.ok()
        assert r["Return"] is True, r
        # Deleting what is not there (here) succeeds and names no key pair.
        assert r.get("KeyPairId") == (gone.id if gone else None), r
        if gone:
            del scope[gone.name]

    def ec2_describe_named(self, acct, data):
        region = self.draw_region(data, acct, "ec2")
        scope = self.keys(acct, "ec2", region)
        if data.draw(st.booleans(), label="by id"):
            ids = self.draw_ids(data, acct, region)
            out = self.ec2(acct, region, "describe_key_pairs", KeyPairIds=ids)
            by_id = {k.id: k for k in scope.values()}
            missing = [i for i in ids if i not in by_id]
            if missing:
                return ec2_error(out, "InvalidKeyPair.NotFound",
                                 f"The key pair ID '{missing[0]}' does not exist")
            want = [by_id[i] for i in ids]
        else:
            names = self.draw_names(data, acct, "ec2", region)
            out = self.ec2(acct, region, "describe_key_pairs", KeyNames=names)
            missing = [n for n in names if n not in scope]
            if missing:
                return ec2_error(out, "InvalidKeyPair.NotFound",
                                 f"The key pair '{missing[0]}' does not exist")
            want = [scope[n] for n in names]
        assert ec2_items(out.ok()["KeyPairs"], public_key=False) == ec2_expected(want, False)

    def ec2_describe_filtered(self, acct, data):
        region = self.draw_region(data, acct, "ec2")
        kinds = data.draw(st.lists(st.sampled_from(
            ["key-name", "fingerprint", "key-pair-id", "tag-key", "tag"]), min_size=1, max_size=2,
            unique=True), label="filters")
        choices = {"key-name": ALL_NAMES + NAME_PATTERNS, "fingerprint": self.fingerprints["ec2"],
                   "key-pair-id": self.ec2_ids, "tag-key": TAG_KEYS, "tag": TAG_VALUES}
        filters = []
        for kind in kinds:
            values = picks(data, list(choices[kind]), f"{kind} values")
            name = kind
            if kind == "tag":
                name = "tag:" + data.draw(st.sampled_from(TAG_KEYS), label="tag filter key")
            filters.append((name, values))

        def matches(k: Key, name, values) -> bool:
            if name.startswith("tag:"):
                got = [k.tags[name[4:]]] if name[4:] in k.tags else []
            else:
                got = {"key-name": [k.name], "fingerprint": [k.fingerprint],
                       "key-pair-id": [k.id], "tag-key": list(k.tags)}[name]
            return any(ec2_match(v, g) for v in values for g in got)

        out = self.ec2(acct, region, "describe_key_pairs", IncludePublicKey=True,
                       Filters=[{"Name": n, "Values": v} for n, v in filters])
        want = [k for k in self.keys(acct, "ec2", region).values()
                if all(matches(k, n, v) for n, v in filters)]
        assert ec2_items(out.ok()["KeyPairs"], True) == ec2_expected(want, True), filters

    def ec2_tag(self, acct, data):
        region = self.draw_region(data, acct, "ec2")
        scope = self.keys(acct, "ec2", region)
        ids = self.draw_ids(data, acct, region)
        by_id = {k.id: k for k in scope.values()}
        missing = [i for i in ids if i not in by_id]
        if data.draw(st.booleans(), label="create"):
            tags = self.draw_tags(data, at_least=1)
            out = self.ec2(acct, region, "create_tags", Resources=ids,
                           Tags=tag_list(tags.items()))
            change = lambda k: k.tags.update(tags)  # noqa: E731
        else:
            removals = data.draw(st.lists(st.tuples(st.sampled_from(TAG_KEYS), st.one_of(
                st.none(), st.sampled_from(TAG_VALUES))), max_size=2, unique_by=lambda t: t[0]),
                label="removals")
            kw = {"Tags": tag_list(removals)} if removals else {}
            out = self.ec2(acct, region, "delete_tags", Resources=ids, **kw)

            def change(k: Key):
                if not removals:  # no Tag.N: every tag goes
                    k.tags.clear()
                for key, value in removals:
                    if key in k.tags and value in (None, k.tags[key]):
                        del k.tags[key]
        if missing:  # nothing is changed, on any of them
            return ec2_error(out, "InvalidKeyPair.NotFound",
                             f"The key pair ID '{missing[0]}' does not exist")
        assert out.ok()["ResponseMetadata"]["HTTPStatusCode"] == 200
        for i in ids:
            change(by_id[i])

    def ec2_describe_tags(self, acct, data):
        region = self.draw_region(data, acct, "ec2")
        kind = data.draw(st.sampled_from(["none", "resource-id", "key", "value"]), label="filter")
        choices = {"resource-id": self.ec2_ids, "key": TAG_KEYS, "value": TAG_VALUES}
        values = [] if kind == "none" else picks(data, list(choices[kind]), "values")
        kw = {} if kind == "none" else {"Filters": [{"Name": kind, "Values": values}]}
        out = self.ec2(acct, region, "describe_tags", **kw)
        rows = [(k.id, tk, tv) for k in self.keys(acct, "ec2", region).values()
                for tk, tv in k.tags.items()]
        pos = {"resource-id": 0, "key": 1, "value": 2}.get(kind)
        want = sorted(r for r in rows if pos is None or r[pos] in values)
        got = [(t["ResourceId"], t["Key"], t["Value"]) for t in out.ok()["Tags"]]
        assert all(t["ResourceType"] == "key-pair" for t in out.body["Tags"]), out.body
        assert got == want, kind  # ordered by resource ID, then key

    # ------------------------------------------------------------------------------ ECS
    def ecs_new(self, acct, data):
        region = pick(data, list(REGIONS), "region")
        via = data.draw(st.sampled_from(["core", "tea"]), label="via")
        good, bad = self.world["keys"]
        name = data.draw(st.sampled_from(SHARED_NAMES + OWN_NAMES[acct]), label="name")
        how = data.draw(st.sampled_from(["create", "import", "import", "malformed"]), label="how")
        tags = self.draw_tags(data)
        group = data.draw(st.sampled_from(("",) + GROUPS), label="group")
        params = {"KeyPairName": name}
        if tags:
            params["Tag"] = tag_list(tags.items())
        if group:
            params["ResourceGroupId"] = group
        line = None
        if how != "create":
            line = data.draw(st.sampled_from(bad if how == "malformed" else good), label="key")
            params["PublicKeyBody"] = line
        out = self.ecs(acct, region, via, "CreateKeyPair" if how == "create" else "ImportKeyPair",
                       params)
        if how == "malformed":
            return ecs_error(out, "InvalidPublicKeyBody.Malformed")
        if self.new_key_refusal(acct, "ecs", region, name, out):
            return
        r = out.ok()
        if how == "create":
            fingerprint, public_key = ecs_created(r["PrivateKeyBody"])
            key_type = "rsa"
        else:
            fingerprint, public_key = ecs_fingerprint(line), line
            key_type = key_type_of(line)
        # The Tea SDK's ImportKeyPair model has no KeyPairId: what it drops, the test cannot see.
        key_id = r.get("KeyPairId") if (via, how) == ("tea", "import") else r["KeyPairId"]
        self.ecs_created_ok(acct, region, r, Key(key_id, name, fingerprint, key_type, public_key,
                                                 dict(tags), group))

    def ecs_created_ok(self, acct, region, reply: dict, key: Key):
        """A CreateKeyPair or ImportKeyPair reply is the key pair the model now holds."""
        assert key.id is None or re.fullmatch(r"ssh-[0-9a-z]+", key.id), reply
        assert (reply["KeyPairName"], reply["KeyPairFingerPrint"]) == (key.name, key.fingerprint), (
            reply)
        self.keys(acct, "ecs", region)[key.name] = key
        self.hold(acct, "ecs", key.id, key.name, key.fingerprint)

    def ecs_delete(self, acct, data):
        region = self.draw_region(data, acct, "ecs")
        via = data.draw(st.sampled_from(["core", "tea"]), label="via")
        names = self.draw_names(data, acct, "ecs", region, max_size=3)
        out = self.ecs(acct, region, via, "DeleteKeyPairs", {"KeyPairNames": json.dumps(names)})
        out.ok()  # names that do not exist (here) are ignored
        for n in names:
            self.keys(acct, "ecs", region).pop(n, None)

    def ecs_describe_filtered(self, acct, data):
        region = self.draw_region(data, acct, "ecs")
        via = data.draw(st.sampled_from(["core", "tea"]), label="via")
        params, tests = {"PageSize": 50, "IncludePublicKey": True}, []
        kinds = data.draw(st.lists(st.sampled_from(["name", "fingerprint", "group", "tag"]),
                                   min_size=1, max_size=2, unique=True), label="filters")
        if "name" in kinds:
            pattern = data.draw(st.sampled_from(ALL_NAMES + ECS_PATTERNS), label="name")
            params["KeyPairName"] = pattern
            tests.append(lambda k: ecs_match(pattern, k.name))
        if "fingerprint" in kinds:
            fp = pick(data, self.fingerprints["ecs"], "fingerprint")
            # ECS compares fingerprints ignoring colons and case
            params["KeyPairFingerPrint"] = data.draw(st.sampled_from(
                [fp, fp.replace(":", ""), fp.upper()]), label="spelling")
            tests.append(lambda k: k.fingerprint == fp)
        if "group" in kinds:
            group = data.draw(st.sampled_from(GROUPS), label="group")
            params["ResourceGroupId"] = group
            tests.append(lambda k: k.group == group)
        if "tag" in kinds:
            key = data.draw(st.sampled_from(TAG_KEYS), label="tag key")
            value = data.draw(st.one_of(st.none(), st.sampled_from(TAG_VALUES)), label="value")
            params["Tag"] = tag_list([(key, value)])
            tests.append(lambda k: key in k.tags and value in (None, k.tags[key]))
        out = self.ecs(acct, region, via, "DescribeKeyPairs", params)
        want = [k for k in self.keys(acct, "ecs", region).values() if all(t(k) for t in tests)]
        body = out.ok()
        assert body["TotalCount"] == len(want), (params, body)
        assert ecs_items(body) == ecs_expected(want), params

    def ecs_tag(self, acct, data):
        region = self.draw_region(data, acct, "ecs")
        via = data.draw(st.sampled_from(["core", "tea"]), label="via")
        scope = self.keys(acct, "ecs", region)
        names = self.draw_names(data, acct, "ecs", region)
        params = {"ResourceType": "keypair", "ResourceId": names}
        if data.draw(st.booleans(), label="tag"):
            tags = self.draw_tags(data, at_least=1)
            params["Tag"] = tag_list(tags.items())
            action, change = "TagResources", lambda k: k.tags.update(tags)
        else:
            keys = data.draw(st.lists(st.sampled_from(TAG_KEYS), max_size=2, unique=True),
                             label="untag keys")
            params.update({"TagKey": keys} if keys else {"All": True})
            action = "UntagResources"

            def change(k: Key):
                for t in keys or list(k.tags):
                    k.tags.pop(t, None)
        out = self.ecs(acct, region, via, action, params)
        if any(n not in scope for n in names):  # one unknown name: nothing changes
            return ecs_error(out, "InvalidResourceId.NotFound")
        out.ok()
        for n in names:
            change(scope[n])

    def ecs_list_tags(self, acct, data):
        region = self.draw_region(data, acct, "ecs")
        via = data.draw(st.sampled_from(["core", "tea"]), label="via")
        names = self.draw_names(data, acct, "ecs", region, min_size=0)
        wanted = data.draw(st.lists(st.tuples(st.sampled_from(TAG_KEYS), st.one_of(
            st.none(), st.sampled_from(TAG_VALUES))), max_size=1), label="tag filters")
        params = {"ResourceType": "keypair"}
        if names:
            params["ResourceId"] = names
        if wanted:
            params["Tag"] = tag_list(wanted)
        out = self.ecs(acct, region, via, "ListTagResources", params)
        want = sorted((k.name, "keypair", tk, tv) for k in self.keys(acct, "ecs", region).values()
                      if not names or k.name in names
                      for tk, tv in k.tags.items()
                      if not wanted or any(tk == wk and wv in (None, tv) for wk, wv in wanted))
        body = out.ok()
        assert body["NextToken"] == "", body
        # Sorted: the rows come in key pair ID order, and the Tea SDK does not show every ID.
        got = sorted((t["ResourceId"], t["ResourceType"], t["TagKey"], t["TagValue"])
                     for t in body["TagResources"]["TagResource"])
        assert got == want, params

    def ecs_join_group_or_attach(self, acct, data):
        region = self.draw_region(data, acct, "ecs")
        via = data.draw(st.sampled_from(["core", "tea"]), label="via")
        scope = self.keys(acct, "ecs", region)
        name = self.draw_names(data, acct, "ecs", region, max_size=1)[0]
        if data.draw(st.booleans(), label="join"):
            group = data.draw(st.sampled_from(GROUPS), label="group")
            out = self.ecs(acct, region, via, "JoinResourceGroup", {
                "ResourceType": "keypair", "ResourceId": name, "ResourceGroupId": group})
            if name not in scope:
                return ecs_error(out, "InvalidResourceId.NotFound")
            out.ok()
            scope[name].group = group
            return
        out = self.ecs(acct, region, via, "AttachKeyPair",
                       {"KeyPairName": name, "InstanceIds": '["i-isolation"]'})
        if name not in scope:
            return ecs_error(out, "InvalidKeyPairName.NotFound")
        body = out.ok()
        assert (body["KeyPairName"], body["TotalCount"], body["FailCount"]) == (name, "1", "1"), (
            body)

    # ------------------------------------------------------------------------------ forged calls
    def ec2_forged(self, acct, data):
        self.forged(acct, data, "ec2")

    def ecs_forged(self, acct, data):
        self.forged(acct, data, "ecs")

    def forged(self, acct, data, cloud):
        """A change or a read signed wrongly: refused before anything is looked at."""
        region = pick(data, list(REGIONS), "region")
        forgery = data.draw(st.sampled_from(["wrong secret", "other's key id", "unknown key id"]),
                            label="forgery")
        mine, theirs = self.creds[acct], self.creds[other(acct)]
        creds = {"wrong secret": (mine[0], mine[1], mine[2] + "x"),
                 "other's key id": (theirs[0], theirs[1], mine[2]),
                 "unknown key id": (mine[0], "AKIDNOBODY" + mine[1][-8:], mine[2])}[forgery]
        victim = self.keys(other(acct), cloud, region)
        name = pick(data, list(victim) or list(SHARED_NAMES), "name")
        op = data.draw(st.sampled_from(["create", "delete", "describe"]), label="op")
        if cloud == "ec2":
            call = {"create": ("create_key_pair", {"KeyName": name, "KeyType": "ed25519"}),
                    "delete": ("delete_key_pair", {"KeyName": name}),
                    "describe": ("describe_key_pairs", {})}[op]
            out = self.clients.ec2(creds, region, call[0], **call[1])
            if forgery == "unknown key id":
                ec2_error(out, "AuthFailure", MSG_AUTH_FAILURE)
            else:
                ec2_error(out, "SignatureDoesNotMatch", MSG_SIGNATURE)
        else:
            via = data.draw(st.sampled_from(["core", "tea"]), label="via")
            call = {"create": ("CreateKeyPair", {"KeyPairName": name}),
                    "delete": ("DeleteKeyPairs", {"KeyPairNames": json.dumps([name])}),
                    "describe": ("DescribeKeyPairs", {"PageSize": 50})}[op]
            out = self.clients.ecs(via, creds, region, *call)
            ecs_error(out, "InvalidAccessKeyId.NotFound" if forgery == "unknown key id"
                      else "SignatureDoesNotMatch")
        self.scan(acct, call[1], out, f"forged ({forgery}) {call[0]}")

    # ------------------------------------------------------------------------------ quota
    def check_headroom(self, acct, cloud, region):
        """Creates up to the quota succeed, one more is refused; the fillers are then deleted."""
        room = QUOTA[acct] - len(self.keys(acct, cloud, region))
        fillers = [f"fill-{i}" for i in range(room + 1)]
        for i, name in enumerate(fillers):
            line = fresh_ed25519_line("filler@isolation")
            if cloud == "ec2":
                out = self.ec2(acct, region, "import_key_pair", KeyName=name,
                               PublicKeyMaterial=line.encode())
            else:
                out = self.ecs(acct, region, "core", "ImportKeyPair",
                               {"KeyPairName": name, "PublicKeyBody": line})
            if i == room:
                self.quota_refusal(acct, cloud, out)
            else:
                r = out.ok()
                self.hold(acct, cloud, r["KeyPairId"], name,
                          r["KeyFingerprint" if cloud == "ec2" else "KeyPairFingerPrint"])
        if cloud == "ec2":
            for name in fillers[:-1]:
                assert self.ec2(acct, region, "delete_key_pair", KeyName=name).ok()["KeyPairId"]
        elif room:
            self.ecs(acct, region, "tea", "DeleteKeyPairs",
                     {"KeyPairNames": json.dumps(fillers[:-1])}).ok()

    # ------------------------------------------------------------------------------ invariants
    @invariant()
    def listings_equal_the_model(self):
        if not self.ready:
            return
        for acct in ACCOUNTS:
            for region in REGIONS:
                want = list(self.keys(acct, "ec2", region).values())
                out = self.ec2(acct, region, "describe_key_pairs", IncludePublicKey=True)
                assert ec2_items(out.ok()["KeyPairs"], True) == ec2_expected(want, True), (
                    f"EC2 {region} listing of {acct}")
                want = list(self.keys(acct, "ecs", region).values())
                via = "core" if (len(want) + len(region)) % 2 else "tea"
                body = self.ecs(acct, region, via, "DescribeKeyPairs",
                                {"PageSize": 50, "IncludePublicKey": True}).ok()
                assert body["TotalCount"] == len(want), f"ECS {region} TotalCount of {acct}"
                assert ecs_items(body) == ecs_expected(want), f"ECS {region} listing of {acct}"

    def teardown(self):
        if not self.ready:
            return
        for acct in ACCOUNTS:
            for cloud, region in SCOPES:
                self.check_headroom(acct, cloud, region)
        self.listings_equal_the_model()


# Replies and the model, in one comparable shape (sorted: the order among key pairs created in
# the same millisecond is the random ID's, which the model does not know).

def ec2_items(items: list, public_key: bool) -> list:
    return sorted((k["KeyPairId"], k["KeyName"], k["KeyFingerprint"], k["KeyType"],
                   k.get("PublicKey") if public_key else None,
                   tuple((t["Key"], t["Value"]) for t in k["Tags"])) for k in items)


def ec2_expected(keys: list, public_key: bool) -> list:
    return sorted((k.id, k.name, k.fingerprint, k.key_type, k.public_key if public_key else None,
                   tuple(k.tags.items())) for k in keys)


def ecs_items(body: dict) -> list:
    return sorted((k["KeyPairName"], k["KeyPairFingerPrint"], k["PublicKey"], k["ResourceGroupId"],
                   tuple((t["TagKey"], t["TagValue"]) for t in k["Tags"]["Tag"]))
                  for k in body["KeyPairs"]["KeyPair"])


def ecs_expected(keys: list) -> list:
    return sorted((k.name, k.fingerprint, k.public_key, k.group, tuple(k.tags.items()))
                  for k in keys)


@pytest.mark.timeout(600)
def test_nothing_of_one_account_reaches_the_other(backend, nodes, key_pool):  # noqa: F811
    """Two fresh accounts per example on one server (two nodes on PostgreSQL)."""
    servers = [nodes.start(backend.url) for _ in range(backend.n_nodes)]
    outcomes = collections.Counter()
    IsolationMachine.world = {"clients": Clients(servers), "url": backend.url, "keys": key_pool,
                              "counter": itertools.count(), "outcomes": outcomes}
    try:
        run_state_machine_as_test(IsolationMachine, settings=SETTINGS[backend.kind])
    finally:
        IsolationMachine.world = None
        # What the run did (pytest -s shows it; a failure shows it with the captured output)
        print(f"{sum(outcomes.values())} replies checked:")
        for what, n in sorted(outcomes.items()):
            print(f"{n:7} {what}")
    for srv in servers:
        support.assert_no_panic(srv.stderr())
        assert srv.alive()
