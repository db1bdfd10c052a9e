//! The seven EC2 key pair actions: parameters in, inventory call, XML out.

use std::collections::HashSet;

use base64::Engine as _;
use keypaird_inventory::pattern::Wildcard;
use keypaird_inventory::{
    AnyOf, AuditEvent, CreatedKeyPair, ImportedKeyPair, Inventory, InventoryError, KeyPair,
    KeyPairFilter, KeyPairOrder, KeyPairQuery, KeyPairRef, NewKeyPair, Scope, Tag, TagFilter,
    TagMatch, TagQuery, TagRemoval, TagRow,
};
use keypaird_keys::{KeyAlgorithm, PpkVersion, PublicKey};
use zeroize::Zeroizing;

use super::error::{AwsError, Code};
use super::shape::{self, Filter};
use super::xml::{timestamp, StreamedSet, XmlWriter};
use crate::paging::{decode_tag_cursor, encode_tag_cursor};
use crate::params::Params;

/// What the actions need besides the request: the inventory and the server's settings.
pub struct ActionContext<'a> {
    pub inventory: &'a Inventory,
    pub scope: Scope,
    pub quota: u32,
    pub ppk_version: PpkVersion,
    pub request_id: &'a str,
    /// The call's event, recorded by the store with the change it asks for.
    pub audit: &'a AuditEvent,
}

const TAG_SPEC_SHAPES: [&str; 3] = [
    "TagSpecification.N.ResourceType",
    "TagSpecification.N.Tag.N.Key",
    "TagSpecification.N.Tag.N.Value",
];

/// A created key's private half as EC2 hands it out: PuTTY's format when asked (`KeyFormat=ppk`),
/// else PKCS#1 PEM for RSA and OpenSSH's own format for ed25519, as EC2 does.
pub fn private_key_material(
    created: &CreatedKeyPair,
    ppk: bool,
    ppk_version: PpkVersion,
) -> Result<Zeroizing<String>, AwsError> {
    let key = &created.private_key;
    match (ppk, key.algorithm()) {
        (true, _) => key.ppk(ppk_version, &created.key_pair.name),
        (false, KeyAlgorithm::Rsa) => key.pkcs1_pem(),
        (false, _) => key.openssh_private_pem(&created.key_pair.name),
    }
    .map_err(|err| AwsError::from(InventoryError::Internal(err.to_string())))
}

