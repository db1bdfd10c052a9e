//! What each ECS action does: read its parameters, call the inventory, describe the reply.
//! Replies are [`Node`] fields; `mod.rs` adds the `RequestId` and renders JSON or XML.

use keypaird_inventory::pattern::Wildcard;
use keypaird_inventory::{
    AnyOf, AuditEvent, ImportedKeyPair, Inventory, KeyPair, KeyPairFilter, KeyPairQuery,
    NewKeyPair, Page, Scope, TagFilter, TagMatch, TagQuery, TagRemoval,
};
use keypaird_keys::{KeyAlgorithm, PublicKey};
use time::macros::format_description;
use time::OffsetDateTime;

use super::error::AliyunError;
use super::reply::Node;
use super::shape::{self, MAX_TAGS_PER_REQUEST};
use crate::paging::{decode_tag_cursor, encode_tag_cursor};
use crate::params::Params;

/// The fields of a successful reply, without `RequestId`.
pub type Fields = Vec<(&'static str, Node)>;

const DESCRIBE_PAGE_SIZE_DEFAULT: u32 = 10;
const DESCRIBE_PAGE_SIZE_MAX: u32 = 50;
const DELETE_NAMES_MAX: usize = 100;
const INSTANCE_IDS_MAX: usize = 50;
const RESOURCE_IDS_MAX: usize = 50;
/// Tag-resource pairs per ListTagResources page (ECS's page size for this call).
const TAG_RESOURCES_PAGE: u32 = 50;
/// The only resource type this service holds.
const KEY_PAIR_RESOURCE_TYPE: &str = "keypair";
/// Longest `KeyPairName` pattern DescribeKeyPairs takes, in characters: twice the longest name,
/// as EC2 caps its filter values, so that matching it against a name stays cheap.
const NAME_PATTERN_MAX_CHARS: usize = 255;

pub struct ActionContext<'a> {
    pub inventory: &'a Inventory,
    pub scope: Scope,
    pub quota: u32,
    /// The call's event, recorded by the store with the change it asks for.
    pub audit: &'a AuditEvent,
}

pub async fn create_key_pair(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    let name = shape::required(params, "KeyPairName")?;
    let request = NewKeyPair {
        name: name.to_owned(),
        algorithm: KeyAlgorithm::Rsa,
        tags: shape::tags(params)?,
        resource_group_id: shape::optional(params, "ResourceGroupId")
            .unwrap_or_default()
            .to_owned(),
        dry_run: false,
    };
    let created = ctx
        .inventory
        .create_key_pair(&ctx.scope, ctx.quota, request, ctx.audit)
        .await?;
    // The seed's format: PKCS#8, which OpenSSH and PuTTYgen read.
    let private_key = created
        .private_key
        .pkcs8_pem()
        .map_err(|_| AliyunError::internal())?;
    let kp = created.key_pair;
    Ok(vec![
        ("KeyPairId", Node::text(kp.id)),
        ("KeyPairName", Node::text(kp.name)),
        ("KeyPairFingerPrint", Node::text(kp.fingerprint)),
        ("PrivateKeyBody", Node::text(private_key.as_str())),
    ])
}

pub async fn import_key_pair(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    let name = shape::required(params, "KeyPairName")?;
    let body = shape::required(params, "PublicKeyBody")?;
    let tags = shape::tags(params)?;
    let public_key =
        PublicKey::parse_aliyun_import(body).map_err(|_| AliyunError::public_key_body())?;
    let request = ImportedKeyPair {
        name: name.to_owned(),
        public_key,
        public_key_text: body.to_owned(),
        tags,
        resource_group_id: shape::optional(params, "ResourceGroupId")
            .unwrap_or_default()
            .to_owned(),
        dry_run: false,
    };
    let kp = ctx
        .inventory
        .import_key_pair(&ctx.scope, ctx.quota, request, ctx.audit)
        .await?;
    Ok(vec![
        ("KeyPairId", Node::text(kp.id)),
        ("KeyPairName", Node::text(kp.name)),
        ("KeyPairFingerPrint", Node::text(kp.fingerprint)),
    ])
}

