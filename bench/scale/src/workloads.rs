//! The requests each row sends, and what their replies must contain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::load::{Call, Check, MakeCall};
use crate::sign::{ed25519_public_line, Dialect, Params};

/// The rows of the report, in the order they are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Row {
    Ec2ByName,
    Ec2ById,
    Ec2FilterName,
    Ec2FilterPrefix,
    Ec2FilterTag,
    Ec2FilterFingerprint,
    Ec2TagsByResource,
    EcsByName,
    EcsFirstPage,
    EcsDeepPage,
    EcsByFingerprint,
    Ec2DescribeAll,
    Ec2Create,
    Ec2Delete,
    FillEc2,
    FillEcs,
    Rss,
    DescribeAllRss,
    Ready,
}

impl Row {
    pub const ALL: [Row; 19] = [
        Row::Ec2ByName,
        Row::Ec2ById,
        Row::Ec2FilterName,
        Row::Ec2FilterPrefix,
        Row::Ec2FilterTag,
        Row::Ec2FilterFingerprint,
        Row::Ec2TagsByResource,
        Row::EcsByName,
        Row::EcsFirstPage,
        Row::EcsDeepPage,
        Row::EcsByFingerprint,
        Row::Ec2DescribeAll,
        Row::Ec2Create,
        Row::Ec2Delete,
        Row::FillEc2,
        Row::FillEcs,
        Row::Rss,
        Row::DescribeAllRss,
        Row::Ready,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Row::Ec2ByName => "EC2 DescribeKeyPairs `KeyName.1`",
            Row::Ec2ById => "EC2 DescribeKeyPairs `KeyPairId.1`",
            Row::Ec2FilterName => "EC2 DescribeKeyPairs filter `key-name` exact",
            Row::Ec2FilterPrefix => "EC2 DescribeKeyPairs filter `key-name` `kp-0001234*`",
            Row::Ec2FilterTag => "EC2 DescribeKeyPairs filter `tag:id`",
            Row::Ec2FilterFingerprint => "EC2 DescribeKeyPairs filter `fingerprint`",
            Row::Ec2TagsByResource => "EC2 DescribeTags filter `resource-id`",
            Row::EcsByName => "ECS DescribeKeyPairs `KeyPairName`",
            Row::EcsFirstPage => "ECS DescribeKeyPairs first page (50)",
            Row::EcsDeepPage => "ECS DescribeKeyPairs page half-way (size/100, 50)",
            Row::EcsByFingerprint => "ECS DescribeKeyPairs `KeyPairFingerPrint`",
            Row::Ec2DescribeAll => {
                "EC2 DescribeKeyPairs of every key pair (1 client; p50 = one reply)"
            }
            Row::Ec2Create => "EC2 CreateKeyPair ed25519, new names (creates/s)",
            Row::Ec2Delete => "EC2 DeleteKeyPair of those (deletes/s)",
            Row::FillEc2 => "Fill: EC2 CreateKeyPair ed25519 (creates/s)",
            Row::FillEcs => "Fill: ECS ImportKeyPair ed25519 (imports/s)",
            Row::Rss => "keypaird RSS max during the reads (MiB)",
            Row::DescribeAllRss => "RSS max during DescribeKeyPairs of every key pair (MiB)",
            Row::Ready => "Ready after restart (ms, median)",
        }
    }

    /// Whether the row is held to the target (at the largest size, 80% of its rate at the
    /// smallest): single-key reads and writes are. A reply of every key pair grows with the
    /// inventory by definition, and an ECS page by number skips the index entries before it.
    pub fn has_target(self) -> bool {
        !matches!(self, Row::Ec2DescribeAll | Row::EcsDeepPage)
    }

    /// Rows measured against moto too (it has no ECS and no readiness probe).
    pub fn moto_has(self) -> bool {
        !matches!(
            self,
            Row::EcsByName
                | Row::EcsFirstPage
                | Row::EcsDeepPage
                | Row::EcsByFingerprint
                | Row::FillEcs
                | Row::Ready
        )
    }
}

/// The key pairs of the account, by index: `kp-{index:07}` in both scopes.
#[derive(Clone, Default)]
pub struct Inventory {
    /// EC2: (keyPairId, keyFingerprint)
    pub ec2: Vec<(String, String)>,
    /// ECS: KeyPairFingerPrint
    pub ecs: Vec<String>,
}

