//! The seven EC2 key pair actions: parameters in, inventory call, XML out.

use base64::Engine as _;
use keypaird_inventory::pattern::Wildcard;
use keypaird_inventory::{
    ImportedKeyPair, Inventory, InventoryError, KeyPair, KeyPairRef, KeyPairSelector, NewKeyPair,
    Scope, Tag, TagRemoval,
};
use keypaird_keys::{KeyAlgorithm, PpkVersion, PublicKey};
use zeroize::Zeroizing;

use super::error::{AwsError, Code};
use super::shape::{self, Filter};
use super::xml::{timestamp, XmlWriter};
use crate::params::Params;

/// What the actions need besides the request: the inventory and the server's settings.
pub struct ActionContext<'a> {
    pub inventory: &'a Inventory,
    pub scope: Scope,
    pub quota: u32,
    pub ppk_version: PpkVersion,
    pub request_id: &'a str,
}

const TAG_SPEC_SHAPES: [&str; 3] = [
    "TagSpecification.N.ResourceType",
    "TagSpecification.N.Tag.N.Key",
    "TagSpecification.N.Tag.N.Value",
];

pub async fn create_key_pair(ctx: &ActionContext<'_>, params: &Params) -> Result<String, AwsError> {
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
        .create_key_pair(&ctx.scope, ctx.quota, request)
        .await?;
    let key = &created.private_key;
    let material: Zeroizing<String> = match (ppk, key.algorithm()) {
        (true, _) => key.ppk(ctx.ppk_version, &created.key_pair.name),
        (false, KeyAlgorithm::Rsa) => key.pkcs1_pem(),
        (false, _) => key.openssh_private_pem(&created.key_pair.name),
    }
    .map_err(|err| AwsError::from(InventoryError::Internal(err.to_string())))?;
    let kp = &created.key_pair;
    let mut xml = XmlWriter::response("CreateKeyPair", ctx.request_id);
    xml.leaf("keyPairId", &kp.id)
        .leaf("keyName", &kp.name)
        .leaf("keyFingerprint", &kp.fingerprint)
        .leaf("keyMaterial", &material);
    write_tag_set(&mut xml, &kp.tags);
    Ok(xml.finish("CreateKeyPair"))
}

pub async fn import_key_pair(ctx: &ActionContext<'_>, params: &Params) -> Result<String, AwsError> {
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
        .import_key_pair(&ctx.scope, ctx.quota, request)
        .await?;
    let mut xml = XmlWriter::response("ImportKeyPair", ctx.request_id);
    xml.leaf("keyPairId", &kp.id)
        .leaf("keyName", &kp.name)
        .leaf("keyFingerprint", &kp.fingerprint);
    write_tag_set(&mut xml, &kp.tags);
    Ok(xml.finish("ImportKeyPair"))
}

/// `PublicKeyMaterial` is base64 of the key text on the wire. Decision (reference): when that
/// does not decode to a key, the value itself is tried as key text, which helps curl users.
fn decode_public_key_material(material: &str) -> Result<(PublicKey, String), AwsError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(material.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    if let Some(text) = decoded {
        if let Ok(key) = PublicKey::parse_aws_import(text.as_bytes()) {
            return Ok((key, text.trim().to_owned()));
        }
    }
    match PublicKey::parse_aws_import(material.as_bytes()) {
        Ok(key) => Ok((key, material.trim().to_owned())),
        Err(_) => Err(AwsError::invalid_key_format()),
    }
}

