//! Golden tests: exact ECS JSON and XML for the actions and errors, driven through
//! `AliyunDialect::handle` with no sockets, on a real SQLite file. Signatures are not under test
//! here (the auth crate and the integration suite cover them), so the dialect runs with
//! `AnyCredentials`; the common parameters are still sent, as the parser requires them.
//! Request IDs, key pair IDs, created keys and creation times vary per run and are replaced by
//! placeholders; imported keys' fingerprints are compared exactly (values from
//! `ssh-keygen -l -E md5` on the same keys).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use keypaird_api::aliyun::AliyunDialect;
use keypaird_api::aws::AuthMode;
use keypaird_api::ApiRequest;
use keypaird_inventory::{CredentialCache, Inventory, RsaKeyPool};
use keypaird_store::{MasterKeyFile, SqliteStore};

const RSA_PUB: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC23U+b0FHdWC7lXZkJS5ckc/JpcAojzJ9sGxb3Fu/HCCliIgKdIQjQf2hsuokVKcrFIxx+pXkNtCu7lHptESTFFkf4SSL1xZFyNCNTvH8lXqDXhZGU5/3bfsHH+AjSGdCqnchbd+IoIN3DlLDheY0/3kWZUXHirM9C1GO1+1FyHvScfTMohf1BAnkrC9YLMAIrs2QFzRCh4GzymvIurbip1vG2P96UeRJFwkdnuEwc3M7I3sgkgVQhG8GPBTeRlP8uxZs5FTRGc8OhMEb+c7ukYMDRk0AQljLKo2CUG7Psg2RXc72DEz1ci6t2w1EJbz2n8+KD42YQLSRnDaLYFDlL golden";
/// `ssh-keygen -l -E md5` of RSA_PUB, without `MD5:`.
const RSA_MD5: &str = "01:68:8b:ec:c8:34:d7:dd:09:c8:e6:c7:f1:61:76:ed";
const ED25519_PUB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGlBXcQ8dQUXTOi+vEUL1ToFMeJJjLEPXWOmakzLzKxm golden";
const ED25519_MD5: &str = "54:a0:1e:b9:fd:9a:92:c6:21:82:d8:43:3e:af:c6:f3";

const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

struct Harness {
    dialect: AliyunDialect,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("golden.db");
    let store = SqliteStore::open(&path, &MasterKeyFile::beside(&path)).unwrap();
    let store: Arc<dyn keypaird_inventory::Store> = Arc::new(store);
    Harness {
        dialect: AliyunDialect {
            inventory: Inventory::new(store.clone(), RsaKeyPool::new(0)),
            credentials: CredentialCache::new(store, std::time::Duration::from_secs(30)),
            auth_mode: AuthMode::AnyCredentials,
            audit: Default::default(),
        },
        _dir: dir,
    }
}

fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl Harness {
    /// Sends `Action` with `params` as a v1-style query; returns status, content type and the
    /// body with per-run values replaced.
    async fn call(&self, action: &str, params: &[(&str, &str)]) -> (StatusCode, String, String) {
        let timestamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .unwrap();
        let nonce = uuid::Uuid::new_v4().to_string();
        let mut query = format!(
            "Action={action}&Version=2014-05-26&AccessKeyId=LTAIgolden&SignatureMethod=HMAC-SHA1\
             &SignatureVersion=1.0&SignatureNonce={nonce}&Timestamp={}&Signature=unchecked",
            encode(&timestamp)
        );
        for (name, value) in params {
            query.push_str(&format!("&{name}={}", encode(value)));
        }
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("127.0.0.1:8787"));
        let response = self
            .dialect
            .handle(&ApiRequest {
                method: Method::POST,
                path: "/".into(),
                query,
                headers,
                body: Bytes::new(),
                source_ip: "127.0.0.1".into(),
            })
            .await;
        (
            response.status,
            response.content_type.to_owned(),
            normalise(&response.body),
        )
    }

    async fn json(&self, action: &str, params: &[(&str, &str)]) -> (StatusCode, String) {
        let mut all = vec![("Format", "JSON"), ("RegionId", "cn-hangzhou")];
        all.extend_from_slice(params);
        let (status, content_type, body) = self.call(action, &all).await;
        assert_eq!(content_type, "application/json;charset=utf-8");
        (status, body)
    }

    async fn xml(&self, action: &str, params: &[(&str, &str)]) -> (StatusCode, String) {
        let mut all = vec![("RegionId", "cn-hangzhou")];
        all.extend_from_slice(params);
        let (status, content_type, body) = self.call(action, &all).await;
        assert_eq!(content_type, "text/xml;charset=utf-8");
        (status, body)
    }
}

