"""Every error code of the reference's table with its HTTP status and message, parameter
validation, and DryRun (412 DryRunOperation, nothing changed)."""

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import MSG_DRY_RUN, b64, client_error


def pubtext(keys, name="ed25519"):
    return Path(str(keys[name]) + ".pub").read_text()


# ------------------------------------------------------------------------------- validation


def test_missing_key_name(srv):
    srv.call("CreateKeyPair", {}).error(
        "MissingParameter", "The request must contain the parameter KeyName")


def test_delete_needs_name_or_id(srv):
    r = srv.call("DeleteKeyPair", {}).error("MissingParameter")
    assert "KeyName" in r.message


def test_unknown_action(srv):
    srv.call("LaunchRockets", {}).error(
        "InvalidAction", "The action LaunchRockets is not valid for this web service.")


def test_action_names_are_case_sensitive(srv):
    srv.call("createkeypair", {"KeyName": "x"}).error(
        "InvalidAction", "The action createkeypair is not valid for this web service.")
    assert srv.describe() == []


def test_unknown_parameter(srv):
    srv.call("CreateKeyPair", {"KeyName": "x", "Bogus": "1"}).error(
        "UnknownParameter", "The parameter Bogus is not recognized")
    assert srv.describe() == []


def test_unknown_parameter_on_describe(srv):
    srv.call("DescribeKeyPairs", {"KeyNames.1": "x"}).error(
        "UnknownParameter", "The parameter KeyNames.1 is not recognized")


@pytest.mark.parametrize("param,value", [("KeyType", "dsa"), ("KeyType", "RSA"),
                                         ("KeyFormat", "der"), ("KeyFormat", "PEM")])
def test_bad_enum(srv, param, value):
    r = srv.call("CreateKeyPair", {"KeyName": "x", param: value}).error("InvalidParameterValue")
    assert param.lower() in r.message.lower() and value in r.message, (
        f"InvalidParameterValue must name the parameter and the bad value: {r.message!r}")
    assert srv.describe() == []


@pytest.mark.parametrize("name", ["a" * 256, "clé", "ключ", " lead", "trail ", "tab\there\u00a0"])
def test_bad_key_name(srv, name):
    r = srv.call("CreateKeyPair", {"KeyName": name}).error("InvalidParameterValue")
    assert "keyname" in r.message.lower(), f"must name the parameter: {r.message!r}"
    assert srv.describe() == []


def test_bad_key_name_on_import(srv, keys):
    r = srv.call("ImportKeyPair", {"KeyName": "é", "PublicKeyMaterial": b64(pubtext(keys))})
    r.error("InvalidParameterValue")
    assert srv.describe() == []


def test_empty_key_name(srv):
    # An empty KeyName is either missing or invalid; both are documented 400s, and nothing is made.
    r = srv.call("CreateKeyPair", {"KeyName": ""})
    assert r.code in ("MissingParameter", "InvalidParameterValue"), r
    r.error(r.code)
    assert srv.describe() == []


def test_bad_boolean(srv):
    r = srv.call("DescribeKeyPairs", {"IncludePublicKey": "maybe"}).error("InvalidParameterValue")
    assert "maybe" in r.message


def test_malformed_key_pair_id(srv):
    # Not a key-… ID at all: a 400 from the table, never a 5xx.
    r = srv.call("DescribeKeyPairs", {"KeyPairId.1": "not-an-id"})
    assert r.code in ("InvalidKeyPair.NotFound", "InvalidParameterValue"), r
    r.error(r.code)


def test_errors_have_distinct_request_ids(srv):
    a = srv.call("Nope", {}).error("InvalidAction")
    b = srv.call("Nope", {}).error("InvalidAction")
    assert a.root.find("RequestID").text != b.root.find("RequestID").text


# ------------------------------------------------------------------------------- DryRun


def dry(excinfo):
    client_error(excinfo, "DryRunOperation", MSG_DRY_RUN, 412)


def test_dry_run_create(srv, ec2):
    with pytest.raises(ClientError) as ei:
        ec2.create_key_pair(KeyName="d", DryRun=True)
    dry(ei)
    assert srv.describe() == []
    ec2.create_key_pair(KeyName="d", KeyType="ed25519", DryRun=False)
    assert [k["KeyName"] for k in srv.describe()] == ["d"]


def test_dry_run_import(srv, ec2, keys):
    with pytest.raises(ClientError) as ei:
        ec2.import_key_pair(KeyName="d", PublicKeyMaterial=pubtext(keys).encode(), DryRun=True)
    dry(ei)
    assert srv.describe() == []


def test_dry_run_describe(srv, ec2):
    with pytest.raises(ClientError) as ei:
        ec2.describe_key_pairs(DryRun=True)
    dry(ei)


def test_dry_run_delete(srv, ec2):
    ec2.create_key_pair(KeyName="d", KeyType="ed25519")
    with pytest.raises(ClientError) as ei:
        ec2.delete_key_pair(KeyName="d", DryRun=True)
    dry(ei)
    assert [k["KeyName"] for k in srv.describe()] == ["d"]


def test_dry_run_tags(srv, ec2):
    kid = ec2.create_key_pair(KeyName="d", KeyType="ed25519",
                              TagSpecifications=[{"ResourceType": "key-pair",
                                                  "Tags": [{"Key": "a", "Value": "1"}]}])["KeyPairId"]
    with pytest.raises(ClientError) as ei:
        ec2.create_tags(Resources=[kid], Tags=[{"Key": "b", "Value": "2"}], DryRun=True)
    dry(ei)
    with pytest.raises(ClientError) as ei:
        ec2.delete_tags(Resources=[kid], Tags=[{"Key": "a"}], DryRun=True)
    dry(ei)
    with pytest.raises(ClientError) as ei:
        ec2.describe_tags(DryRun=True)
    dry(ei)
    [k] = srv.describe()
    assert k["Tags"] == [{"Key": "a", "Value": "1"}]


def test_dry_run_raw_envelope(srv):
    srv.call("CreateKeyPair", {"KeyName": "d", "DryRun": "true"}).error(
        "DryRunOperation", MSG_DRY_RUN, 412)
    assert srv.describe() == []
