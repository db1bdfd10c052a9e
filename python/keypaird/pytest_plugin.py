"""pytest fixtures for keypaird, loaded through the ``pytest11`` entry point.

``keypaird_server`` (session): one `keypaird.Server` with ``any_credentials=True`` on a
temporary store. Under pytest-xdist each worker is its own session and so starts its own
server; isolation between tests comes from their accounts, not from separate servers.
Override the fixture in a conftest.py for other settings.

``keypaird_account`` (function): a fresh account on that server; for the test's duration the
AWS environment variables point boto3 and the aws CLI at it.
"""

from __future__ import annotations

import sys
from typing import Iterator

import pytest

from keypaird._server import Account, Server

# Variables that would override or add to what keypaird_account sets (a named profile wins
# over AWS_ACCESS_KEY_ID in botocore; a service-specific endpoint over AWS_ENDPOINT_URL; a stale
# session token would be sent along): removed for the test and restored afterwards.
_OVERRIDING_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_EC2",
)


@pytest.fixture(scope="session")
def keypaird_server() -> Iterator[Server]:
    with Server() as server:
        yield server


@pytest.fixture
def keypaird_account(
    keypaird_server: Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Account]:
    account = keypaird_server.create_account()
    # monkeypatch undoes every change at the end of the test, deleting what was not set before.
    for name in _OVERRIDING_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in account.aws_environment().items():
        monkeypatch.setenv(name, value)
    # boto3.client() goes through one default session, whose credentials are read from the
    # environment once and then kept: without a new session, every test after the first would
    # sign with the first test's account.
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    yield account