/// Replaces what differs per run: request IDs, key pair IDs, created key material and
/// fingerprints, and creation times.
fn normalise(body: &str) -> String {
    // The request ID appears twice in errors (RequestId and Recommend): replace it everywhere.
    let request_id = ["\"RequestId\":\"", "<RequestId>"]
        .iter()
        .find_map(|start| body.split(start).nth(1))
        .map(|rest| &rest[..36])
        .expect("every reply has a RequestId");
    assert_eq!(
        request_id,
        request_id.to_ascii_uppercase(),
        "uppercase UUID"
    );
    let mut out = body.replace(request_id, "REQUEST-ID");
    for (start, end, placeholder) in [
        ("\"KeyPairId\":\"", "\"", "KEY-PAIR-ID"),
        ("<KeyPairId>", "<", "KEY-PAIR-ID"),
        ("\"PrivateKeyBody\":\"", "\"", "PRIVATE-KEY"),
        ("<PrivateKeyBody>", "<", "PRIVATE-KEY"),
        ("\"CreationTime\":\"", "\"", "TIME"),
        ("<CreationTime>", "<", "TIME"),
    ] {
        out = replace_between(&out, start, end, placeholder);
    }
    out
}

fn replace_between(text: &str, start: &str, end: &str, placeholder: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(start) {
        let value_start = at + start.len();
        out.push_str(&rest[..value_start]);
        let value_len = rest[value_start..].find(end).unwrap_or(0);
        out.push_str(placeholder);
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn import_then_describe_in_json() {
    let h = harness();
    let (status, body) = h
        .json(
            "ImportKeyPair",
            &[
                ("KeyPairName", "golden-rsa"),
                ("PublicKeyBody", RSA_PUB),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "infra"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!(
            r#"{{"RequestId":"REQUEST-ID","KeyPairId":"KEY-PAIR-ID","KeyPairName":"golden-rsa","KeyPairFingerPrint":"{RSA_MD5}"}}"#
        )
    );
    // Newest first is by creation time to the millisecond; keep the two apart.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    h.json(
        "ImportKeyPair",
        &[("KeyPairName", "golden-ed"), ("PublicKeyBody", ED25519_PUB)],
    )
    .await;

    let (status, body) = h
        .json(
            "DescribeKeyPairs",
            &[("IncludePublicKey", "True"), ("PageSize", "50")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!(
            concat!(
                r#"{{"RequestId":"REQUEST-ID","TotalCount":2,"PageNumber":1,"PageSize":50,"KeyPairs":{{"KeyPair":["#,
                r#"{{"KeyPairName":"golden-ed","KeyPairFingerPrint":"{ed}","CreationTime":"TIME","ResourceGroupId":"","PublicKey":"{ed_pub}","Tags":{{"Tag":[]}}}},"#,
                r#"{{"KeyPairName":"golden-rsa","KeyPairFingerPrint":"{rsa}","CreationTime":"TIME","ResourceGroupId":"","PublicKey":"{rsa_pub}","Tags":{{"Tag":[{{"TagKey":"team","TagValue":"infra"}}]}}}}"#,
                r#"]}}}}"#
            ),
            ed = ED25519_MD5,
            ed_pub = ED25519_PUB,
            rsa = RSA_MD5,
            rsa_pub = RSA_PUB,
        )
    );
}

#[tokio::test]
async fn describe_in_xml_without_public_keys() {
    let h = harness();
    h.json(
        "ImportKeyPair",
        &[("KeyPairName", "golden-ed"), ("PublicKeyBody", ED25519_PUB)],
    )
    .await;
    let (status, body) = h.xml("DescribeKeyPairs", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!(
            "{XML_HEAD}<DescribeKeyPairsResponse><RequestId>REQUEST-ID</RequestId><TotalCount>1</TotalCount>\
             <PageNumber>1</PageNumber><PageSize>10</PageSize><KeyPairs><KeyPair><KeyPairName>golden-ed</KeyPairName>\
             <KeyPairFingerPrint>{ED25519_MD5}</KeyPairFingerPrint><CreationTime>TIME</CreationTime>\
             <ResourceGroupId></ResourceGroupId><Tags></Tags></KeyPair></KeyPairs></DescribeKeyPairsResponse>"
        )
    );
}

#[tokio::test]
async fn create_key_pair_in_both_formats() {
    let h = harness();
    let (status, body) = h.json("CreateKeyPair", &[("KeyPairName", "made")]).await;
    assert_eq!(status, StatusCode::OK);
    // The fingerprint is of a fresh key: check its shape, then the rest exactly.
    let fingerprint = body
        .split("\"KeyPairFingerPrint\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert_eq!(fingerprint.len(), 47, "{fingerprint}");
    assert!(fingerprint.split(':').all(|b| b.len() == 2
        && b.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())));
    assert_eq!(
        body,
        format!(
            r#"{{"RequestId":"REQUEST-ID","KeyPairId":"KEY-PAIR-ID","KeyPairName":"made","KeyPairFingerPrint":"{fingerprint}","PrivateKeyBody":"PRIVATE-KEY"}}"#
        )
    );

    let (status, body) = h.xml("CreateKeyPair", &[("KeyPairName", "made2")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.starts_with(&format!(
            "{XML_HEAD}<CreateKeyPairResponse><RequestId>REQUEST-ID</RequestId><KeyPairId>KEY-PAIR-ID</KeyPairId><KeyPairName>made2</KeyPairName><KeyPairFingerPrint>"
        )),
        "{body}"
    );
    assert!(body.ends_with(
        "</KeyPairFingerPrint><PrivateKeyBody>PRIVATE-KEY</PrivateKeyBody></CreateKeyPairResponse>"
    ));
}

#[tokio::test]
async fn errors_in_both_formats() {
    let h = harness();
    h.json(
        "ImportKeyPair",
        &[("KeyPairName", "taken"), ("PublicKeyBody", ED25519_PUB)],
    )
    .await;
    let (status, body) = h
        .json(
            "ImportKeyPair",
            &[("KeyPairName", "taken"), ("PublicKeyBody", ED25519_PUB)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        r#"{"RequestId":"REQUEST-ID","HostId":"127.0.0.1:8787","Code":"KeyPair.AlreadyExist","Message":"The key pair already exist.","Recommend":"https://api.aliyun.com/troubleshoot?q=KeyPair.AlreadyExist&product=Ecs&requestId=REQUEST-ID"}"#
    );

    let (status, body) = h.xml("CreateKeyPair", &[("KeyPairName", "1bad")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        format!(
            "{XML_HEAD}<Error><RequestId>REQUEST-ID</RequestId><HostId>127.0.0.1:8787</HostId>\
             <Code>InvalidKeyPairName.Malformed</Code><Message>Specified Key Pair name is not valid.</Message>\
             <Recommend>https://api.aliyun.com/troubleshoot?q=InvalidKeyPairName.Malformed&amp;product=Ecs&amp;requestId=REQUEST-ID</Recommend></Error>"
        )
    );
}

/// Action, parameters, status, code, message.
type ErrorCase = (
    &'static str,
    &'static [(&'static str, &'static str)],
    u16,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn error_table() {
    let h = harness();
    h.json(
        "ImportKeyPair",
        &[("KeyPairName", "exists"), ("PublicKeyBody", ED25519_PUB)],
    )
    .await;
    let cases: &[ErrorCase] = &[
        ("CreateKeyPair", &[], 400, "MissingParameter",
         "The input parameter \"KeyPairName\" that is mandatory for processing this request is not supplied."),
        ("ImportKeyPair", &[("KeyPairName", "abc"), ("PublicKeyBody", "ssh-rsa AAAA")], 400,
         "InvalidPublicKeyBody.Malformed", "The PublicKeyBody format is not supported."),
        ("DeleteKeyPairs", &[("KeyPairNames", "exists")], 400,
         "InvalidKeyPairNames.ValueNotSupported", "The specified parameter \"KeyPairNames\" is not valid."),
        ("DescribeKeyPairs", &[("PageSize", "51")], 400, "InvalidParameter",
         "The specified parameter \"PageSize\" is not valid."),
        ("DescribeKeyPairs", &[("IncludePublicKey", "yes")], 400, "InvalidParameter",
         "The specified parameter \"IncludePublicKey\" is not valid."),
        ("AttachKeyPair", &[("KeyPairName", "nope"), ("InstanceIds", "[\"i-1\"]")], 400,
         "InvalidKeyPairName.NotFound", "The specified KeyPairName does not exist in our records."),
        ("CreateKeyPair", &[("KeyPairName", "dup"), ("Tag.1.Key", "a"), ("Tag.2.Key", "a")], 400,
         "Duplicate.TagKey", "The Tag.N.Key contain duplicate key."),
        ("CreateKeyPair", &[("KeyPairName", "tagk"), ("Tag.1.Key", "aliyun-x")], 400,
         "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid."),
        ("CreateKeyPair", &[("KeyPairName", "tagv"), ("Tag.1.Key", "k"), ("Tag.1.Value", "http://x")], 400,
         "InvalidTagValue.Malformed", "The specified Tag.n.Value is not valid."),
        ("TagResources", &[("ResourceType", "keypair"), ("ResourceId.1", "nope"), ("Tag.1.Key", "k")], 404,
         "InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records."),
        ("TagResources", &[("ResourceType", "instance"), ("ResourceId.1", "exists"), ("Tag.1.Key", "k")], 404,
         "InvalidResourceType.NotFound", "The ResourceType provided does not exist in our records."),
        ("TagResources", &[("ResourceType", "keypair"), ("ResourceId.51", "exists"), ("Tag.1.Key", "k")], 400,
         "NumberExceed.ResourceIds", "The maximum number of ResourceIds is 50."),
        ("TagResources", &[("ResourceType", "keypair"), ("ResourceId.1", "exists"), ("Tag.21.Key", "k")], 400,
         "NumberExceed.Tags", "The maximum number of Tags is 20."),
        ("RunInstances", &[], 404, "InvalidAction.NotFound",
         "Specified api is not found, please check your url and method."),
    ];
    for (action, params, status, code, message) in cases {
        let (got_status, body) = h.json(action, params).await;
        let expected = format!(
            r#"{{"RequestId":"REQUEST-ID","HostId":"127.0.0.1:8787","Code":"{code}","Message":{},"Recommend":"https://api.aliyun.com/troubleshoot?q={code}&product=Ecs&requestId=REQUEST-ID"}}"#,
            serde_json::to_string(message).unwrap()
        );
        assert_eq!(
            (got_status.as_u16(), body),
            (*status, expected),
            "{action} {params:?}"
        );
    }
}

#[tokio::test]
async fn attach_reports_every_instance_as_failed() {
    let h = harness();
    h.json(
        "ImportKeyPair",
        &[("KeyPairName", "kp"), ("PublicKeyBody", ED25519_PUB)],
    )
    .await;
    let (status, body) = h
        .json(
            "AttachKeyPair",
            &[("KeyPairName", "kp"), ("InstanceIds", r#"["i-1","i-2"]"#)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let failed = |id: &str| {
        format!(
            r#"{{"InstanceId":"{id}","Success":"false","Code":"InvalidInstanceId.NotFound","Message":"The specified InstanceId does not exist."}}"#
        )
    };
    assert_eq!(
        body,
        format!(
            r#"{{"RequestId":"REQUEST-ID","KeyPairName":"kp","TotalCount":"2","FailCount":"2","Results":{{"Result":[{},{}]}}}}"#,
            failed("i-1"),
            failed("i-2")
        )
    );
}

#[tokio::test]
async fn tags_and_resource_groups_round_trip() {
    let h = harness();
    h.json(
        "ImportKeyPair",
        &[("KeyPairName", "kp"), ("PublicKeyBody", ED25519_PUB)],
    )
    .await;
    let (status, body) = h
        .json(
            "TagResources",
            &[
                ("ResourceType", "keypair"),
                ("ResourceId.1", "kp"),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "prod"),
                ("Tag.2.Key", "team"),
            ],
        )
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"RequestId":"REQUEST-ID"}"#)
    );

    let (_, body) = h
        .json(
            "ListTagResources",
            &[("ResourceType", "keypair"), ("ResourceId.1", "kp")],
        )
        .await;
    assert_eq!(
        body,
        concat!(
            r#"{"RequestId":"REQUEST-ID","NextToken":"","TagResources":{"TagResource":["#,
            r#"{"ResourceId":"kp","ResourceType":"keypair","TagKey":"env","TagValue":"prod"},"#,
            r#"{"ResourceId":"kp","ResourceType":"keypair","TagKey":"team","TagValue":""}]}}"#
        )
    );

    let (status, _) = h
        .json(
            "UntagResources",
            &[
                ("ResourceType", "keypair"),
                ("ResourceId.1", "kp"),
                ("TagKey.1", "env"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .json(
            "JoinResourceGroup",
            &[
                ("ResourceType", "keypair"),
                ("ResourceId", "kp"),
                ("ResourceGroupId", "rg-1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = h
        .json(
            "DescribeKeyPairs",
            &[("ResourceGroupId", "rg-1"), ("Tag.1.Key", "team")],
        )
        .await;
    assert!(body.contains(r#""TotalCount":1"#), "{body}");
    assert!(
        body.contains(
            r#""ResourceGroupId":"rg-1","Tags":{"Tag":[{"TagKey":"team","TagValue":""}]}"#
        ),
        "{body}"
    );
    let (_, body) = h.json("DescribeKeyPairs", &[("Tag.1.Key", "env")]).await;
    assert!(body.contains(r#""TotalCount":0"#), "{body}");
}

#[tokio::test]
async fn describe_instances_is_empty() {
    let h = harness();
    let (status, body) = h.json("DescribeInstances", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        r#"{"RequestId":"REQUEST-ID","Instances":{"Instance":[]},"TotalCount":0,"PageNumber":1,"PageSize":10}"#
    );
}

#[tokio::test]
async fn imported_public_key_body_comes_back_as_sent() {
    let h = harness();
    let (type_name, rest) = ED25519_PUB.split_once(' ').unwrap();
    // Surrounding blanks and a stray backslash in the base64: the key is the same, and the
    // text returned is the text sent.
    let sent = format!("  {type_name} {}\\{}\n", &rest[..30], &rest[30..]);
    let (status, body) = h
        .json(
            "ImportKeyPair",
            &[("KeyPairName", "verbatim"), ("PublicKeyBody", &sent)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        format!(
            r#"{{"RequestId":"REQUEST-ID","KeyPairId":"KEY-PAIR-ID","KeyPairName":"verbatim","KeyPairFingerPrint":"{ED25519_MD5}"}}"#
        )
    );
    let (status, body) = h
        .json("DescribeKeyPairs", &[("IncludePublicKey", "true")])
        .await;
    assert_eq!(status, StatusCode::OK);
    let returned = serde_json::to_string(&sent).unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"RequestId":"REQUEST-ID","TotalCount":1,"PageNumber":1,"PageSize":10,"KeyPairs":{{"KeyPair":[{{"KeyPairName":"verbatim","KeyPairFingerPrint":"{ED25519_MD5}","CreationTime":"TIME","ResourceGroupId":"","PublicKey":{returned},"Tags":{{"Tag":[]}}}}]}}}}"#
        )
    );
}
