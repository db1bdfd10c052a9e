"""When the store cannot take a record (docs/audit.md, 'What is recorded'): a change and its record
stand or fall together, so a change whose record is refused does not happen; a call that changed
nothing still gets the reply it earned, and the server logs 'the audit trail could not record a
call'. The store is made to refuse every audit row with a trigger on audit_events (SQLite and
PostgreSQL)."""

from __future__ import annotations

import sqlite3

import pytest

from aliyun_support import v1_call
from pg_support import pg_schema, psql  # noqa: F401 - fixtures
from support import TESTER, create_account, sqlite_url

LOG = "the audit trail could not record a call"


class SqliteRefusal:
    def __init__(self, path):
        self.path = path

    def on(self):
        with sqlite3.connect(self.path, timeout=30) as c:
            # A change's event enters audit_recent; the writer moves it to audit_events later.
            c.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_recent "
                      "BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END")

    def off(self):
        with sqlite3.connect(self.path, timeout=30) as c:
            c.execute("DROP TRIGGER refuse_audit")


class PgRefusal:
    def __init__(self, schema):
        self.schema = schema

    def on(self):
        psql(f'CREATE FUNCTION "{self.schema}".refuse_audit() RETURNS trigger LANGUAGE plpgsql AS '
             "$$BEGIN RAISE EXCEPTION 'audit refused by the test'; END$$; "
             f'CREATE TRIGGER refuse_audit BEFORE INSERT ON "{self.schema}".audit_events '
             f'FOR EACH ROW EXECUTE FUNCTION "{self.schema}".refuse_audit()')

    def off(self):
        psql(f'DROP TRIGGER refuse_audit ON "{self.schema}".audit_events')


@pytest.fixture(params=["sqlite", "postgres"])
def refusing(request, keypaird, store, tmp_path):
    if request.param == "sqlite":
        create_account(sqlite_url(store), *TESTER)
        srv = keypaird(extra=["--audit-reads"])
        return srv, SqliteRefusal(store)
    schema = request.getfixturevalue("pg_schema")
    from pg_support import store_url
    url = store_url(schema)
    create_account(url, *TESTER)
    srv = keypaird(store_url=url, extra=["--audit-reads"])
    return srv, PgRefusal(schema)


def test_a_change_whose_record_is_refused_does_not_happen(refusing):
    srv, refusal = refusing
    srv.ec2().create_key_pair(KeyName="before", KeyType="ed25519")
    refusal.on()
    try:
        r = srv.call("CreateKeyPair", {"KeyName": "unrecorded", "KeyType": "ed25519"})
        assert r.status >= 500, f"a change whose record failed must fail: {r!r}"
        r = v1_call(srv, "CreateKeyPair", {"KeyPairName": "unrecorded"})
        assert r.status >= 500, f"a change whose record failed must fail: {r!r}"
        r = srv.call("DeleteKeyPair", {"KeyName": "before"})
        assert r.status >= 500, f"a change whose record failed must fail: {r!r}"
        # Calls that changed nothing get the reply they earned.
        srv.call("CreateKeyPair", {"KeyName": "before"}).error("InvalidKeyPair.Duplicate")
        d = srv.call("DescribeKeyPairs", {}).ok("DescribeKeyPairs")
        assert [e.text for e in d.els("keySet/item/keyName")] == ["before"]
        srv.call("CreateKeyPair", {"KeyName": "x"}, creds=(TESTER[0], TESTER[1], TESTER[2] + "x")).error(
            "SignatureDoesNotMatch")
        assert srv.wait_stderr(lambda t: LOG in t, timeout=5).count(LOG) >= 1, srv.stderr()[-3000:]
    finally:
        refusal.off()
    # Nothing of the refused changes happened.
    assert sorted(k["KeyName"] for k in srv.describe()) == ["before"]
    assert v1_call(srv, "DescribeKeyPairs", {}).ok("DescribeKeyPairs").body["TotalCount"] == 0
    # With the trail back, the same changes go through.
    srv.ec2().create_key_pair(KeyName="unrecorded", KeyType="ed25519")
    v1_call(srv, "CreateKeyPair", {"KeyPairName": "unrecorded"}).ok("CreateKeyPair")
    srv.ec2().delete_key_pair(KeyName="before")
    assert sorted(k["KeyName"] for k in srv.describe()) == ["unrecorded"]
