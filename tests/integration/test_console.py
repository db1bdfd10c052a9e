"""The web console under /console/, in a real browser: Debian's chromium driven by Playwright
(the Python package, which runs the same driver as playwright-core), against the real binary.

Sign-in, create (the downloaded private key is checked with `ssh-keygen -y`), import, search,
paging through 120 key pairs both ways, tags, delete, sign-out; a read-only key's console; CSRF,
cookie flags, the Content-Security-Policy and the failed sign-in limit. What the console changes
is checked through the APIs (boto3, the Alibaba SDK, CloudTrail's LookupEvents) and the audit
trail. A screenshot of every page goes to target/test-output/console/ (KEYPAIRD_TEST_OUTPUT)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests
from playwright.sync_api import sync_playwright

import support
from audit_support import attr, audit, cli_ok, cloudtrail
from support import TESTER, run, sqlite_url

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("KEYPAIRD_TEST_OUTPUT",
                             Path(__file__).resolve().parents[2] / "target" / "test-output")) / "console"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        raise pytest.UsageError("chromium is missing: run scripts/test, which installs it")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Console:
    """One browser context (its own cookies) on one server, recording every request it makes."""

    def __init__(self, browser, srv, tmp_path: Path):
        self.srv = srv
        self.context = browser.new_context(accept_downloads=True)
        self.page = self.context.new_page()
        self.requested: list[str] = []
        self.page.on("request", lambda r: self.requested.append(r.url))
        self.console_errors: list[str] = []
        # Script errors and policy violations; not the notes of pages answered with a 4xx.
        self.page.on("console", lambda m: m.type == "error"
                     and not m.text.startswith("Failed to load resource: the server responded")
                     and self.console_errors.append(m.text))
        self.tmp = tmp_path

    def go(self, path: str):
        response = self.page.goto(self.srv.url + path)
        return response

    def shot(self, name: str, full_page: bool = True):
        OUTPUT.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=full_page)

    def sign_in(self, akid: str, secret: str):
        self.go("/console/")
        assert self.page.url.endswith("/console/sign-in")
        self.page.get_by_label("Access key ID").fill(akid)
        self.page.get_by_label("Secret access key").fill(secret)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Sign in").click()

    def rows(self) -> list[str]:
        return self.page.locator("a.key-name").all_inner_texts()

    def press(self, button: str):
        """Clicks the button named `button` and returns the response of the page it leads to."""
        with self.page.expect_navigation() as nav:
            self.page.get_by_role("button", name=button).click()
        return nav.value

    def cookie(self) -> dict:
        (cookie,) = [c for c in self.context.cookies() if c["name"] == "keypaird_console"]
        return cookie

    def csrf(self) -> str:
        return self.page.locator("input[name=csrf]").first.get_attribute("value")

    def close(self):
        self.context.close()


@pytest.fixture
def console(browser, srv, tmp_path):
    c = Console(browser, srv, tmp_path)
    yield c
    c.close()


def public_line(path: Path) -> str:
    return Path(str(path) + ".pub").read_text().strip()


def described(ec2, **kw) -> dict:
    return {k["KeyName"]: k for k in ec2.describe_key_pairs(**kw)["KeyPairs"]}


# ---- the main flow ------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_sign_in_create_import_search_page_tag_delete_sign_out(console, srv, ec2, keys, tmp_path):
    page = console.page
    _, akid, secret = TESTER

    # A wrong secret: the same page again, 401, a message that does not say which part was wrong.
    console.go("/console/sign-in")
    page.get_by_label("Access key ID").fill(akid)
    page.get_by_label("Secret access key").fill("not-the-secret")
    with page.expect_navigation() as nav:
        page.keyboard.press("Enter")  # the keyboard alone signs in
    assert nav.value.status == 401
    assert page.locator("#sign-in-error").inner_text() == "Failed authentication"
    console.shot("sign-in-failed")

    console.sign_in(akid, secret)
    assert page.url == srv.url + "/console/ec2/key-pairs"
    assert page.locator("h1").inner_text() == "EC2 key pairs"
    assert page.locator("#no-key-pairs").inner_text() == "No key pairs match in us-east-1."
    console.shot("key-pairs-empty")

    # Create ed25519: the private key is downloaded once; ssh-keygen derives the public key the
    # console and DescribeKeyPairs show from it.
    page.locator("#create-link").click()
    page.get_by_label("Name").fill("console-ed")
    page.get_by_label("ED25519").check()
    page.locator("#tags-field").fill("env=prod\nteam=core")
    console.shot("create")
    with page.expect_download() as download:
        page.locator("#submit-new").click()
    assert download.value.suggested_filename == "console-ed.pem"
    key_file = tmp_path / "console-ed.pem"
    download.value.save_as(key_file)
    key_file.chmod(0o600)
    assert key_file.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    derived = run(["ssh-keygen", "-y", "-f", str(key_file)]).split()
    kp = described(ec2, KeyNames=["console-ed"], IncludePublicKey=True)["console-ed"]
    assert kp["KeyType"] == "ed25519"
    assert kp["PublicKey"].split()[:2] == derived[:2]
    assert {t["Key"]: t["Value"] for t in kp["Tags"]} == {"env": "prod", "team": "core"}
    fingerprint = run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(key_file)]).split()[1]
    # EC2 shows an ed25519 fingerprint as base64 SHA-256 with its padding.
    assert kp["KeyFingerprint"] == fingerprint.removeprefix("SHA256:") + "="

    # The same name again: EC2's own error, on the form, and nothing downloaded.
    console.go("/console/ec2/create")
    page.get_by_label("Name").fill("console-ed")
    with page.expect_navigation() as nav:
        page.locator("#submit-new").click()
    assert nav.value.status == 400
    assert page.locator(".error .code").inner_text() == "InvalidKeyPair.Duplicate"
    assert page.locator(".error .message").inner_text() == "The keypair 'console-ed' already exists."

    # Import: a pasted OpenSSH line; the detail page shows what DescribeKeyPairs shows.
    console.go("/console/ec2/import")
    page.get_by_label("Name").fill("console-imported")
    page.locator("#public-key-text").fill(public_line(keys["rsa2048"]) + "\n")
    console.shot("import")
    console.press("Import")
    imported = described(ec2, KeyNames=["console-imported"], IncludePublicKey=True)["console-imported"]
    assert page.url == srv.url + f"/console/ec2/key-pairs/{imported['KeyPairId']}?region=us-east-1"
    assert page.locator("#detail-id").inner_text() == imported["KeyPairId"]
    assert page.locator("#detail-fingerprint").inner_text() == imported["KeyFingerprint"]
    assert page.locator("#public-key").inner_text() == public_line(keys["rsa2048"])
    assert imported["PublicKey"] == public_line(keys["rsa2048"])
    console.shot("detail")
    # The copy button puts the public key on the clipboard.
    console.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=srv.url)
    page.get_by_role("button", name="Copy public key").click()
    page.wait_for_function("document.getElementById('copy-status').textContent === 'Copied.'")
    assert page.evaluate("navigator.clipboard.readText()") == public_line(keys["rsa2048"])

    # A key that is not a key: EC2's InvalidKey.Format.
    console.go("/console/ec2/import")
    page.get_by_label("Name").fill("console-bad")
    page.locator("#public-key-text").fill("ssh-rsa not-base64")
    nav = console.press("Import")
    assert nav.status == 400
    assert page.locator(".error .code").inner_text() == "InvalidKey.Format"
    assert "console-bad" not in described(ec2)

    # 120 key pairs through the API, every other one tagged env=prod.
    bulk = keys["ed25519"]
    line = public_line(bulk)
    for i in range(120):
        tags = [{"ResourceType": "key-pair", "Tags": [{"Key": "env", "Value": "prod"}]}] if i % 2 else []
        ec2.import_key_pair(KeyName=f"bulk-{i:03d}", PublicKeyMaterial=line.encode(),
                            TagSpecifications=tags)

    # Search by name and page through all of them, by name (the default order), then back.
    console.go("/console/ec2/key-pairs")
    page.get_by_label("Name", exact=True).fill("bulk-*")
    console.press("Search")
    seen_pages = [console.rows()]
    console.shot("key-pairs-search")
    console.shot("key-pairs-window", full_page=False)  # the README's picture
    while page.locator("#next-page").count():
        with page.expect_navigation():
            page.locator("#next-page").click()
        seen_pages.append(console.rows())
    assert [len(p) for p in seen_pages] == [50, 50, 20]
    names = [n for p in seen_pages for n in p]
    assert names == [f"bulk-{i:03d}" for i in range(120)]
    console.shot("key-pairs-last-page")
    with page.expect_navigation():
        page.locator("#previous-page").click()
    assert console.rows() == seen_pages[1]
    with page.expect_navigation():
        page.locator("#first-page").click()
    assert console.rows() == seen_pages[0]

    # The other orders, and a tag search across pages.
    for sort, first in (("name-desc", ["bulk-119", "bulk-118", "bulk-117"]),
                        ("newest", ["bulk-119", "bulk-118", "bulk-117"]),
                        ("oldest", ["bulk-000", "bulk-001", "bulk-002"])):
        page.get_by_label("Sort").select_option(sort)
        console.press("Search")
        assert console.rows()[:3] == first, sort
    with page.expect_navigation():
        page.locator("#next-page").click()
    assert console.rows()[:2] == ["bulk-050", "bulk-051"]
    console.go("/console/ec2/key-pairs?name=bulk-*&sort=name-desc")
    with page.expect_navigation():
        page.locator("#next-page").click()
    assert console.rows()[:2] == ["bulk-069", "bulk-068"]
    console.go("/console/ec2/key-pairs?tag=env%3Dprod&name=bulk-*")
    tagged = console.rows()
    with page.expect_navigation():
        page.locator("#next-page").click()
    tagged += console.rows()
    assert page.locator("#next-page").count() == 0
    assert sorted(tagged) == [f"bulk-{i:03d}" for i in range(120) if i % 2]

    # Tags: add one on the detail page, then remove one; the API sees each change.
    console.go(f"/console/ec2/key-pairs/{imported['KeyPairId']}?region=us-east-1")
    page.get_by_label("Tag key").fill("owner")
    page.get_by_label("Value", exact=True).fill("platform")
    console.press("Add tag")
    assert {t["Key"]: t["Value"] for t in described(ec2)["console-imported"]["Tags"]} == {"owner": "platform"}
    console.shot("detail-tagged")
    console.press("Remove tag owner")
    assert described(ec2)["console-imported"].get("Tags", []) == []
    assert page.locator("#no-tags").inner_text() == "No tags."

    # Delete two at once, with a confirmation page.
    console.go("/console/ec2/key-pairs?name=bulk-11*")
    assert console.rows() == [f"bulk-{i}" for i in range(110, 120)]
    page.get_by_label("Select bulk-119").check()
    page.get_by_label("Select bulk-118").check()
    with page.expect_navigation():
        page.locator("#delete-selected").click()
    assert sorted(page.locator("#to-delete li strong").all_inner_texts()) == ["bulk-118", "bulk-119"]
    console.shot("delete-confirm")
    with page.expect_navigation():
        page.locator("#confirm-delete").click()
    assert page.locator(".notice").inner_text() == "Deleted 2 key pairs."
    remaining = described(ec2)
    assert "bulk-119" not in remaining and "bulk-118" not in remaining and "bulk-117" in remaining
    assert len(remaining) == 120

    # The console's changes are in CloudTrail's LookupEvents as the API's are, with the browser's
    # user agent and the console's access key.
    ct = cloudtrail(srv)
    events = ct.lookup_events(LookupAttributes=attr("ResourceName", "console-ed"))["Events"]
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    # Newest first: the refused duplicate, then the create.
    assert [(r["eventName"], r.get("errorCode")) for r in records] == [
        ("CreateKeyPair", "Client.InvalidKeyPair.Duplicate"), ("CreateKeyPair", None)]
    record = records[1]
    assert record["userIdentity"]["accessKeyId"] == akid
    assert "Chrome/" in record["userAgent"]
    assert record["sourceIPAddress"] == "127.0.0.1"
    assert record["requestParameters"] == {"keyName": "console-ed", "keyType": "ed25519",
                                           "keyFormat": "pem"}
    assert record["responseElements"]["keyMaterial"] == "<sensitiveDataRemoved>"
    assert record["responseElements"]["keyPairId"] == kp["KeyPairId"]
    deletes = ct.lookup_events(LookupAttributes=attr("EventName", "DeleteKeyPair"))["Events"]
    assert sorted(r["ResourceName"] for e in deletes for r in e["Resources"]
                  if r["ResourceName"].startswith("bulk")) == ["bulk-118", "bulk-119"]

    # The activity page shows them too, filtered by action, by resource, and by time.
    console.go("/console/activity?source=ec2&action=DeleteKeyPair")
    assert page.locator("#events td.event-name").all_inner_texts() == ["DeleteKeyPair"] * 2
    console.shot("activity")
    console.go("/console/activity")
    page.get_by_label("Resource").fill("console-ed")
    console.press("Filter")
    assert page.locator("#events td.event-name").all_inner_texts() == ["CreateKeyPair"] * 2
    assert page.locator("#events td.event-error").all_inner_texts() == ["InvalidKeyPair.Duplicate", ""]
    page.get_by_label("From").fill("2000-01-01T00:00:00Z")
    page.get_by_label("To").fill("2000-01-02T00:00:00Z")
    console.press("Filter")
    assert page.locator("#no-events").inner_text() == "No events match."
    page.get_by_label("From").fill("2099-01-01T00:00:00Z")
    page.get_by_label("To").fill("")
    nav = console.press("Filter")
    assert nav.status == 400
    assert page.locator(".error").inner_text() == "The start of the time range is after its end."
    page.get_by_label("From").fill("not a time")
    nav = console.press("Filter")
    assert nav.status == 400
    assert page.locator(".error").inner_text() == "Times are ISO 8601, such as 2026-12-03T10:00:00Z."

    # Sign out: the cookie is gone, and the old cookie no longer works anywhere.
    old_cookie = console.cookie()["value"]
    console.press("Sign out")
    assert page.url.endswith("/console/sign-in")
    assert [c for c in console.context.cookies() if c["name"] == "keypaird_console"] == []
    replay = requests.get(srv.url + "/console/ec2/key-pairs", allow_redirects=False,
                          cookies={"keypaird_console": old_cookie}, timeout=10)
    assert (replay.status_code, replay.headers["location"]) == (303, "/console/sign-in")

    # Nothing was fetched from anywhere but keypaird, and no page logged a script error.
    assert [u for u in console.requested if not u.startswith(srv.url + "/")] == []
    assert console.console_errors == []


# ---- read-only keys, CSRF, cookies, headers -----------------------------------------------------


def new_access_key(store_url: str, *extra) -> tuple:
    out = cli_ok("access-keys", "create", "--account", TESTER[0], "--store", store_url, *extra)
    akid = re.search(r"^export AWS_ACCESS_KEY_ID=(\S+)$", out, re.M).group(1)
    secret = re.search(r"^export AWS_SECRET_ACCESS_KEY=(\S+)$", out, re.M).group(1)
    return akid, secret


def test_a_read_only_key_sees_no_actions_and_its_forged_posts_are_refused(console, srv, ec2, store, keys):
    ec2.import_key_pair(KeyName="existing", PublicKeyMaterial=public_line(keys["ed25519"]).encode())
    kp_id = described(ec2)["existing"]["KeyPairId"]
    akid, secret = new_access_key(sqlite_url(store), "--read-only")
    console.sign_in(akid, secret)
    page = console.page
    assert page.locator("#read-only-badge").inner_text() == "read-only"
    assert console.rows() == ["existing"]
    for absent in ("#create-link", "#import-link", "#delete-selected", "input[name=id]",
                   "#select-all"):
        assert page.locator(absent).count() == 0, absent
    console.shot("read-only-list")
    console.go(f"/console/ec2/key-pairs/{kp_id}?region=us-east-1")
    for absent in ("#add-tag", "#delete-one", "#move-group"):
        assert page.locator(absent).count() == 0, absent
    console.go("/console/ec2/create")
    assert page.locator("#new-key-pair").count() == 0

    # A POST made by hand with the session's own cookie and CSRF token: refused, nothing made.
    cookies = {"keypaird_console": console.cookie()["value"]}
    token = console.csrf()
    for path, form in (("/console/ec2/create", {"name": "forged", "key_type": "ed25519"}),
                       ("/console/ec2/import", {"name": "forged", "public_key": public_line(keys["ed25519"])}),
                       ("/console/ec2/delete", {"id": kp_id}),
                       ("/console/ec2/tags", {"id": kp_id, "op": "add", "key": "k", "value": "v"})):
        r = requests.post(srv.url + path, data={**form, "csrf": token, "region": "us-east-1"},
                          cookies=cookies, allow_redirects=False, timeout=10)
        assert r.status_code == 403, (path, r.status_code)
        assert "This access key may only read" in r.text
    assert list(described(ec2)) == ["existing"]
    assert described(ec2)["existing"].get("Tags", []) == []


def test_changes_need_the_sessions_csrf_token_and_cookies_carry_their_flags(browser, srv, ec2, store, tmp_path):
    first = Console(browser, srv, tmp_path)
    second = Console(browser, srv, tmp_path)
    try:
        first.sign_in(*TESTER[1:])
        akid, secret = new_access_key(sqlite_url(store))
        second.sign_in(akid, secret)
        cookie = first.cookie()
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"], cookie["path"]) == \
            (True, "Strict", False, "/console")
        # Session lifetime: 8 hours from sign-in.
        import time
        assert 8 * 3600 - 60 < cookie["expires"] - time.time() <= 8 * 3600

        cookies = {"keypaird_console": cookie["value"]}
        for token in (None, "", second.csrf(), "AAAA"):
            data = {"name": "csrf-victim", "key_type": "ed25519", "region": "us-east-1"}
            if token is not None:
                data["csrf"] = token
            r = requests.post(srv.url + "/console/ec2/create", data=data, cookies=cookies,
                              allow_redirects=False, timeout=10)
            assert r.status_code == 403, token
            assert "CSRF check failed" in r.text
        # Another site cannot sign the user out either: sign-out needs the token too.
        r = requests.post(srv.url + "/console/sign-out", data={"csrf": second.csrf()},
                          cookies=cookies, allow_redirects=False, timeout=10)
        assert r.status_code == 403 and "CSRF check failed" in r.text
        still = requests.get(srv.url + "/console/ec2/key-pairs", cookies=cookies,
                             allow_redirects=False, timeout=10)
        assert still.status_code == 200
        # Without a session at all, a change is 401.
        r = requests.post(srv.url + "/console/ec2/create", data={"name": "x", "csrf": first.csrf()},
                          allow_redirects=False, timeout=10)
        assert r.status_code == 401
        assert "csrf-victim" not in described(ec2) and "x" not in described(ec2)

        # With the right token, the same POST works (so the refusals above were the token's).
        r = requests.post(srv.url + "/console/ec2/create",
                          data={"name": "csrf-ok", "key_type": "ed25519", "region": "us-east-1",
                                "csrf": first.csrf()}, cookies=cookies, timeout=10)
        assert r.status_code == 200 and r.text.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        assert r.headers["cache-control"] == "no-store"
        assert "csrf-ok" in described(ec2)

        # A sign-in posted from another site is refused before anything is checked.
        r = requests.post(srv.url + "/console/sign-in",
                          data={"access_key_id": TESTER[1], "secret_access_key": TESTER[2]},
                          headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False, timeout=10)
        assert r.status_code == 403 and "set-cookie" not in r.headers
        r = requests.post(srv.url + "/console/sign-in",
                          data={"access_key_id": TESTER[1], "secret_access_key": TESTER[2]},
                          headers={"Origin": "https://evil.example"}, allow_redirects=False, timeout=10)
        assert r.status_code == 403 and "set-cookie" not in r.headers
    finally:
        first.close()
        second.close()


def test_every_page_has_the_security_headers_and_labelled_controls(console, srv):
    console.sign_in(*TESTER[1:])
    for path in ("/console/sign-in", "/console/ec2/key-pairs", "/console/ecs/key-pairs",
                 "/console/ec2/create", "/console/ec2/import", "/console/ecs/create",
                 "/console/activity", "/console/nope"):
        response = console.go(path)
        h = response.headers
        assert h["content-security-policy"] == CSP, path
        assert (h["x-frame-options"], h["x-content-type-options"], h["referrer-policy"]) == \
            ("DENY", "nosniff", "no-referrer"), path
        # Every visible control has a label (a <label>, or aria-label) for screen readers.
        unlabelled = console.page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')].filter(
            e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.outerHTML)""")
        assert unlabelled == [], (path, unlabelled)
    assert console.go("/console/nope").status == 404
    r = requests.get(srv.url + "/console/static/console.js", timeout=10)
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"


