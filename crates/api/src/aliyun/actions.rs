//! What each ECS action does: read its parameters, call the inventory, describe the reply.
//! Replies are [`Node`] fields; `mod.rs` adds the `RequestId` and renders JSON or XML.

use keypaird_inventory::pattern::Wildcard;
use keypaird_inventory::{
    ImportedKeyPair, Inventory, KeyPair, KeyPairSelector, NewKeyPair, Scope, TagRemoval,
};
use keypaird_keys::{KeyAlgorithm, PublicKey};
use time::macros::format_description;
use time::OffsetDateTime;

use super::error::AliyunError;
use super::reply::Node;
use super::shape::{self, MAX_TAGS_PER_REQUEST};
use crate::params::Params;

/// The fields of a successful reply, without `RequestId`.
pub type Fields = Vec<(&'static str, Node)>;

const DESCRIBE_PAGE_SIZE_DEFAULT: u32 = 10;
const DESCRIBE_PAGE_SIZE_MAX: u32 = 50;
const DELETE_NAMES_MAX: usize = 100;
const INSTANCE_IDS_MAX: usize = 50;
const RESOURCE_IDS_MAX: usize = 50;
/// Tag-resource pairs per ListTagResources page (ECS's page size for this call).
const TAG_RESOURCES_PAGE: usize = 50;
/// The only resource type this service holds.
const KEY_PAIR_RESOURCE_TYPE: &str = "keypair";

pub struct ActionContext<'a> {
    pub inventory: &'a Inventory,
    pub scope: Scope,
    pub quota: u32,
}

pub async fn create_key_pair(
    ctx: &ActionContext<'_>,
    params: &Params,
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
        .create_key_pair(&ctx.scope, ctx.quota, request)
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
    params: &Params,
) -> Result<Fields, AliyunError> {
    let name = shape::required(params, "KeyPairName")?;
    let body = shape::required(params, "PublicKeyBody")?;
    let tags = shape::tags(params)?;
    let public_key =
        PublicKey::parse_aliyun_import(body).map_err(|_| AliyunError::public_key_body())?;
    let request = ImportedKeyPair {
        name: name.to_owned(),
        public_key,
        public_key_text: body.trim().to_owned(),
        tags,
        resource_group_id: shape::optional(params, "ResourceGroupId")
            .unwrap_or_default()
            .to_owned(),
        dry_run: false,
    };
    let kp = ctx
        .inventory
        .import_key_pair(&ctx.scope, ctx.quota, request)
        .await?;
    Ok(vec![
        ("KeyPairId", Node::text(kp.id)),
        ("KeyPairName", Node::text(kp.name)),
        ("KeyPairFingerPrint", Node::text(kp.fingerprint)),
    ])
}