pub async fn describe_key_pairs(
    ctx: &ActionContext<'_>,
    params: &Params,
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
    let filters = compile_filters(&shape::filters(params)?, KEY_PAIR_FILTERS)?;
    let include_public_key = shape::boolean(params, "IncludePublicKey")?;
    if shape::boolean(params, "DryRun")? {
        return Err(InventoryError::DryRun.into());
    }
    let key_pairs = select_key_pairs(ctx, names, ids).await?;
    let mut xml = XmlWriter::response("DescribeKeyPairs", ctx.request_id);
    let matching: Vec<&KeyPair> = key_pairs
        .iter()
        .filter(|kp| filters.iter().all(|f| f.matches_key_pair(kp)))
        .collect();
    xml.set("keySet", &matching, |xml, kp| {
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
    Ok(xml.finish("DescribeKeyPairs"))
}

/// Named key pairs must all exist (EC2 fails rather than returning a shorter list); with both
/// names and IDs, a key pair must match both.
async fn select_key_pairs(
    ctx: &ActionContext<'_>,
    names: Vec<String>,
    ids: Vec<String>,
) -> Result<Vec<KeyPair>, AwsError> {
    if names.is_empty() && ids.is_empty() {
        return Ok(ctx
            .inventory
            .find_key_pairs(&ctx.scope, &KeyPairSelector::All)
            .await?);
    }
    let mut selected: Option<Vec<KeyPair>> = None;
    for (wanted, by_name) in [(names, true), (ids, false)] {
        if wanted.is_empty() {
            continue;
        }
        let selector = if by_name {
            KeyPairSelector::Names(wanted.clone())
        } else {
            KeyPairSelector::Ids(wanted.clone())
        };
        let found = ctx.inventory.find_key_pairs(&ctx.scope, &selector).await?;
        for want in &wanted {
            let present = found.iter().any(|kp| {
                if by_name {
                    &kp.name == want
                } else {
                    &kp.id == want
                }
            });
            if !present {
                let missing = if by_name {
                    KeyPairRef::Name(want.clone())
                } else {
                    KeyPairRef::Id(want.clone())
                };
                return Err(AwsError::key_pair_not_found(&missing));
            }
        }
        selected = Some(match selected {
            None => found,
            Some(previous) => previous
                .into_iter()
                .filter(|kp| found.iter().any(|f| f.id == kp.id))
                .collect(),
        });
    }
    Ok(selected.unwrap_or_default())
}

pub async fn delete_key_pair(ctx: &ActionContext<'_>, params: &Params) -> Result<String, AwsError> {
    shape::check_known(params, &["KeyName", "KeyPairId", "DryRun"])?;
    let by = match (params.get("KeyPairId"), params.get("KeyName")) {
        (Some(id), _) if !id.is_empty() => KeyPairRef::Id(id.to_owned()),
        (_, Some(name)) if !name.is_empty() => KeyPairRef::Name(name.to_owned()),
        _ => return Err(AwsError::missing_parameter("KeyName or KeyPairId")),
    };
    let dry_run = shape::boolean(params, "DryRun")?;
    let deleted = ctx
        .inventory
        .delete_key_pair(&ctx.scope, &by, dry_run)
        .await?;
    let mut xml = XmlWriter::response("DeleteKeyPair", ctx.request_id);
    xml.leaf("return", "true");
    if let Some(kp) = deleted {
        xml.leaf("keyPairId", &kp.id);
    }
    Ok(xml.finish("DeleteKeyPair"))
}

pub async fn create_tags(ctx: &ActionContext<'_>, params: &Params) -> Result<String, AwsError> {
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
        .add_tags(&ctx.scope, &ids, &tags, dry_run)
        .await?;
    let mut xml = XmlWriter::response("CreateTags", ctx.request_id);
    xml.leaf("return", "true");
    Ok(xml.finish("CreateTags"))
}

pub async fn delete_tags(ctx: &ActionContext<'_>, params: &Params) -> Result<String, AwsError> {
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
        let found = ctx
            .inventory
            .find_key_pairs(&ctx.scope, &KeyPairSelector::Ids(ids.clone()))
            .await?;
        if let Some(missing) = ids.iter().find(|id| !found.iter().any(|kp| &kp.id == *id)) {
            return Err(AwsError::key_pair_not_found(&KeyPairRef::Id(
                missing.clone(),
            )));
        }
    }
    ctx.inventory
        .remove_tags(&ctx.scope, &ids, &removals, dry_run)
        .await?;
    let mut xml = XmlWriter::response("DeleteTags", ctx.request_id);
    xml.leaf("return", "true");
    Ok(xml.finish("DeleteTags"))
}

pub async fn describe_tags(ctx: &ActionContext<'_>, params: &Params) -> Result<String, AwsError> {
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
    let filters = compile_filters(&shape::filters(params)?, TAG_FILTERS)?;
    let max_results = match params.get("MaxResults") {
        None => None,
        Some(text) => match text.parse::<usize>() {
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
    let after = params.get("NextToken").map(decode_next_token).transpose()?;
    if shape::boolean(params, "DryRun")? {
        return Err(InventoryError::DryRun.into());
    }
    let key_pairs = ctx
        .inventory
        .find_key_pairs(&ctx.scope, &KeyPairSelector::All)
        .await?;
    let mut rows: Vec<TagRow> = key_pairs
        .iter()
        .flat_map(|kp| {
            kp.tags.iter().map(move |tag| TagRow {
                resource_id: &kp.id,
                key: &tag.key,
                value: &tag.value,
            })
        })
        .filter(|row| filters.iter().all(|f| f.matches_tag_row(row)))
        .collect();
    rows.sort_by(|a, b| (a.resource_id, a.key).cmp(&(b.resource_id, b.key)));
    if let Some((after_id, after_key)) = &after {
        rows.retain(|row| (row.resource_id, row.key) > (after_id.as_str(), after_key.as_str()));
    }
    let next_token = match max_results {
        Some(max) if rows.len() > max => {
            rows.truncate(max);
            rows.last()
                .map(|last| encode_next_token(last.resource_id, last.key))
        }
        _ => None,
    };
    let mut xml = XmlWriter::response("DescribeTags", ctx.request_id);
    xml.set("tagSet", &rows, |xml, row| {
        xml.leaf("resourceId", row.resource_id)
            .leaf("resourceType", "key-pair")
            .leaf("key", row.key)
            .leaf("value", row.value);
    });
    if let Some(token) = next_token {
        xml.leaf("nextToken", &token);
    }
    Ok(xml.finish("DescribeTags"))
}

struct TagRow<'a> {
    resource_id: &'a str,
    key: &'a str,
    value: &'a str,
}

/// The token is the last row returned, so paging stays correct while tags change.
fn encode_next_token(resource_id: &str, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{resource_id}\n{key}"))
}

fn decode_next_token(token: &str) -> Result<(String, String), AwsError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.split_once('\n')
                .map(|(id, key)| (id.to_owned(), key.to_owned()))
        })
        .ok_or_else(|| {
            AwsError::new(
                Code::InvalidPaginationToken,
                "The specified pagination token is not valid or is expired.",
            )
        })
}