def test_failed_sign_ins_are_limited_per_address_and_recorded(srv, store):
    def attempt(secret):
        return requests.post(srv.url + "/console/sign-in",
                             data={"access_key_id": TESTER[1], "secret_access_key": secret},
                             allow_redirects=False, timeout=10)

    for _ in range(5):
        assert attempt("wrong").status_code == 401
    limited = attempt("wrong")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # While limited, even the right secret is not checked.
    assert attempt(TESTER[2]).status_code == 429
    unknown = requests.post(srv.url + "/console/sign-in",
                            data={"access_key_id": "AKIDNOSUCHKEY0000000", "secret_access_key": "x"},
                            allow_redirects=False, timeout=10)
    assert unknown.status_code == 429

    events = [e for e in audit(sqlite_url(store)) if e["eventName"] == "ConsoleLogin"]
    assert len(events) == 5
    for e in events:
        assert (e["source"], e["accessKeyId"], e["errorCode"], e["errorMessage"], e["sourceIp"]) == \
            ("console", TESTER[1], "Failed authentication", "Failed authentication", "127.0.0.1")
        assert e["userAgent"].startswith("python-requests/")
        assert TESTER[2] not in json.dumps(e) and "wrong" not in json.dumps(e)


def test_a_successful_sign_in_is_recorded(console, store):
    console.sign_in(*TESTER[1:])
    (event,) = [e for e in audit(sqlite_url(store)) if e["eventName"] == "ConsoleLogin"]
    assert (event["source"], event["accessKeyId"], event["errorCode"]) == ("console", TESTER[1], None)
    assert event["accountName"] == TESTER[0]
    assert TESTER[2] not in json.dumps(event)


