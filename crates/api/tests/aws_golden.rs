//! Golden tests: exact EC2 XML for each action and error, driven through `AwsDialect::handle`
//! with no sockets, on a real SQLite file. Signatures are not under test here (the integration
//! suite and the auth crate cover them), so the dialect runs with `AnyCredentials`.
//! Values that are random per run (request IDs, key pair IDs, created keys' fingerprints and
//! times) are replaced by placeholders before comparing; imported keys' fingerprints are fixed
//! and compared exactly (values from ssh-keygen / openssl on the same keys).

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use keypaird_api::aws::{AuthMode, AwsDialect};
use keypaird_api::ApiRequest;
use keypaird_inventory::{CredentialCache, Inventory, RsaKeyPool};
use keypaird_keys::PpkVersion;
use keypaird_store::{MasterKeyFile, SqliteStore};

const ED25519_PUB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlBXcQ8dQUXTOi+vEUL1ToFMeJJjLEPXWOmakzLzKxm golden";
/// `ssh-keygen -lf` prints SHA256:pjAhu6mIdmYG09E6OxeeOUWoaNsuw1L1vRfAqx/8wTE; EC2 pads it.
const ED25519_FP: &str = "pjAhu6mIdmYG09E6OxeeOUWoaNsuw1L1vRfAqx/8wTE=";
const RSA_PUB: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC23U+b0FHdWC7lXZkJS5ckc/JpcAojzJ9sGxb3Fu/HCCliIgKdIQjQf2hsuokVKcrFIxx+pXkNtCu7lHptESTFFkf4SSL1xZFyNCNTvH8lXqDXhZGU5/3bfsHH+AjSGdCqnchbd+IoIN3DlLDheY0/3kWZUXHirM9C1GO1+1FyHvScfTMohf1BAnkrC9YLMAIrs2QFzRCh4GzymvIurbip1vG2P96UeRJFwkdnuEwc3M7I3sgkgVQhG8GPBTeRlP8uxZs5FTRGc8OhMEb+c7ukYMDRk0AQljLKo2CUG7Psg2RXc72DEz1ci6t2w1EJbz2n8+KD42YQLSRnDaLYFDlL golden";
/// `ssh-keygen -e -m PKCS8 -f k.pub | openssl pkey -pubin -outform DER | openssl md5 -c`
const RSA_FP: &str = "15:2b:0b:01:d4:84:a6:38:d4:fa:70:2d:62:30:a9:6c";

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const NS: &str = "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"";

struct Harness {
    dialect: AwsDialect,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    harness_with(AuthMode::AnyCredentials)
}

fn harness_with(auth_mode: AuthMode) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("golden.db");
    let store = SqliteStore::open(&path, &MasterKeyFile::beside(&path)).unwrap();
    let store: Arc<dyn keypaird_inventory::Store> = Arc::new(store);
    let inventory = Inventory::new(store.clone(), RsaKeyPool::new(0));
    Harness {
        dialect: AwsDialect {
            inventory,
            credentials: CredentialCache::new(store, std::time::Duration::from_secs(30)),
            auth_mode,
            ppk_version: PpkVersion::V2,
            audit: Default::default(),
        },
        _dir: dir,
    }
}

impl Harness {
    /// Sends a form body as `account` in `region`; returns status, content type and normalised body.
    async fn call_as(
        &self,
        account: &str,
        region: &str,
        form: &str,
    ) -> (StatusCode, String, String) {
        let (status, content_type, body) = self.send(account, region, form).await;
        (status, content_type, normalise(&body))
    }

    /// As `call_as`, without normalising.
    async fn call_raw(&self, account: &str, region: &str, form: &str) -> (StatusCode, String) {
        let (status, _, body) = self.send(account, region, form).await;
        (status, body)
    }

    async fn send(&self, account: &str, region: &str, form: &str) -> (StatusCode, String, String) {
        self.send_body(account, region, format!("{form}&Version=2016-11-15"))
            .await
    }