pub async fn create_key_pair(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<String, AwsError> {
    shape::check_known(
        params,
        &[
            &["KeyName", "KeyType", "KeyFormat", "DryRun"][..],
            &TAG_SPEC_SHAPES,
        ]
        .concat(),
    )?;
    let name = shape::required(params, "KeyName")?.to_owned();
    let algorithm = match params.get("KeyType").unwrap_or("rsa") {
        "rsa" => KeyAlgorithm::Rsa,
        "ed25519" => KeyAlgorithm::Ed25519,
        other => {
            return Err(AwsError::invalid_value(
                "KeyType",
                other,
                "Valid values are rsa and ed25519.",
            ))
        }
    };
    let ppk = match params.get("KeyFormat").unwrap_or("pem") {
        "pem" => false,
        "ppk" => true,
        other => {
            return Err(AwsError::invalid_value(
                "KeyFormat",
                other,
                "Valid values are pem and ppk.",
            ))
        }
    };
    let request = NewKeyPair {
        name,
        algorithm,
        tags: tag_specification(params)?,
        resource_group_id: String::new(),
        dry_run: shape::boolean(params, "DryRun")?,
    };
    let created = ctx
        .inventory
        .create_key_pair(&ctx.scope, ctx.quota, request, ctx.audit)
        .await?;
    let material = private_key_material(&created, ppk, ctx.ppk_version)?;
    let kp = &created.key_pair;
    let mut xml = XmlWriter::response("CreateKeyPair", ctx.request_id);
    xml.leaf("keyPairId", &kp.id)
        .leaf("keyName", &kp.name)
        .leaf("keyFingerprint", &kp.fingerprint)
        .leaf("keyMaterial", &material);
    write_tag_set_if_any(&mut xml, &kp.tags);
    Ok(xml.finish("CreateKeyPair"))
}

pub async fn import_key_pair(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<String, AwsError> {
    shape::check_known(
        params,
        &[
            &["KeyName", "PublicKeyMaterial", "DryRun"][..],
            &TAG_SPEC_SHAPES,
        ]
        .concat(),
    )?;
    let name = shape::required(params, "KeyName")?.to_owned();
    let material = shape::required(params, "PublicKeyMaterial")?;
    let (public_key, text) = decode_public_key_material(material)?;
    let request = ImportedKeyPair {
        name,
        public_key,
        public_key_text: text,
        tags: tag_specification(params)?,
        resource_group_id: String::new(),
        dry_run: shape::boolean(params, "DryRun")?,
    };
    let kp = ctx
        .inventory
        .import_key_pair(&ctx.scope, ctx.quota, request, ctx.audit)
        .await?;
    let mut xml = XmlWriter::response("ImportKeyPair", ctx.request_id);
    xml.leaf("keyPairId", &kp.id)
        .leaf("keyName", &kp.name)
        .leaf("keyFingerprint", &kp.fingerprint);
    write_tag_set_if_any(&mut xml, &kp.tags);
    Ok(xml.finish("ImportKeyPair"))
}

/// `PublicKeyMaterial` is base64 of the key text on the wire. Decision (reference): when that
/// does not decode to a key, the value itself is tried as key text, which helps curl users.
/// The text is kept byte for byte, trailing newline and all: DescribeKeyPairs returns exactly
/// what was imported.
fn decode_public_key_material(material: &str) -> Result<(PublicKey, String), AwsError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(material.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    if let Some(text) = decoded {
        if let Ok(key) = PublicKey::parse_aws_import(text.as_bytes()) {
            return Ok((key, text));
        }
    }
    match PublicKey::parse_aws_import(material.as_bytes()) {
        Ok(key) => Ok((key, material.to_owned())),
        Err(_) => Err(AwsError::invalid_key_format()),
    }
}

pub async fn describe_key_pairs(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<String, AwsError> {
    shape::check_known(
        params,
        &[
            "KeyName.N",
            "KeyPairId.N",
            "Filter.N.Name",
            "Filter.N.Value.N",
            "IncludePublicKey",
            "DryRun",
        ],
    )?;
    let names = shape::list(params, "KeyName");
    let ids = shape::list(params, "KeyPairId");
    let filters = key_pair_filters(&shape::filters(params)?)?;
    let include_public_key = shape::boolean(params, "IncludePublicKey")?;
    if shape::boolean(params, "DryRun")? {
        return Err(InventoryError::DryRun.into());
    }
    // Creation order, as moto (and suites written against it) list them; EC2 documents none.
    let mut query = KeyPairQuery::all(ctx.scope.clone()).ordered(KeyPairOrder::OldestFirst);
    if !names.is_empty() {
        query = query.with(KeyPairFilter::Name(AnyOf::exactly(&names)));
    }
    if !ids.is_empty() {
        query = query.with(KeyPairFilter::Id(AnyOf::exactly(&ids)));
    }
    query.filters.extend(filters);

    let mut xml = XmlWriter::response("DescribeKeyPairs", ctx.request_id);
    let mut set = xml.streamed_set("keySet");
    let mut item = |kp: KeyPair| write_key_pair_item(&mut set, &kp, include_public_key);
    if names.is_empty() && ids.is_empty() {
        // EC2 has no paging here: the reply is the whole match, written as the store streams
        // it, so it holds its own rows once (as XML), never the scope.
        ctx.inventory.visit_key_pairs(&query, &mut item).await?;
    } else {
        // Named key pairs must all exist, whatever the filters; the result is bounded by the
        // names asked for.
        let found = ctx.inventory.find_key_pairs(&query).await?.key_pairs;
        ensure_named_exist(ctx, &names, &ids, &found).await?;
        found.into_iter().for_each(&mut item);
    }
    set.finish();
    Ok(xml.finish("DescribeKeyPairs"))
}

fn write_key_pair_item(set: &mut StreamedSet<'_>, kp: &KeyPair, include_public_key: bool) {
    set.item(|xml| {
        xml.leaf("keyPairId", &kp.id)
            .leaf("keyType", kp.key_type.as_str());
        write_tag_set(xml, &kp.tags);
        if include_public_key {
            xml.leaf("publicKey", &kp.public_key);
        }
        xml.leaf("createTime", &timestamp(kp.created_at))
            .leaf("keyName", &kp.name)
            .leaf("keyFingerprint", &kp.fingerprint);
    });
}

/// EC2 fails rather than returning a shorter list when a named key pair does not exist, even
/// if filters would have left it out. `found` is what the whole query returned; only when it
/// lacks a name or ID is the store asked which of them exist at all.
async fn ensure_named_exist(
    ctx: &ActionContext<'_>,
    names: &[String],
    ids: &[String],
    found: &[KeyPair],
) -> Result<(), AwsError> {
    let names_of = |kps: &[KeyPair]| kps.iter().map(|kp| kp.name.clone()).collect();
    let ids_of = |kps: &[KeyPair]| kps.iter().map(|kp| kp.id.clone()).collect();
    if first_missing(names, &names_of(found)).is_some() {
        let existing = ctx
            .inventory
            .find_key_pairs(&KeyPairQuery::names(ctx.scope.clone(), names))
            .await?;
        if let Some(missing) = first_missing(names, &names_of(&existing.key_pairs)) {
            return Err(AwsError::key_pair_not_found(&KeyPairRef::Name(
                missing.clone(),
            )));
        }
    }
    if first_missing(ids, &ids_of(found)).is_some() {
        let existing = ctx
            .inventory
            .find_key_pairs(&KeyPairQuery::ids(ctx.scope.clone(), ids))
            .await?;
        if let Some(missing) = first_missing(ids, &ids_of(&existing.key_pairs)) {
            return Err(AwsError::key_pair_not_found(&KeyPairRef::Id(
                missing.clone(),
            )));
        }
    }
    Ok(())
}

/// The first of `wanted`, in request order, that is not in `present`.
fn first_missing<'w>(wanted: &'w [String], present: &HashSet<String>) -> Option<&'w String> {
    wanted.iter().find(|value| !present.contains(*value))
}

pub async fn delete_key_pair(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<String, AwsError> {
    shape::check_known(params, &["KeyName", "KeyPairId", "DryRun"])?;
    let by = match (params.get("KeyPairId"), params.get("KeyName")) {
        (Some(id), _) if !id.is_empty() => KeyPairRef::Id(id.to_owned()),
        (_, Some(name)) if !name.is_empty() => KeyPairRef::Name(name.to_owned()),
        _ => return Err(AwsError::missing_parameter("KeyName or KeyPairId")),
    };
    let dry_run = shape::boolean(params, "DryRun")?;
    let deleted = ctx
        .inventory
        .delete_key_pair(&ctx.scope, &by, dry_run, ctx.audit)
        .await?;
    let mut xml = XmlWriter::response("DeleteKeyPair", ctx.request_id);
    xml.leaf("return", "true");
    if let Some(kp) = deleted {
        xml.leaf("keyPairId", &kp.id);
    }
    Ok(xml.finish("DeleteKeyPair"))
}

pub async fn create_tags(ctx: &ActionContext<'_>, params: &Params<'_>) -> Result<String, AwsError> {
    shape::check_known(
        params,
        &["ResourceId.N", "Tag.N.Key", "Tag.N.Value", "DryRun"],
    )?;
    let ids = resource_ids(params)?;
    let pairs = shape::tag_pairs(params, "Tag.N")?;
    if pairs.is_empty() {
        return Err(AwsError::missing_parameter("Tag"));
    }
    let tags: Vec<Tag> = pairs
        .into_iter()
        .map(|(key, value)| Tag {
            key,
            value: value.unwrap_or_default(),
        })
        .collect();
    let dry_run = shape::boolean(params, "DryRun")?;
    ctx.inventory
        .add_tags(&ctx.scope, &ids, &tags, dry_run, ctx.audit)
        .await?;
    let mut xml = XmlWriter::response("CreateTags", ctx.request_id);
    xml.leaf("return", "true");
    Ok(xml.finish("CreateTags"))
}

pub async fn delete_tags(ctx: &ActionContext<'_>, params: &Params<'_>) -> Result<String, AwsError> {
    shape::check_known(
        params,
        &["ResourceId.N", "Tag.N.Key", "Tag.N.Value", "DryRun"],
    )?;
    let ids = resource_ids(params)?;
    let removals: Vec<TagRemoval> = shape::tag_pairs(params, "Tag.N")?
        .into_iter()
        .map(|(key, value)| TagRemoval { key, value })
        .collect();
    let dry_run = shape::boolean(params, "DryRun")?;
    if !dry_run {
        // EC2 names the first resource that does not exist rather than ignoring it.
        let found: HashSet<String> = ctx
            .inventory
            .find_key_pairs(&KeyPairQuery::ids(ctx.scope.clone(), &ids))
            .await?
            .key_pairs
            .into_iter()
            .map(|kp| kp.id)
            .collect();
        if let Some(missing) = first_missing(&ids, &found) {
            return Err(AwsError::key_pair_not_found(&KeyPairRef::Id(
                missing.clone(),
            )));
        }
    }
    ctx.inventory
        .remove_tags(&ctx.scope, &ids, &removals, dry_run, ctx.audit)
        .await?;
    let mut xml = XmlWriter::response("DeleteTags", ctx.request_id);
    xml.leaf("return", "true");
    Ok(xml.finish("DeleteTags"))
}

pub async fn describe_tags(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<String, AwsError> {
    shape::check_known(
        params,
        &[
            "Filter.N.Name",
            "Filter.N.Value.N",
            "MaxResults",
            "NextToken",
            "DryRun",
        ],
    )?;
    let filters = tag_filters(&shape::filters(params)?)?;
    let max_results = match params.get("MaxResults") {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (5..=1000).contains(&n) => Some(n),
            _ => {
                return Err(AwsError::invalid_value(
                    "MaxResults",
                    text,
                    "Expecting a value between 5 and 1000.",
                ))
            }
        },
    };
    let after = params
        .get("NextToken")
        .map(|token| {
            decode_tag_cursor(token).ok_or_else(|| {
                AwsError::new(
                    Code::InvalidPaginationToken,
                    "The specified pagination token is not valid or is expired.",
                )
            })
        })
        .transpose()?;
    if shape::boolean(params, "DryRun")? {
        return Err(InventoryError::DryRun.into());
    }
    let mut xml = XmlWriter::response("DescribeTags", ctx.request_id);
    let mut set = xml.streamed_set("tagSet");
    let mut next_token = None;
    if let Some(filters) = filters {
        let query = TagQuery {
            scope: ctx.scope.clone(),
            filters,
            after,
            // One row more than the page tells whether another page follows.
            limit: max_results.map(|max| max + 1),
        };
        match max_results {
            None => {
                ctx.inventory
                    .visit_tags(&query, &mut |row| write_tag_row(&mut set, &row))
                    .await?
            }
            Some(max) => {
                let mut rows = ctx.inventory.find_tags(&query).await?;
                if rows.len() > max as usize {
                    rows.truncate(max as usize);
                    next_token = rows.last().map(|last| encode_tag_cursor(&last.cursor()));
                }
                rows.iter().for_each(|row| write_tag_row(&mut set, row));
            }
        }
    }
    set.finish();
    if let Some(token) = next_token {
        xml.leaf("nextToken", &token);
    }
    Ok(xml.finish("DescribeTags"))
}

fn write_tag_row(set: &mut StreamedSet<'_>, row: &TagRow) {
    set.item(|xml| {
        xml.leaf("resourceId", &row.key_pair_id)
            .leaf("resourceType", KEY_PAIR_RESOURCE_TYPE)
            .leaf("key", &row.key)
            .leaf("value", &row.value);
    });
}

/// Tags from `TagSpecification.N`, which must all be for `key-pair`.
fn tag_specification(params: &Params<'_>) -> Result<Vec<Tag>, AwsError> {
    let types = shape::collect(params, "TagSpecification.N.ResourceType");
    let keys = shape::collect(params, "TagSpecification.N.Tag.N.Key");
    let values = shape::collect(params, "TagSpecification.N.Tag.N.Value");
    // Only `key-pair` is valid, so a second specification repeats it: one look, not a pair
    // of loops over what may be thousands of them.
    if let Some(resource_type) = types.values().next() {
        if *resource_type != "key-pair" {
            return Err(AwsError::new(
                Code::InvalidParameterValue,
                format!(
                    "'{}' is not a valid taggable resource type for this operation.",
                    resource_type.chars().take(64).collect::<String>()
                ),
            ));
        }
        if types.len() > 1 {
            return Err(AwsError::new(
                Code::InvalidParameterValue,
                "The same resource type may not be specified more than once in tag specifications.",
            ));
        }
    }
    let mut tags = Vec::with_capacity(keys.len());
    for (idx, key) in &keys {
        if !types.contains_key(&idx[..1]) {
            return Err(AwsError::missing_parameter(&format!(
                "TagSpecification.{}.ResourceType",
                idx[0]
            )));
        }
        tags.push(Tag {
            key: (*key).to_owned(),
            value: values.get(idx).map(|v| (*v).to_owned()).unwrap_or_default(),
        });
    }
    if let Some(idx) = values.keys().find(|idx| !keys.contains_key(*idx)) {
        return Err(AwsError::missing_parameter(&format!(
            "TagSpecification.{}.Tag.{}.Key",
            idx[0], idx[1]
        )));
    }
    Ok(tags)
}

/// `ResourceId.N`: required, and each must look like a key pair ID; keypaird holds no other
/// resource type.
fn resource_ids(params: &Params<'_>) -> Result<Vec<String>, AwsError> {
    let ids = shape::list(params, "ResourceId");
    if ids.is_empty() {
        return Err(AwsError::missing_parameter("ResourceId"));
    }
    for id in &ids {
        let well_formed = id.len() == 21
            && id.starts_with("key-")
            && id[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(AwsError::new(
                Code::InvalidId,
                format!(
                    "The ID '{}' is not valid",
                    id.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    Ok(ids)
}

const KEY_PAIR_FILTERS: &[&str] = &["key-pair-id", "fingerprint", "key-name", "tag-key"];
const TAG_FILTERS: &[&str] = &["key", "value", "resource-id", "resource-type"];
/// The only resource type this service holds.
const KEY_PAIR_RESOURCE_TYPE: &str = "key-pair";

/// Checks each filter's name against `known` (or `tag:<key>`) and that it has values, and
/// compiles the values: EC2 ORs a filter's values, ANDs filters, and reads `*`, `?` and `\`
/// in values as wildcards.
fn checked_filters<'f>(
    filters: &'f [Filter],
    known: &[&str],
) -> Result<Vec<(&'f str, AnyOf)>, AwsError> {
    filters
        .iter()
        .map(|filter| {
            let is_tag = filter.name.starts_with("tag:") && filter.name.len() > 4;
            if !is_tag && !known.contains(&filter.name.as_str()) {
                return Err(AwsError::new(
                    Code::InvalidParameterValue,
                    format!("The filter '{}' is invalid", filter.name),
                ));
            }
            if filter.values.is_empty() {
                return Err(AwsError::new(
                    Code::InvalidParameterValue,
                    format!("The filter '{}' requires at least one value", filter.name),
                ));
            }
            let values = AnyOf::patterns(filter.values.iter().map(|v| Wildcard::new(v)));
            Ok((filter.name.as_str(), values))
        })
        .collect()
}

/// DescribeKeyPairs' filters as the inventory's.
fn key_pair_filters(filters: &[Filter]) -> Result<Vec<KeyPairFilter>, AwsError> {
    Ok(checked_filters(filters, KEY_PAIR_FILTERS)?
        .into_iter()
        .map(|(name, values)| match name {
            "key-pair-id" => KeyPairFilter::Id(values),
            "fingerprint" => KeyPairFilter::Fingerprint(values),
            "key-name" => KeyPairFilter::Name(values),
            "tag-key" => KeyPairFilter::TagKey(values),
            tag => KeyPairFilter::Tag(TagMatch {
                key: tag.trim_start_matches("tag:").to_owned(),
                value: Some(values),
            }),
        })
        .collect())
}

/// DescribeTags' filters as the inventory's; `None` when a `resource-type` filter rules out
/// key pairs, the only resources here.
fn tag_filters(filters: &[Filter]) -> Result<Option<Vec<TagFilter>>, AwsError> {
    let mut compiled = Vec::new();
    for (name, values) in checked_filters(filters, TAG_FILTERS)? {
        compiled.push(match name {
            "key" => TagFilter::Key(values),
            "value" => TagFilter::Value(values),
            "resource-id" => TagFilter::KeyPairId(values),
            "resource-type" if values.matches(KEY_PAIR_RESOURCE_TYPE) => continue,
            "resource-type" => return Ok(None),
            // tag:<key> on DescribeTags: rows of that key whose value matches.
            tag => TagFilter::AnyOf(vec![TagMatch {
                key: tag.trim_start_matches("tag:").to_owned(),
                value: Some(values),
            }]),
        });
    }
    Ok(Some(compiled))
}

/// CreateKeyPair and ImportKeyPair leave `tagSet` out for a key pair without tags, as EC2's
/// create-key-pair example does (and SDK users test for `Tags` being absent); DescribeKeyPairs
/// writes an empty `<tagSet/>` instead, as EC2's describe examples show.
fn write_tag_set_if_any(xml: &mut XmlWriter, tags: &[Tag]) {
    if !tags.is_empty() {
        write_tag_set(xml, tags);
    }
}

fn write_tag_set(xml: &mut XmlWriter, tags: &[Tag]) {
    xml.set("tagSet", tags, |xml, tag| {
        xml.leaf("key", &tag.key).leaf("value", &tag.value);
    });
}