pub async fn describe_key_pairs(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    let page_number = shape::bounded_number(params, "PageNumber", 1, u32::MAX)?;
    let page_size = shape::bounded_number(
        params,
        "PageSize",
        DESCRIBE_PAGE_SIZE_DEFAULT,
        DESCRIBE_PAGE_SIZE_MAX,
    )?;
    let include_public_key = shape::boolean(params, "IncludePublicKey")?.unwrap_or(false);
    let mut query = KeyPairQuery::all(ctx.scope.clone()).paged(Page::Offset {
        offset: u64::from(page_number - 1) * u64::from(page_size),
        limit: page_size,
    });
    query.count_total = true;
    if let Some(pattern) = shape::optional(params, "KeyPairName") {
        if pattern.chars().count() > NAME_PATTERN_MAX_CHARS {
            return Err(AliyunError::invalid_key_pair_name());
        }
        query = query.with(KeyPairFilter::Name(AnyOf::patterns([Wildcard::star_only(
            pattern,
        )])));
    }
    if let Some(fingerprint) = shape::optional(params, "KeyPairFingerPrint") {
        query = query.with(KeyPairFilter::Fingerprint(AnyOf::exactly(
            canonical_fingerprint(fingerprint),
        )));
    }
    if let Some(group) = shape::optional(params, "ResourceGroupId") {
        query = query.with(KeyPairFilter::ResourceGroup(group.to_owned()));
    }
    for (key, value) in shape::tag_pairs(params)? {
        query = query.with(KeyPairFilter::Tag(TagMatch {
            key,
            value: value.map(|v| AnyOf::exactly([v])),
        }));
    }
    let page = ctx.inventory.find_key_pairs(&query).await?;
    let items = page
        .key_pairs
        .into_iter()
        .map(|kp| describe_item(kp, include_public_key))
        .collect();
    let total = i64::try_from(page.total.unwrap_or(0)).unwrap_or(i64::MAX);
    Ok(vec![
        ("TotalCount", Node::Int(total)),
        ("PageNumber", Node::Int(i64::from(page_number))),
        ("PageSize", Node::Int(i64::from(page_size))),
        ("KeyPairs", Node::List("KeyPair", items)),
    ])
}

fn describe_item(kp: KeyPair, include_public_key: bool) -> Node {
    let mut fields = vec![
        ("KeyPairName", Node::text(kp.name)),
        ("KeyPairFingerPrint", Node::text(kp.fingerprint)),
        ("CreationTime", Node::text(creation_time(kp.created_at))),
        ("ResourceGroupId", Node::text(kp.resource_group_id)),
    ];
    if include_public_key {
        fields.push(("PublicKey", Node::text(kp.public_key)));
    }
    // Always present, even empty: Terraform's data source reads it unconditionally.
    let tags = kp
        .tags
        .into_iter()
        .map(|tag| {
            Node::Object(vec![
                ("TagKey", Node::text(tag.key)),
                ("TagValue", Node::text(tag.value)),
            ])
        })
        .collect();
    fields.push(("Tags", Node::List("Tag", tags)));
    Node::Object(fields)
}

/// ECS shows creation times to the minute, in UTC.
fn creation_time(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day]T[hour]:[minute]Z"))
        .unwrap_or_default()
}

/// ECS fingerprints are compared without colons and case, as ECS prints them both ways: the
/// filter value in the form this service stores (lowercase hex pairs joined by colons), or
/// none when it is no MD5 fingerprint at all and so matches nothing.
fn canonical_fingerprint(fingerprint: &str) -> Option<String> {
    let digits: String = fingerprint
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if digits.len() != 32 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let pairs: Vec<&str> = (0..16).map(|i| &digits[2 * i..2 * i + 2]).collect();
    Some(pairs.join(":"))
}

pub async fn delete_key_pairs(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    let raw = shape::required(params, "KeyPairNames")?;
    let names = shape::json_string_array(raw)
        .filter(|names| (1..=DELETE_NAMES_MAX).contains(&names.len()))
        .ok_or_else(AliyunError::key_pair_names)?;
    ctx.inventory
        .delete_key_pairs_by_name(&ctx.scope, &names, ctx.audit)
        .await?;
    Ok(Vec::new())
}