pub fn name(index: usize) -> String {
    format!("kp-{index:07}")
}

/// EC2 CreateKeyPair ed25519 of `name`, tagged `id=<name>`.
pub fn ec2_create(name: String, index: usize) -> Call {
    ec2_create_key(name.clone(), "ed25519", Some(("id", name)), index)
}

/// EC2 CreateKeyPair of `name` (`key_type` ed25519 or rsa), with one tag if given.
pub fn ec2_create_key(
    name: String,
    key_type: &str,
    tag: Option<(&str, String)>,
    index: usize,
) -> Call {
    let mut params: Params = vec![
        ("Action", "CreateKeyPair".into()),
        ("KeyName", name),
        ("KeyType", key_type.into()),
    ];
    if let Some((key, value)) = tag {
        params.extend([
            ("TagSpecification.1.ResourceType", "key-pair".into()),
            ("TagSpecification.1.Tag.1.Key", key.into()),
            ("TagSpecification.1.Tag.1.Value", value),
        ]);
    }
    Call {
        dialect: Dialect::Ec2,
        params,
        check: Check::Ec2Created { index },
    }
}

/// EC2 ImportKeyPair of an OpenSSH public key line under `name`.
pub fn ec2_import(name: String, public_line: &str, index: usize) -> Call {
    use base64::Engine;
    Call {
        dialect: Dialect::Ec2,
        params: vec![
            ("Action", "ImportKeyPair".into()),
            ("KeyName", name),
            (
                "PublicKeyMaterial",
                base64::engine::general_purpose::STANDARD.encode(public_line),
            ),
        ],
        check: Check::Ec2Created { index },
    }
}

/// ECS ImportKeyPair of a new ed25519 key, tagged `id=<name>`.
pub fn ecs_import(name: String, index: usize) -> Call {
    let line = ed25519_public_line(&name);
    ecs_import_key(name.clone(), line, Some(("id", name)), index)
}

/// ECS ImportKeyPair of an OpenSSH public key line under `name`, with one tag if given.
pub fn ecs_import_key(
    name: String,
    public_line: String,
    tag: Option<(&str, String)>,
    index: usize,
) -> Call {
    let mut params: Params = vec![
        ("Action", "ImportKeyPair".into()),
        ("KeyPairName", name),
        ("PublicKeyBody", public_line),
    ];
    if let Some((key, value)) = tag {
        params.extend([("Tag.1.Key", key.into()), ("Tag.1.Value", value)]);
    }
    Call {
        dialect: Dialect::Ecs,
        params,
        check: Check::EcsImported { index },
    }
}

pub fn ec2_delete(name: String) -> Call {
    Call {
        dialect: Dialect::Ec2,
        params: vec![("Action", "DeleteKeyPair".into()), ("KeyName", name)],
        check: Check::Ec2Deleted,
    }
}

/// DescribeKeyPairs with one filter, expecting `count` key pairs.
pub fn ec2_filter(filter: &str, value: String, count: usize, name: Option<String>) -> Call {
    Call {
        dialect: Dialect::Ec2,
        params: vec![
            ("Action", "DescribeKeyPairs".into()),
            ("Filter.1.Name", filter.to_owned()),
            ("Filter.1.Value.1", value),
        ],
        check: Check::Ec2Keys { count, name },
    }
}

/// DescribeKeyPairs of exactly one key pair, `name`, asked for by one parameter.
pub fn describe_one(dialect: Dialect, param: &'static str, value: String, name: String) -> Call {
    let check = match dialect {
        Dialect::Ec2 => Check::Ec2Keys {
            count: 1,
            name: Some(name),
        },
        Dialect::Ecs => Check::EcsPage {
            total: 1,
            items: 1,
            name: Some(name),
        },
        Dialect::CloudTrail => panic!("CloudTrail has no DescribeKeyPairs"),
    };
    Call {
        dialect,
        params: vec![("Action", "DescribeKeyPairs".into()), (param, value)],
        check,
    }
}

/// Hands out `items` one at a time across the workers, then None.
pub fn bounded<T, F>(items: Vec<T>, make: F) -> (MakeCall, Arc<AtomicUsize>)
where
    T: Clone + Send + Sync + 'static,
    F: Fn(T) -> Call + Send + Sync + 'static,
{
    let cursor = Arc::new(AtomicUsize::new(0));
    let taken = cursor.clone();
    let make: MakeCall = Arc::new(move |_| {
        let at = cursor.fetch_add(1, Ordering::Relaxed);
        items.get(at).cloned().map(&make)
    });
    (make, taken)
}