    /// Sends `body` as it is, `Version` included or not.
    async fn send_body(
        &self,
        account: &str,
        region: &str,
        body: String,
    ) -> (StatusCode, String, String) {
        let now = time::OffsetDateTime::now_utc();
        let amz_date = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            now.year(),
            now.month() as u8,
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).unwrap());
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={account}/{}/{region}/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={}",
            &amz_date[..8],
            "0".repeat(64)
        );
        headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        let request = ApiRequest {
            method: Method::POST,
            path: "/".into(),
            query: String::new(),
            headers,
            body: Bytes::from(body),
            source_ip: "127.0.0.1".into(),
        };
        let response = self.dialect.handle(&request).await;
        (
            response.status,
            response.content_type.to_owned(),
            response.body,
        )
    }

    async fn call(&self, form: &str) -> (StatusCode, String) {
        let (status, content_type, body) = self.call_as("testing", "us-east-1", form).await;
        assert_eq!(content_type, "text/xml;charset=UTF-8");
        (status, body)
    }
}

/// Replaces the text of per-run elements with `*`.
fn normalise(body: &str) -> String {
    let mut out = body.to_owned();
    for element in [
        "requestId",
        "RequestID",
        "keyPairId",
        "createTime",
        "keyMaterial",
    ] {
        let open = format!("<{element}>");
        let close = format!("</{element}>");
        let mut from = 0;
        while let Some(start) = out[from..].find(&open).map(|i| i + from + open.len()) {
            let end = start + out[start..].find(&close).expect("closed element");
            out.replace_range(start..end, "*");
            from = start + 1 + close.len();
        }
    }
    out
}

fn b64(text: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    encoded
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

fn error(code: &str, message: &str) -> String {
    format!("{HEAD}<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>*</RequestID></Response>")
}

#[tokio::test]
async fn import_describe_delete_round_trip() {
    let h = harness();
    let (status, body) = h
        .call(&format!(
            "Action=ImportKeyPair&KeyName=golden&PublicKeyMaterial={}&TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Key=team&TagSpecification.1.Tag.1.Value=infra&TagSpecification.1.Tag.2.Key=empty",
            b64(ED25519_PUB)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        format!("{HEAD}<ImportKeyPairResponse {NS}><requestId>*</requestId><keyPairId>*</keyPairId><keyName>golden</keyName><keyFingerprint>{ED25519_FP}</keyFingerprint><tagSet><item><key>team</key><value>infra</value></item><item><key>empty</key><value/></item></tagSet></ImportKeyPairResponse>")
    );

    let (status, body) = h
        .call("Action=DescribeKeyPairs&KeyName.1=golden&IncludePublicKey=true")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        format!("{HEAD}<DescribeKeyPairsResponse {NS}><requestId>*</requestId><keySet><item><keyPairId>*</keyPairId><keyType>ed25519</keyType><tagSet><item><key>team</key><value>infra</value></item><item><key>empty</key><value/></item></tagSet><publicKey>{ED25519_PUB}</publicKey><createTime>*</createTime><keyName>golden</keyName><keyFingerprint>{ED25519_FP}</keyFingerprint></item></keySet></DescribeKeyPairsResponse>")
    );

    let (status, body) = h.call("Action=DeleteKeyPair&KeyName=golden").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!("{HEAD}<DeleteKeyPairResponse {NS}><requestId>*</requestId><return>true</return><keyPairId>*</keyPairId></DeleteKeyPairResponse>")
    );
    // Idempotent: deleting again succeeds, without keyPairId.
    let (status, body) = h.call("Action=DeleteKeyPair&KeyName=golden").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!("{HEAD}<DeleteKeyPairResponse {NS}><requestId>*</requestId><return>true</return></DeleteKeyPairResponse>")
    );
    let (_, body) = h.call("Action=DescribeKeyPairs").await;
    assert_eq!(
        body,
        format!("{HEAD}<DescribeKeyPairsResponse {NS}><requestId>*</requestId><keySet/></DescribeKeyPairsResponse>")
    );
}