/// Tags from `TagSpecification.N`, which must all be for `key-pair`.
fn tag_specification(params: &Params) -> Result<Vec<Tag>, AwsError> {
    let types = shape::collect(params, "TagSpecification.N.ResourceType");
    let keys = shape::collect(params, "TagSpecification.N.Tag.N.Key");
    let values = shape::collect(params, "TagSpecification.N.Tag.N.Value");
    for (idx, resource_type) in &types {
        if *resource_type != "key-pair" {
            return Err(AwsError::new(
                Code::InvalidParameterValue,
                format!(
                    "'{resource_type}' is not a valid taggable resource type for this operation."
                ),
            ));
        }
        if types.keys().filter(|other| *other != idx).count() > 0 {
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
fn resource_ids(params: &Params) -> Result<Vec<String>, AwsError> {
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

/// A filter ready to apply: values are ORed, filters ANDed.
struct CompiledFilter {
    field: String,
    values: Vec<Wildcard>,
}

fn compile_filters(filters: &[Filter], known: &[&str]) -> Result<Vec<CompiledFilter>, AwsError> {
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
            Ok(CompiledFilter {
                field: filter.name.clone(),
                values: filter.values.iter().map(|v| Wildcard::new(v)).collect(),
            })
        })
        .collect()
}

impl CompiledFilter {
    fn any(&self, text: &str) -> bool {
        self.values.iter().any(|value| value.matches(text))
    }

    fn any_tag(&self, tags: &[Tag]) -> bool {
        match self.field.strip_prefix("tag:") {
            Some(key) => tags.iter().any(|t| t.key == key && self.any(&t.value)),
            None => tags.iter().any(|t| self.any(&t.key)),
        }
    }

    fn matches_key_pair(&self, kp: &KeyPair) -> bool {
        match self.field.as_str() {
            "key-pair-id" => self.any(&kp.id),
            "fingerprint" => self.any(&kp.fingerprint),
            "key-name" => self.any(&kp.name),
            _ => self.any_tag(&kp.tags),
        }
    }

    fn matches_tag_row(&self, row: &TagRow) -> bool {
        match self.field.as_str() {
            "key" => self.any(row.key),
            "value" => self.any(row.value),
            "resource-id" => self.any(row.resource_id),
            "resource-type" => self.any("key-pair"),
            // tag:<key> on DescribeTags: rows of that key whose value matches.
            other => {
                let key = other.trim_start_matches("tag:");
                row.key == key && self.any(row.value)
            }
        }
    }
}

fn write_tag_set(xml: &mut XmlWriter, tags: &[Tag]) {
    xml.set("tagSet", tags, |xml, tag| {
        xml.leaf("key", &tag.key).leaf("value", &tag.value);
    });
}