/// keypaird manages no instances: every instance comes back as a failed result, once the key
/// pair itself is known to exist.
pub async fn attach_or_detach_key_pair(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    let name = shape::required(params, "KeyPairName")?;
    let raw = shape::required(params, "InstanceIds")?;
    let instance_ids = shape::json_string_array(raw)
        .filter(|ids| (1..=INSTANCE_IDS_MAX).contains(&ids.len()))
        .ok_or_else(|| AliyunError::invalid_parameter("InstanceIds"))?;
    find_by_name(ctx, name)
        .await?
        .ok_or_else(AliyunError::key_pair_name_not_found)?;
    let results = instance_ids
        .iter()
        .map(|instance_id| {
            Node::Object(vec![
                ("InstanceId", Node::text(instance_id.as_str())),
                ("Success", Node::text("false")),
                ("Code", Node::text("InvalidInstanceId.NotFound")),
                (
                    "Message",
                    Node::text("The specified InstanceId does not exist."),
                ),
            ])
        })
        .collect();
    // The SDK models type these counts as strings.
    Ok(vec![
        ("KeyPairName", Node::text(name)),
        ("TotalCount", Node::text(instance_ids.len().to_string())),
        ("FailCount", Node::text(instance_ids.len().to_string())),
        ("Results", Node::List("Result", results)),
    ])
}

pub async fn tag_resources(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    require_key_pair_type(params)?;
    let names = resource_ids(params)?;
    let tags = shape::tags(params)?;
    if tags.is_empty() {
        return Err(AliyunError::missing_parameter("Tag.1.Key"));
    }
    let ids = resolve_names(ctx, &names).await?;
    ctx.inventory
        .add_tags(&ctx.scope, &ids, &tags, false, ctx.audit)
        .await?;
    Ok(Vec::new())
}

pub async fn untag_resources(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    require_key_pair_type(params)?;
    let names = resource_ids(params)?;
    let all = shape::boolean(params, "All")?.unwrap_or(false);
    let keys = shape::numbered(
        params,
        "TagKey",
        MAX_TAGS_PER_REQUEST,
        AliyunError::too_many_tags,
    )?;
    // No keys and no All=true would silently do nothing; ECS asks for one or the other.
    if keys.is_empty() && !all {
        return Err(AliyunError::missing_parameter("TagKey.1"));
    }
    let removals: Vec<TagRemoval> = if all {
        Vec::new()
    } else {
        keys.into_iter()
            .map(|key| TagRemoval { key, value: None })
            .collect()
    };
    let ids = resolve_names(ctx, &names).await?;
    ctx.inventory
        .remove_tags(&ctx.scope, &ids, &removals, false, ctx.audit)
        .await?;
    Ok(Vec::new())
}

pub async fn list_tag_resources(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    require_key_pair_type(params)?;
    let names = shape::numbered(
        params,
        "ResourceId",
        RESOURCE_IDS_MAX,
        AliyunError::too_many_resource_ids,
    )?;
    let mut query = TagQuery::all(ctx.scope.clone());
    if !names.is_empty() {
        query = query.with(TagFilter::KeyPairName(AnyOf::exactly(names)));
    }
    // With tag filters, only the tags they name.
    let tag_filters = shape::tag_pairs(params)?;
    if !tag_filters.is_empty() {
        query = query.with(TagFilter::AnyOf(
            tag_filters
                .into_iter()
                .map(|(key, value)| TagMatch {
                    key,
                    value: value.map(|v| AnyOf::exactly([v])),
                })
                .collect(),
        ));
    }
    if let Some(token) = shape::optional(params, "NextToken") {
        query.after = Some(
            decode_tag_cursor(token).ok_or_else(|| AliyunError::invalid_parameter("NextToken"))?,
        );
    }
    // One row more than the page tells whether another page follows.
    query.limit = Some(TAG_RESOURCES_PAGE + 1);
    let mut rows = ctx.inventory.find_tags(&query).await?;
    let mut next_token = String::new();
    if rows.len() > TAG_RESOURCES_PAGE as usize {
        rows.truncate(TAG_RESOURCES_PAGE as usize);
        if let Some(last) = rows.last() {
            next_token = encode_tag_cursor(&last.cursor());
        }
    }
    let page = rows
        .into_iter()
        .map(|row| {
            Node::Object(vec![
                ("ResourceId", Node::text(row.key_pair_name)),
                ("ResourceType", Node::text(KEY_PAIR_RESOURCE_TYPE)),
                ("TagKey", Node::text(row.key)),
                ("TagValue", Node::text(row.value)),
            ])
        })
        .collect();
    Ok(vec![
        ("NextToken", Node::text(next_token)),
        ("TagResources", Node::List("TagResource", page)),
    ])
}