pub async fn describe_key_pairs(
    ctx: &ActionContext<'_>,
    params: &Params,
) -> Result<Fields, AliyunError> {
    let page_number = shape::bounded_number(params, "PageNumber", 1, u32::MAX)?;
    let page_size = shape::bounded_number(
        params,
        "PageSize",
        DESCRIBE_PAGE_SIZE_DEFAULT,
        DESCRIBE_PAGE_SIZE_MAX,
    )?;
    let include_public_key = shape::boolean(params, "IncludePublicKey")?.unwrap_or(false);
    let name_pattern = shape::optional(params, "KeyPairName").map(Wildcard::star_only);
    let fingerprint = shape::optional(params, "KeyPairFingerPrint").map(normalise_fingerprint);
    let resource_group = shape::optional(params, "ResourceGroupId");
    let tag_filters = shape::tag_pairs(params)?;

    // An exact name is one indexed lookup; a pattern filters the scope.
    let selector = match name_pattern.as_ref().map(Wildcard::as_literal) {
        Some(Some(name)) => KeyPairSelector::Names(vec![name]),
        _ => KeyPairSelector::All,
    };
    let matching: Vec<KeyPair> = ctx
        .inventory
        .find_key_pairs(&ctx.scope, &selector)
        .await?
        .into_iter()
        .filter(|kp| name_pattern.as_ref().is_none_or(|p| p.matches(&kp.name)))
        .filter(|kp| {
            fingerprint
                .as_ref()
                .is_none_or(|f| normalise_fingerprint(&kp.fingerprint) == *f)
        })
        .filter(|kp| resource_group.is_none_or(|g| kp.resource_group_id == g))
        .filter(|kp| has_all_tags(kp, &tag_filters))
        .collect();

    let total = matching.len();
    let skip = (page_number as usize - 1).saturating_mul(page_size as usize);
    let items = matching
        .into_iter()
        .skip(skip)
        .take(page_size as usize)
        .map(|kp| describe_item(kp, include_public_key))
        .collect();
    Ok(vec![
        ("TotalCount", Node::Int(total as i64)),
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

/// Fingerprints compare without colons and case: ECS prints them both ways.
fn normalise_fingerprint(fingerprint: &str) -> String {
    fingerprint
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn has_all_tags(kp: &KeyPair, filters: &[(String, Option<String>)]) -> bool {
    filters.iter().all(|(key, value)| {
        kp.tags
            .iter()
            .any(|tag| tag.key == *key && value.as_ref().is_none_or(|v| tag.value == *v))
    })
}

pub async fn delete_key_pairs(
    ctx: &ActionContext<'_>,
    params: &Params,
) -> Result<Fields, AliyunError> {
    let raw = shape::required(params, "KeyPairNames")?;
    let names = shape::json_string_array(raw)
        .filter(|names| (1..=DELETE_NAMES_MAX).contains(&names.len()))
        .ok_or_else(AliyunError::key_pair_names)?;
    ctx.inventory
        .delete_key_pairs_by_name(&ctx.scope, &names)
        .await?;
    Ok(Vec::new())
}

/// keypaird manages no instances: every instance comes back as a failed result, once the key
/// pair itself is known to exist.
pub async fn attach_or_detach_key_pair(
    ctx: &ActionContext<'_>,
    params: &Params,
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
    params: &Params,
) -> Result<Fields, AliyunError> {
    require_key_pair_type(params)?;
    let names = resource_ids(params)?;
    let tags = shape::tags(params)?;
    if tags.is_empty() {
        return Err(AliyunError::missing_parameter("Tag.1.Key"));
    }
    let ids = resolve_names(ctx, &names).await?;
    ctx.inventory
        .add_tags(&ctx.scope, &ids, &tags, false)
        .await?;
    Ok(Vec::new())
}

pub async fn untag_resources(
    ctx: &ActionContext<'_>,
    params: &Params,
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
        .remove_tags(&ctx.scope, &ids, &removals, false)
        .await?;
    Ok(Vec::new())
}

pub async fn list_tag_resources(
    ctx: &ActionContext<'_>,
    params: &Params,
) -> Result<Fields, AliyunError> {
    require_key_pair_type(params)?;
    let names = shape::numbered(
        params,
        "ResourceId",
        RESOURCE_IDS_MAX,
        AliyunError::too_many_resource_ids,
    )?;
    let tag_filters = shape::tag_pairs(params)?;
    let start = match shape::optional(params, "NextToken") {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| AliyunError::invalid_parameter("NextToken"))?,
    };
    let selector = if names.is_empty() {
        KeyPairSelector::All
    } else {
        KeyPairSelector::Names(names)
    };
    let key_pairs = ctx.inventory.find_key_pairs(&ctx.scope, &selector).await?;
    // One row per (key pair, tag); with tag filters, only the tags they name.
    let rows: Vec<Node> = key_pairs
        .iter()
        .flat_map(|kp| kp.tags.iter().map(move |tag| (kp, tag)))
        .filter(|(_, tag)| {
            tag_filters.is_empty()
                || tag_filters.iter().any(|(key, value)| {
                    tag.key == *key && value.as_ref().is_none_or(|v| tag.value == *v)
                })
        })
        .skip(start)
        .take(TAG_RESOURCES_PAGE + 1)
        .map(|(kp, tag)| {
            Node::Object(vec![
                ("ResourceId", Node::text(kp.name.as_str())),
                ("ResourceType", Node::text(KEY_PAIR_RESOURCE_TYPE)),
                ("TagKey", Node::text(tag.key.as_str())),
                ("TagValue", Node::text(tag.value.as_str())),
            ])
        })
        .collect();
    let (page, next_token) = if rows.len() > TAG_RESOURCES_PAGE {
        let mut page = rows;
        page.truncate(TAG_RESOURCES_PAGE);
        (page, (start + TAG_RESOURCES_PAGE).to_string())
    } else {
        (rows, String::new())
    };
    Ok(vec![
        ("NextToken", Node::text(next_token)),
        ("TagResources", Node::List("TagResource", page)),
    ])
}

pub async fn join_resource_group(
    ctx: &ActionContext<'_>,
    params: &Params,
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
        .set_resource_group(&ctx.scope, &kp.id, group)
        .await?;
    Ok(Vec::new())
}

/// keypaird manages no instances; Terraform's alicloud provider calls this around key pairs.
pub fn describe_instances(params: &Params) -> Result<Fields, AliyunError> {
    let page_number = shape::bounded_number(params, "PageNumber", 1, u32::MAX)?;
    let page_size = shape::bounded_number(params, "PageSize", 10, 100)?;
    Ok(vec![
        ("Instances", Node::List("Instance", Vec::new())),
        ("TotalCount", Node::Int(0)),
        ("PageNumber", Node::Int(i64::from(page_number))),
        ("PageSize", Node::Int(i64::from(page_size))),
    ])
}

fn require_key_pair_type(params: &Params) -> Result<(), AliyunError> {
    let resource_type = shape::required(params, "ResourceType")?;
    if resource_type.eq_ignore_ascii_case(KEY_PAIR_RESOURCE_TYPE) {
        Ok(())
    } else {
        Err(AliyunError::resource_type_not_found())
    }
}

/// `ResourceId.N`: 1 to 50 key pair names.
fn resource_ids(params: &Params) -> Result<Vec<String>, AliyunError> {
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
        .find_key_pairs(&ctx.scope, &KeyPairSelector::Names(vec![name.to_owned()]))
        .await?;
    Ok(found.into_iter().next())
}

/// Key pair IDs for the names, in one lookup; every name must exist.
async fn resolve_names(
    ctx: &ActionContext<'_>,
    names: &[String],
) -> Result<Vec<String>, AliyunError> {
    let found = ctx
        .inventory
        .find_key_pairs(&ctx.scope, &KeyPairSelector::Names(names.to_vec()))
        .await?;
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
        assert_eq!(
            normalise_fingerprint("AB:cd:0F"),
            normalise_fingerprint("abcd0f")
        );
    }
}