#[tokio::test]
async fn imported_rsa_uses_the_md5_of_the_spki() {
    let h = harness();
    let (status, body) = h
        .call(&format!(
            "Action=ImportKeyPair&KeyName=rsa&PublicKeyMaterial={}",
            b64(RSA_PUB)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(&format!("<keyFingerprint>{RSA_FP}</keyFingerprint>")),
        "{body}"
    );
    assert!(!body.contains("tagSet"), "{body}");
    // Raw key text (not base64) is accepted too, as the reference decides.
    let raw = RSA_PUB
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace(' ', "+");
    let (status, body) = h
        .call(&format!(
            "Action=ImportKeyPair&KeyName=raw&PublicKeyMaterial={raw}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&format!("<keyFingerprint>{RSA_FP}</keyFingerprint>")));
}

#[tokio::test]
async fn errors_have_the_ec2_envelope_and_wording() {
    let h = harness();
    let import = format!(
        "Action=ImportKeyPair&KeyName=dup&PublicKeyMaterial={}",
        b64(ED25519_PUB)
    );
    assert_eq!(h.call(&import).await.0, StatusCode::OK);
    let cases: Vec<(String, StatusCode, String)> = vec![
        (
            import.clone(),
            StatusCode::BAD_REQUEST,
            error("InvalidKeyPair.Duplicate", "The keypair 'dup' already exists."),
        ),
        (
            "Action=DescribeKeyPairs&KeyName.1=dup&KeyName.2=nope".into(),
            StatusCode::BAD_REQUEST,
            error("InvalidKeyPair.NotFound", "The key pair 'nope' does not exist"),
        ),
        (
            "Action=DescribeKeyPairs&KeyPairId.1=key-0123456789abcdef0".into(),
            StatusCode::BAD_REQUEST,
            error("InvalidKeyPair.NotFound", "The key pair ID 'key-0123456789abcdef0' does not exist"),
        ),
        (
            format!("Action=ImportKeyPair&KeyName=bad&PublicKeyMaterial={}", b64("ssh-dss AAAA garbage")),
            StatusCode::BAD_REQUEST,
            error("InvalidKey.Format", "Key is not in valid OpenSSH public key format"),
        ),
        (
            "Action=CreateKeyPair".into(),
            StatusCode::BAD_REQUEST,
            error("MissingParameter", "The request must contain the parameter KeyName"),
        ),
        (
            "Action=CreateKeyPair&KeyName=x&Bogus=1".into(),
            StatusCode::BAD_REQUEST,
            error("UnknownParameter", "The parameter Bogus is not recognized"),
        ),
        (
            "Action=RunInstances".into(),
            StatusCode::BAD_REQUEST,
            error("InvalidAction", "The action RunInstances is not valid for this web service."),
        ),
        (
            "Action=CreateKeyPair&KeyName=x&KeyType=dsa".into(),
            StatusCode::BAD_REQUEST,
            error("InvalidParameterValue", "Value (dsa) for parameter KeyType is invalid. Valid values are rsa and ed25519."),
        ),
        (
            "Action=CreateKeyPair&KeyName=x&DryRun=true".into(),
            StatusCode::PRECONDITION_FAILED,
            error("DryRunOperation", "Request would have succeeded, but DryRun flag is set."),
        ),
        (
            "Action=DescribeKeyPairs&Filter.1.Name=owner&Filter.1.Value.1=x".into(),
            StatusCode::BAD_REQUEST,
            error("InvalidParameterValue", "The filter 'owner' is invalid"),
        ),
        (
            format!("Action=CreateKeyPair&KeyName={}", "k".repeat(256)),
            StatusCode::BAD_REQUEST,
            error("InvalidParameterValue", &format!("Value ({}) for parameter KeyName is invalid. Length exceeds maximum of 255 characters.", "k".repeat(256))),
        ),
        (
            "Action=CreateTags&ResourceId.1=i-123&Tag.1.Key=a".into(),
            StatusCode::BAD_REQUEST,
            error("InvalidID", "The ID 'i-123' is not valid"),
        ),
    ];
    for (form, status, expected) in cases {
        let (got_status, body) = h.call(&form).await;
        assert_eq!((got_status, &body), (status, &expected), "request: {form}");
    }
    // DryRun changed nothing.
    let (_, body) = h.call("Action=DescribeKeyPairs&KeyName.1=x").await;
    assert!(body.contains("InvalidKeyPair.NotFound"), "{body}");
}

#[tokio::test]
async fn scopes_isolate_accounts_and_regions() {
    let h = harness();
    let import = format!(
        "Action=ImportKeyPair&KeyName=same&PublicKeyMaterial={}",
        b64(ED25519_PUB)
    );
    for (account, region) in [
        ("alice", "us-east-1"),
        ("alice", "eu-west-1"),
        ("bobby", "us-east-1"),
    ] {
        let (status, _, body) = h.call_as(account, region, &import).await;
        assert_eq!(status, StatusCode::OK, "{account} {region}: {body}");
    }
    let (_, _, body) = h
        .call_as("alice", "us-east-1", "Action=DescribeKeyPairs")
        .await;
    assert_eq!(body.matches("<keyName>same</keyName>").count(), 1, "{body}");
    let (_, _, body) = h
        .call_as("carol", "us-east-1", "Action=DescribeKeyPairs")
        .await;
    assert!(body.contains("<keySet/>"), "{body}");
}

#[tokio::test]
async fn filters_wildcards_and_tags() {
    let h = harness();
    for (name, team) in [
        ("web-1", "blue"),
        ("web-2", "green"),
        ("db-1", "blue"),
        ("w*b", "red"),
    ] {
        let form = format!(
            "Action=ImportKeyPair&KeyName={}&PublicKeyMaterial={}&TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Key=team&TagSpecification.1.Tag.1.Value={team}",
            name.replace('*', "%2A"),
            b64(ED25519_PUB)
        );
        assert_eq!(h.call(&form).await.0, StatusCode::OK);
    }
    let names = |body: &str| {
        let mut names: Vec<String> = body
            .split("<keyName>")
            .skip(1)
            .map(|s| s[..s.find('<').unwrap()].to_owned())
            .collect();
        names.sort();
        names
    };
    let cases = [
        ("Filter.1.Name=key-name&Filter.1.Value.1=web-*", vec!["web-1", "web-2"]),
        ("Filter.1.Name=key-name&Filter.1.Value.1=web-%3F", vec!["web-1", "web-2"]),
        ("Filter.1.Name=key-name&Filter.1.Value.1=w%5C*b", vec!["w*b"]),
        ("Filter.1.Name=key-name&Filter.1.Value.1=w*b", vec!["w*b"]),
        ("Filter.1.Name=tag:team&Filter.1.Value.1=blue", vec!["db-1", "web-1"]),
        ("Filter.1.Name=tag:team&Filter.1.Value.1=blue&Filter.1.Value.2=green", vec!["db-1", "web-1", "web-2"]),
        ("Filter.1.Name=tag:team&Filter.1.Value.1=blue&Filter.2.Name=key-name&Filter.2.Value.1=web*", vec!["web-1"]),
        ("Filter.1.Name=tag-key&Filter.1.Value.1=te?m", vec!["db-1", "w*b", "web-1", "web-2"]),
        ("Filter.1.Name=tag:Team&Filter.1.Value.1=*", vec![]),
        (&format!("Filter.1.Name=fingerprint&Filter.1.Value.1={}", ED25519_FP.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")), vec!["db-1", "w*b", "web-1", "web-2"]),
    ];
    for (filter, expected) in cases {
        let (status, body) = h.call(&format!("Action=DescribeKeyPairs&{filter}")).await;
        assert_eq!(status, StatusCode::OK, "{filter}: {body}");
        assert_eq!(names(&body), expected, "{filter}");
    }
}

#[tokio::test]
async fn create_tags_delete_tags_and_describe_tags_paging() {
    let h = harness();
    let form = format!(
        "Action=ImportKeyPair&KeyName=t&PublicKeyMaterial={}",
        b64(ED25519_PUB)
    );
    let (status, body) = h.call_raw("testing", "us-east-1", &form).await;
    assert_eq!(status, StatusCode::OK);
    let id = body
        .split("<keyPairId>")
        .nth(1)
        .and_then(|s| s.split("</keyPairId>").next())
        .expect("a keyPairId")
        .to_owned();
    let tags: String = (1..=7)
        .map(|i| format!("&Tag.{i}.Key=k{i}&Tag.{i}.Value=v{i}"))
        .collect();
    let (status, body) = h
        .call(&format!("Action=CreateTags&ResourceId.1={id}{tags}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        format!("{HEAD}<CreateTagsResponse {NS}><requestId>*</requestId><return>true</return></CreateTagsResponse>")
    );
    let (status, body) = h.call("Action=DescribeTags&MaxResults=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.matches("<item>").count(), 5, "{body}");
    assert!(body.contains(&format!("<item><resourceId>{id}</resourceId><resourceType>key-pair</resourceType><key>k1</key><value>v1</value></item>")), "{body}");
    let token = body
        .split("<nextToken>")
        .nth(1)
        .and_then(|s| s.split("</nextToken>").next())
        .expect("a nextToken")
        .to_owned();
    let (_, body) = h
        .call(&format!(
            "Action=DescribeTags&MaxResults=5&NextToken={token}"
        ))
        .await;
    assert_eq!(body.matches("<item>").count(), 2, "{body}");
    assert!(!body.contains("<nextToken>"), "{body}");
    // Delete by key regardless of value, and by key+value only when the value matches.
    let (status, _) = h
        .call(&format!("Action=DeleteTags&ResourceId.1={id}&Tag.1.Key=k1&Tag.2.Key=k2&Tag.2.Value=other&Tag.3.Key=k3&Tag.3.Value=v3"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = h
        .call(&format!(
            "Action=DescribeTags&Filter.1.Name=resource-id&Filter.1.Value.1={id}"
        ))
        .await;
    let keys: Vec<&str> = body
        .split("<key>")
        .skip(1)
        .map(|s| &s[..s.find('<').unwrap()])
        .collect();
    assert_eq!(keys, vec!["k2", "k4", "k5", "k6", "k7"], "{body}");
    let (status, body) = h.call("Action=DescribeTags&MaxResults=4").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<Code>InvalidParameterValue</Code>"),
        "{body}"
    );
    let (status, body) = h.call("Action=DescribeTags&NextToken=%21%21").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<Code>InvalidPaginationToken</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn imported_material_comes_back_byte_for_byte() {
    let h = harness();
    let (type_name, rest) = ED25519_PUB.split_once(' ').unwrap();
    let (base64_blob, _comment) = rest.split_once(' ').unwrap();
    // An RFC 4716 block with a header and its trailing newline, and an OpenSSH line with a
    // stray backslash in its base64 (skipped when decoding, kept in what is returned).
    let rfc4716 = format!(
        "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"golden <key>\"\n{}\n{}\n---- END SSH2 PUBLIC KEY ----\n",
        &base64_blob[..40],
        &base64_blob[40..]
    );
    let stray = format!(
        "{type_name} {}\\{} golden\n",
        &base64_blob[..30],
        &base64_blob[30..]
    );
    let rfc4716_returned = format!(
        "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"golden &lt;key&gt;\"\n{}\n{}\n---- END SSH2 PUBLIC KEY ----\n",
        &base64_blob[..40],
        &base64_blob[40..]
    );
    // Windows line endings too: `\r` is written `&#13;`, which XML parsers hand back as is.
    let crlf = rfc4716.replace('\n', "\r\n");
    for (name, material, returned) in [
        ("rfc4716", &rfc4716, rfc4716_returned.clone()),
        ("crlf", &crlf, rfc4716_returned.replace('\n', "&#13;\n")),
        ("stray", &stray, stray.clone()),
    ] {
        let (status, body) = h
            .call(&format!(
                "Action=ImportKeyPair&KeyName={name}&PublicKeyMaterial={}",
                b64(material)
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            format!("{HEAD}<ImportKeyPairResponse {NS}><requestId>*</requestId><keyPairId>*</keyPairId><keyName>{name}</keyName><keyFingerprint>{ED25519_FP}</keyFingerprint></ImportKeyPairResponse>")
        );
        let (status, body) = h
            .call(&format!(
                "Action=DescribeKeyPairs&KeyName.1={name}&IncludePublicKey=true"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            format!("{HEAD}<DescribeKeyPairsResponse {NS}><requestId>*</requestId><keySet><item><keyPairId>*</keyPairId><keyType>ed25519</keyType><tagSet/><publicKey>{returned}</publicKey><createTime>*</createTime><keyName>{name}</keyName><keyFingerprint>{ED25519_FP}</keyFingerprint></item></keySet></DescribeKeyPairsResponse>")
        );
    }
    // Leniency stops at what does not parse: all junk, or one base64 character short.
    for junk in [
        format!("{type_name} \\*\\ golden"),
        format!("{type_name} {}\\ golden", &base64_blob[1..]),
    ] {
        let (status, body) = h
            .call(&format!(
                "Action=ImportKeyPair&KeyName=junk&PublicKeyMaterial={}",
                b64(&junk)
            ))
            .await;
        assert_eq!(
            (status, body),
            (
                StatusCode::BAD_REQUEST,
                error(
                    "InvalidKey.Format",
                    "Key is not in valid OpenSSH public key format"
                )
            ),
            "{junk}"
        );
    }
}

#[tokio::test]
async fn create_and_import_without_tags_have_no_tag_set() {
    let h = harness();
    let (status, body) = h
        .call("Action=CreateKeyPair&KeyName=plain&KeyType=ed25519")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fingerprint = body
        .split_once("<keyFingerprint>")
        .and_then(|(_, rest)| rest.split_once("</keyFingerprint>"))
        .map(|(fingerprint, _)| fingerprint.to_owned())
        .unwrap();
    assert_eq!(
        body,
        format!("{HEAD}<CreateKeyPairResponse {NS}><requestId>*</requestId><keyPairId>*</keyPairId><keyName>plain</keyName><keyFingerprint>{fingerprint}</keyFingerprint><keyMaterial>*</keyMaterial></CreateKeyPairResponse>")
    );
    let (_, body) = h
        .call("Action=CreateKeyPair&KeyName=tagged&KeyType=ed25519&TagSpecification.1.ResourceType=key-pair&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v")
        .await;
    assert!(
        body.ends_with("</keyMaterial><tagSet><item><key>k</key><value>v</value></item></tagSet></CreateKeyPairResponse>"),
        "{body}"
    );
    let (status, body) = h
        .call(&format!(
            "Action=ImportKeyPair&KeyName=imported&PublicKeyMaterial={}",
            b64(ED25519_PUB)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        format!("{HEAD}<ImportKeyPairResponse {NS}><requestId>*</requestId><keyPairId>*</keyPairId><keyName>imported</keyName><keyFingerprint>{ED25519_FP}</keyFingerprint></ImportKeyPairResponse>")
    );
    // DescribeKeyPairs keeps its empty set.
    let (_, body) = h.call("Action=DescribeKeyPairs&KeyName.1=plain").await;
    assert_eq!(
        body,
        format!("{HEAD}<DescribeKeyPairsResponse {NS}><requestId>*</requestId><keySet><item><keyPairId>*</keyPairId><keyType>ed25519</keyType><tagSet/><createTime>*</createTime><keyName>plain</keyName><keyFingerprint>{fingerprint}</keyFingerprint></item></keySet></DescribeKeyPairsResponse>")
    );
}

#[tokio::test]
async fn versions_must_be_published_ones() {
    let h = harness();
    for version in ["2016-11-15", "2014-09-01", "2010-08-31", "2006-06-26"] {
        let (status, _, body) = h
            .send_body(
                "testing",
                "us-east-1",
                format!("Action=DescribeKeyPairs&Version={version}"),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{version}: {body}");
    }
    // No Version at all is taken as the current one.
    let (status, _, _) = h
        .send_body("testing", "us-east-1", "Action=DescribeKeyPairs".into())
        .await;
    assert_eq!(status, StatusCode::OK);
    for version in ["1999-01-01", "2016-11-16", "2014-05-26", "", "latest"] {
        let (status, _, body) = h
            .send_body(
                "testing",
                "us-east-1",
                format!("Action=DescribeKeyPairs&Version={version}"),
            )
            .await;
        assert_eq!(
            (status, normalise(&body)),
            (
                StatusCode::BAD_REQUEST,
                error(
                    "NoSuchVersion",
                    &format!(
                        "The requested version ({version}) of service AmazonEC2 does not exist"
                    )
                )
            )
        );
    }
}

#[tokio::test]
async fn an_unknown_version_is_refused_before_authentication() {
    // Verified signatures, and "testing" is no account: only the version is wrong in one of
    // the two requests, and that is what the caller is told.
    let h = harness_with(AuthMode::Verify);
    let (status, _, body) = h
        .send_body(
            "testing",
            "us-east-1",
            "Action=DescribeKeyPairs&Version=1999-01-01".into(),
        )
        .await;
    assert_eq!(
        (status, normalise(&body)),
        (
            StatusCode::BAD_REQUEST,
            error(
                "NoSuchVersion",
                "The requested version (1999-01-01) of service AmazonEC2 does not exist"
            )
        )
    );
    let (status, _, body) = h
        .send_body(
            "testing",
            "us-east-1",
            "Action=DescribeKeyPairs&Version=2016-11-15".into(),
        )
        .await;
    assert_eq!(
        (status, normalise(&body)),
        (
            StatusCode::UNAUTHORIZED,
            error(
                "AuthFailure",
                "AWS was not able to validate the provided access credentials"
            )
        )
    );
}