pub async fn join_resource_group(
    ctx: &ActionContext<'_>,
    params: &Params<'_>,
) -> Result<Fields, AliyunError> {
    let group = shape::required(params, "ResourceGroupId")?;
    let name = shape::required(params, "ResourceId")?;
    require_key_pair_type(params)?;
    let kp = find_by_name(ctx, name)
        .await?
        .ok_or_else(AliyunError::resource_not_found)?;
    // A key pair deleted since the lookup surfaces as KeyPairNotFound, which the error table
    // answers as InvalidResourceId.NotFound.
    ctx.inventory
        .set_resource_group(&ctx.scope, &kp.id, group, ctx.audit)
        .await?;
    Ok(Vec::new())
}

/// keypaird manages no instances; Terraform's alicloud provider calls this around key pairs.
pub fn describe_instances(params: &Params<'_>) -> Result<Fields, AliyunError> {
    let page_number = shape::bounded_number(params, "PageNumber", 1, u32::MAX)?;
    let page_size = shape::bounded_number(params, "PageSize", 10, 100)?;
    Ok(vec![
        ("Instances", Node::List("Instance", Vec::new())),
        ("TotalCount", Node::Int(0)),
        ("PageNumber", Node::Int(i64::from(page_number))),
        ("PageSize", Node::Int(i64::from(page_size))),
    ])
}

fn require_key_pair_type(params: &Params<'_>) -> Result<(), AliyunError> {
    let resource_type = shape::required(params, "ResourceType")?;
    if resource_type.eq_ignore_ascii_case(KEY_PAIR_RESOURCE_TYPE) {
        Ok(())
    } else {
        Err(AliyunError::resource_type_not_found())
    }
}

/// `ResourceId.N`: 1 to 50 key pair names.
fn resource_ids(params: &Params<'_>) -> Result<Vec<String>, AliyunError> {
    let names = shape::numbered(
        params,
        "ResourceId",
        RESOURCE_IDS_MAX,
        AliyunError::too_many_resource_ids,
    )?;
    if names.is_empty() {
        return Err(AliyunError::missing_parameter("ResourceId.1"));
    }
    Ok(names)
}

async fn find_by_name(ctx: &ActionContext<'_>, name: &str) -> Result<Option<KeyPair>, AliyunError> {
    let found = ctx
        .inventory
        .find_key_pairs(&KeyPairQuery::names(ctx.scope.clone(), [name]))
        .await?;
    Ok(found.key_pairs.into_iter().next())
}

/// Key pair IDs for the names, in one lookup; every name must exist.
async fn resolve_names(
    ctx: &ActionContext<'_>,
    names: &[String],
) -> Result<Vec<String>, AliyunError> {
    let found = ctx
        .inventory
        .find_key_pairs(&KeyPairQuery::names(ctx.scope.clone(), names))
        .await?
        .key_pairs;
    let all_found = names
        .iter()
        .all(|name| found.iter().any(|kp| kp.name == *name));
    if !all_found {
        return Err(AliyunError::resource_not_found());
    }
    Ok(found.into_iter().map(|kp| kp.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn creation_time_is_minute_precision_utc() {
        assert_eq!(
            creation_time(datetime!(2026-11-22 08:33:59.999 UTC)),
            "2026-11-22T08:33Z"
        );
    }

    #[test]
    fn fingerprints_compare_without_colons_or_case() {
        let stored = "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89";
        for asked in [
            stored,
            "ABCDEF0123456789ABCDEF0123456789",
            "AB:cd:EF0123456789:ab:cd:ef:01:23:45:67:89",
        ] {
            assert_eq!(
                canonical_fingerprint(asked).as_deref(),
                Some(stored),
                "{asked}"
            );
        }
        for none in [
            "",
            "ab:cd",
            "zz:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89",
        ] {
            assert_eq!(canonical_fingerprint(none), None, "{none}");
        }
    }
}