/// The read workloads at `size`, each picking its target uniformly among the key pairs there.
pub fn reads(inventory: &Arc<Inventory>, size: usize, ecs: bool) -> Vec<(Row, MakeCall)> {
    let inv = inventory.clone();
    let mut rows: Vec<(Row, MakeCall)> = vec![
        (
            Row::Ec2ByName,
            Arc::new(move |rng| {
                let name = name(rng.below(size));
                Some(describe_one(Dialect::Ec2, "KeyName.1", name.clone(), name))
            }),
        ),
        (Row::Ec2ById, {
            let inv = inv.clone();
            Arc::new(move |rng| {
                let i = rng.below(size);
                Some(describe_one(
                    Dialect::Ec2,
                    "KeyPairId.1",
                    inv.ec2[i].0.clone(),
                    name(i),
                ))
            })
        }),
        (
            Row::Ec2FilterName,
            Arc::new(move |rng| {
                let name = name(rng.below(size));
                Some(ec2_filter("key-name", name.clone(), 1, Some(name)))
            }),
        ),
        (
            Row::Ec2FilterPrefix,
            // The whole name then `*`: a prefix match that only this key pair satisfies.
            Arc::new(move |rng| {
                let name = name(rng.below(size));
                Some(ec2_filter("key-name", format!("{name}*"), 1, Some(name)))
            }),
        ),
        (
            Row::Ec2FilterTag,
            Arc::new(move |rng| {
                let name = name(rng.below(size));
                Some(ec2_filter("tag:id", name.clone(), 1, Some(name)))
            }),
        ),
        (Row::Ec2FilterFingerprint, {
            let inv = inv.clone();
            Arc::new(move |rng| {
                let i = rng.below(size);
                Some(ec2_filter(
                    "fingerprint",
                    inv.ec2[i].1.clone(),
                    1,
                    Some(name(i)),
                ))
            })
        }),
        (Row::Ec2TagsByResource, {
            let inv = inv.clone();
            Arc::new(move |rng| {
                let i = rng.below(size);
                Some(Call {
                    dialect: Dialect::Ec2,
                    params: vec![
                        ("Action", "DescribeTags".into()),
                        ("Filter.1.Name", "resource-id".into()),
                        ("Filter.1.Value.1", inv.ec2[i].0.clone()),
                    ],
                    check: Check::Ec2Tags { count: 1 },
                })
            })
        }),
    ];
    if !ecs {
        return rows;
    }
    let ecs_page = |page: usize| {
        let items = size.saturating_sub((page - 1) * 50).min(50);
        let make: MakeCall = Arc::new(move |_| {
            Some(Call {
                dialect: Dialect::Ecs,
                params: vec![
                    ("Action", "DescribeKeyPairs".into()),
                    ("PageSize", "50".into()),
                    ("PageNumber", page.to_string()),
                ],
                check: Check::EcsPage {
                    total: size,
                    items,
                    name: None,
                },
            })
        });
        make
    };
    rows.push((
        Row::EcsByName,
        Arc::new(move |rng| {
            let name = name(rng.below(size));
            Some(describe_one(
                Dialect::Ecs,
                "KeyPairName",
                name.clone(),
                name,
            ))
        }),
    ));
    rows.push((Row::EcsFirstPage, ecs_page(1)));
    rows.push((Row::EcsDeepPage, ecs_page(deep_page(size))));
    rows.push((
        Row::EcsByFingerprint,
        Arc::new(move |rng| {
            let i = rng.below(size);
            Some(describe_one(
                Dialect::Ecs,
                "KeyPairFingerPrint",
                inv.ecs[i].clone(),
                name(i),
            ))
        }),
    ));
    rows
}

/// DescribeKeyPairs with no names or filters: EC2 answers every key pair in one reply.
pub fn describe_all(size: usize) -> MakeCall {
    Arc::new(move |_| {
        Some(Call {
            dialect: Dialect::Ec2,
            params: vec![("Action", "DescribeKeyPairs".into())],
            check: Check::Ec2Keys {
                count: size,
                name: None,
            },
        })
    })
}

/// The page half-way down the list: PageNumber = size/2/50, at least 1.
pub fn deep_page(size: usize) -> usize {
    (size / 2 / 50).max(1)
}