# ---- the ECS tab --------------------------------------------------------------------------------


def test_ecs_create_import_and_resource_group(console, srv, keys, tmp_path):
    from aliyun_support import items
    console.sign_in(*TESTER[1:])
    page = console.page
    console.go("/console/ecs/key-pairs")
    assert page.locator("h1").inner_text() == "ECS SSH key pairs"
    assert page.get_by_label("Region").input_value() == "cn-hangzhou"
    page.get_by_label("Region").fill("cn-shanghai")
    console.press("Switch region")
    assert page.url == srv.url + "/console/ecs/key-pairs?region=cn-shanghai"
    assert page.locator("#no-key-pairs").inner_text() == "No key pairs match in cn-shanghai."
    page.locator("#create-link").click()
    page.get_by_label("Name").fill("ecs-console")
    with page.expect_download() as download:
        page.locator("#submit-new").click()
    key_file = tmp_path / "ecs.pem"
    download.value.save_as(key_file)
    key_file.chmod(0o600)
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")
    derived = run(["ssh-keygen", "-y", "-f", str(key_file)]).split()
    assert derived[0] == "ssh-rsa"

    console.go("/console/ecs/import?region=cn-shanghai")
    page.get_by_label("Name").fill("ecs-imported")
    # Uploaded: the page's script reads the file into the text box.
    page.locator("#public-key-file").set_input_files(str(keys["rsa2048"]) + ".pub")
    page.wait_for_function("document.getElementById('public-key-text').value.startsWith('ssh-rsa ')")
    console.press("Import")
    page.get_by_label("Resource group ID").fill("rg-aek2console")
    console.press("Move")
    assert page.locator("#detail-resource-group").inner_text() == "rg-aek2console"
    console.shot("ecs-detail")

    by_name = {k["KeyPairName"]: k for k in items(srv, region="cn-shanghai")}
    assert set(by_name) == {"ecs-console", "ecs-imported"}
    assert by_name["ecs-imported"]["ResourceGroupId"] == "rg-aek2console"
    fingerprint = run(["ssh-keygen", "-l", "-E", "md5", "-f", str(key_file)]).split()[1]
    assert by_name["ecs-console"]["KeyPairFingerPrint"] == fingerprint.removeprefix("MD5:")
    console.go("/console/ecs/key-pairs?region=cn-shanghai")
    console.shot("ecs-key-pairs")
    assert console.rows() == ["ecs-console", "ecs-imported"]


def test_the_session_cookie_is_secure_when_the_port_speaks_tls(account, store, tmp_path):
    from test_tls import CertificateAuthority
    ca = CertificateAuthority(tmp_path)
    cert, key, _ = ca.issue("console")
    srv = support.start_server(store_url=sqlite_url(store), store_path=store,
                               workdir=tmp_path / "run", creds=TESTER, ca_bundle=str(ca.bundle),
                               extra=["--tls-cert", cert, "--tls-key", key])
    try:
        assert srv.url.startswith("https://")
        r = requests.post(srv.url + "/console/sign-in",
                          data={"access_key_id": TESTER[1], "secret_access_key": TESTER[2]},
                          allow_redirects=False, verify=str(ca.bundle), timeout=10)
        assert (r.status_code, r.headers["location"]) == (303, "/console/ec2/key-pairs")
        assert re.fullmatch(r"keypaird_console=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; Path=/console; "
                            r"HttpOnly; SameSite=Strict; Max-Age=28800; Secure",
                            r.headers["set-cookie"]), r.headers["set-cookie"]
        page = requests.get(srv.url + "/console/ec2/key-pairs", verify=str(ca.bundle),
                            cookies={"keypaird_console": r.cookies["keypaird_console"]}, timeout=10)
        assert page.status_code == 200 and "<h1>EC2 key pairs</h1>" in page.text
    finally:
        srv.stop()
