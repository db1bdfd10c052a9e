//! The key pairs pages of both clouds: the list (search, sort, keyset pages), a key pair's
//! detail, and the changes (create, import, delete, tags, resource group). Every change goes
//! through the inventory with the API's rules and is recorded in the audit trail as the
//! cloud's API would record it; a failed one is recorded with its error.

use std::sync::Arc;

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keypaird_inventory::pattern::Wildcard;
use keypaird_inventory::{
    AnyOf, AuditEvent, ImportedKeyPair, KeyPair, KeyPairCursor, KeyPairFilter, KeyPairOrder,
    KeyPairQuery, KeyPairRef, NewKeyPair, Page, Scope, TagMatch, TagRemoval,
};
use keypaird_keys::{KeyAlgorithm, PublicKey};
use maud::{html, Markup};

use crate::cloud::{valid_region, Change, Cloud, CloudError, Field};
use crate::views::{self, csrf_field, Tab};
use crate::{authorize_change, forms, read_form, Caller, Console, Seen};

/// Key pairs per page of the list.
const PAGE_SIZE: u32 = 50;

/// Key pairs one delete takes at most (ECS `DeleteKeyPairs` takes 100 names).
const MAX_DELETE: usize = 100;

/// A page's cloud and region, read from its path and query.
struct Place {
    cloud: Cloud,
    region: String,
}

impl Place {
    fn read(segment: &str, region: Option<&str>) -> Result<Place, Response> {
        let Some(cloud) = Cloud::parse(segment) else {
            return Err(views::not_found());
        };
        let region = region
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .unwrap_or(cloud.default_region());
        if !valid_region(region) {
            return Err(views::message_page(
                StatusCode::BAD_REQUEST,
                "Unknown region",
                "A region is lower-case letters, digits and hyphens, such as us-east-1 or cn-hangzhou.",
            ));
        }
        Ok(Place {
            cloud,
            region: region.to_owned(),
        })
    }

    fn scope(&self, caller: &Caller) -> Scope {
        Scope {
            account_id: caller.account.id.clone(),
            provider: self.cloud.provider(),
            region: self.region.clone(),
        }
    }

    fn list_href(&self) -> String {
        format!(
            "/console/{}/key-pairs?region={}",
            self.cloud.segment(),
            encode(&self.region)
        )
    }

    fn detail_href(&self, id: &str) -> String {
        format!(
            "/console/{}/key-pairs/{}?region={}",
            self.cloud.segment(),
            encode(id),
            encode(&self.region)
        )
    }

    fn action(&self, what: &str) -> String {
        format!("/console/{}/{what}", self.cloud.segment())
    }
}

/// A signed-in request for one of a cloud's pages: the cloud and region it names, and who asks.
pub(crate) struct PageRequest {
    place: Place,
    caller: Caller,
    seen: Seen,
}

impl FromRequestParts<Arc<Console>> for PageRequest {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        let seen = Seen::of(parts);
        let caller = console.signed_in(&seen.headers).await?;
        let place = Place::read(&cloud_segment(parts, console).await?, seen.get("region"))?;
        Ok(PageRequest {
            place,
            caller,
            seen,
        })
    }
}

/// A change posted from a cloud's pages: a signed-in caller whose key may write, with the
/// session's CSRF token, and the form (whose `region` names the place).
pub(crate) struct ChangeRequest {
    place: Place,
    caller: Caller,
    seen: Seen,
    form: Vec<(String, String)>,
}

impl FromRequest<Arc<Console>> for ChangeRequest {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Arc<Console>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let seen = Seen::of(&parts);
        let segment = cloud_segment(&mut parts, console).await?;
        let form = read_form(body).await?;
        let caller = authorize_change(console, &seen.headers, &form).await?;
        let place = Place::read(&segment, forms::first(&form, "region"))?;
        Ok(ChangeRequest {
            place,
            caller,
            seen,
            form,
        })
    }
}

/// The `{cloud}` of the route.
async fn cloud_segment(parts: &mut Parts, console: &Arc<Console>) -> Result<String, Response> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, console)
        .await
        .map_err(|_| views::not_found())?;
    params.get("cloud").cloned().ok_or_else(views::not_found)
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A list page's cursor in a link: the key pair's creation time, ID and name (each order
/// resumes after the parts it sorts by).
fn cursor_text(key_pair: &KeyPair) -> String {
    forms::cursor_text(
        key_pair.created_at,
        &format!("{}.{}", key_pair.id, key_pair.name),
    )
}

fn parse_cursor(text: &str) -> Option<KeyPairCursor> {
    let (created_at, rest) = forms::parse_cursor(text)?;
    // IDs hold no dot; the name is the rest, whatever it holds.
    let (id, name) = rest.split_once('.')?;
    Some(KeyPairCursor {
        created_at,
        id: id.to_owned(),
        name: name.to_owned(),
    })
}

/// What the list shows: a name pattern, a tag, an order and a page.
struct ListRequest {
    name: Option<String>,
    tag: Option<String>,
    order: KeyPairOrder,
    after: Option<String>,
    before: Option<String>,
}

/// The orders a list can be sorted in: `sort=` value, label, order. By name is the default, as
/// in both clouds' consoles; every one is an index's order, so no page is a sort of the scope.
const SORTS: [(&str, &str, KeyPairOrder); 4] = [
    ("name", "Name, A to Z", KeyPairOrder::NameAscending),
    ("name-desc", "Name, Z to A", KeyPairOrder::NameDescending),
    ("newest", "Newest first", KeyPairOrder::NewestFirst),
    ("oldest", "Oldest first", KeyPairOrder::OldestFirst),
];

impl ListRequest {
    fn read(seen: &Seen) -> ListRequest {
        let filled = |name: &str| forms::filled(&seen.query, name).map(str::to_owned);
        let order = SORTS
            .iter()
            .find(|(value, _, _)| seen.get("sort") == Some(value))
            .map_or(KeyPairOrder::NameAscending, |(_, _, order)| *order);
        ListRequest {
            name: filled("name"),
            tag: filled("tag"),
            order,
            after: filled("after"),
            before: filled("before"),
        }
    }

    fn sort_value(&self) -> &'static str {
        SORTS
            .iter()
            .find(|(_, _, order)| *order == self.order)
            .map_or("name", |(value, _, _)| value)
    }

    fn filters(&self, cloud: Cloud) -> Vec<KeyPairFilter> {
        let mut filters = Vec::new();
        if let Some(name) = &self.name {
            // The cloud's own pattern rules: EC2's `*` and `?`, ECS's `*` only.
            let pattern = match cloud {
                Cloud::Ec2 => Wildcard::new(name),
                Cloud::Ecs => Wildcard::star_only(name),
            };
            filters.push(KeyPairFilter::Name(AnyOf::patterns([pattern])));
        }
        if let Some(tag) = &self.tag {
            filters.push(match tag.split_once('=') {
                Some((key, value)) => KeyPairFilter::Tag(TagMatch {
                    key: key.trim().to_owned(),
                    value: Some(AnyOf::exactly([value.trim()])),
                }),
                None => KeyPairFilter::TagKey(AnyOf::exactly([tag.as_str()])),
            });
        }
        filters
    }

    /// The link to the same search at another page (`after`/`before` a key pair).
    fn href(&self, place: &Place, page: Option<(&str, &KeyPair)>) -> String {
        let mut href = place.list_href();
        for (name, value) in [("name", &self.name), ("tag", &self.tag)] {
            if let Some(value) = value {
                href.push_str(&format!("&{name}={}", encode(value)));
            }
        }
        href.push_str(&format!("&sort={}", self.sort_value()));
        if let Some((direction, key_pair)) = page {
            href.push_str(&format!("&{direction}={}", encode(&cursor_text(key_pair))));
        }
        href
    }
}

pub async fn list(
    State(console): State<Arc<Console>>,
    PageRequest {
        place,
        caller,
        seen,
    }: PageRequest,
) -> Response {
    let wanted = ListRequest::read(&seen);
    let notice = seen
        .get("deleted")
        .and_then(|n| n.parse::<u64>().ok())
        .map(|n| format!("Deleted {n} key pair{}.", if n == 1 { "" } else { "s" }));
    match list_page(&console, &caller, &place, &wanted).await {
        Ok(body) => render(&place, &caller, &wanted, body, notice.as_deref(), None),
        Err(error) => render(&place, &caller, &wanted, None, None, Some(error)),
    }
}

/// One page of the list, read with the store's keyset page; `before` reads the other way and
/// turns the page round.
struct ListPage {
    key_pairs: Vec<KeyPair>,
    has_previous_page: bool,
    has_next_page: bool,
}

async fn list_page(
    console: &Console,
    caller: &Caller,
    place: &Place,
    wanted: &ListRequest,
) -> Result<Option<ListPage>, CloudError> {
    let (cursor_text, backwards) = match (&wanted.before, &wanted.after) {
        (Some(before), _) => (Some(before), true),
        (None, after) => (after.as_ref(), false),
    };
    let cursor = match cursor_text {
        Some(text) => match parse_cursor(text) {
            Some(cursor) => Some(cursor),
            None => return Ok(None),
        },
        None => None,
    };
    let order = if backwards {
        wanted.order.reversed()
    } else {
        wanted.order
    };
    let mut query = KeyPairQuery::all(place.scope(caller))
        .paged(Page::After {
            after: cursor.clone(),
            limit: PAGE_SIZE + 1,
        })
        .ordered(order);
    query.filters = wanted.filters(place.cloud);
    let mut key_pairs = console
        .inventory
        .find_key_pairs(&query)
        .await
        .map_err(|err| place.cloud.error(err))?
        .key_pairs;
    let more = key_pairs.len() > PAGE_SIZE as usize;
    key_pairs.truncate(PAGE_SIZE as usize);
    if backwards {
        key_pairs.reverse();
    }
    let (has_earlier, has_later) = if backwards {
        (more, true)
    } else {
        (cursor.is_some(), more)
    };
    Ok(Some(ListPage {
        key_pairs,
        has_previous_page: has_earlier,
        has_next_page: has_later,
    }))
}

fn render(
    place: &Place,
    caller: &Caller,
    wanted: &ListRequest,
    page: Option<ListPage>,
    notice: Option<&str>,
    error: Option<CloudError>,
) -> Response {
    let cloud = place.cloud;
    let list_path = format!("/console/{}/key-pairs", cloud.segment());
    let body = html! {
        div class="toolbar" {
            (views::region_selector(cloud, &place.region, &list_path))
            @if !caller.read_only {
                div class="actions" {
                    a class="button primary" id="create-link" href=(format!("{}?region={}", place.action("create"), encode(&place.region))) { "Create key pair" }
                    a class="button" id="import-link" href=(format!("{}?region={}", place.action("import"), encode(&place.region))) { "Import key pair" }
                }
            }
        }
        @if let Some(notice) = notice { (views::notice(notice)) }
        @if let Some(error) = &error { (views::error_box(error)) }
        form method="get" action=(list_path) class="search" role="search" {
            input type="hidden" name="region" value=(place.region);
            label for="search-name" { "Name" }
            input id="search-name" name="name" value=(wanted.name.as_deref().unwrap_or(""))
                placeholder=(match cloud { Cloud::Ec2 => "web-*  or  key-?", Cloud::Ecs => "web-*" });
            label for="search-tag" { "Tag" }
            input id="search-tag" name="tag" value=(wanted.tag.as_deref().unwrap_or("")) placeholder="env=prod  or  env";
            label for="sort" { "Sort" }
            select id="sort" name="sort" {
                @for (value, label, order) in SORTS {
                    option value=(value) selected[order == wanted.order] { (label) }
                }
            }
            button type="submit" { "Search" }
        }
        @match &page {
            None => @if error.is_none() { p { "That page link is no longer valid. " a href=(wanted.href(place, None)) { "Go to the first page." } } },
            Some(page) => {
                (table(place, caller, &page.key_pairs))
                nav class="pages" aria-label="Pages" {
                    @if page.has_previous_page {
                        a id="first-page" href=(wanted.href(place, None)) { "First page" }
                        @if let Some(first) = page.key_pairs.first() {
                            a id="previous-page" rel="prev" href=(wanted.href(place, Some(("before", first)))) { "Previous page" }
                        }
                    }
                    @if page.has_next_page {
                        @if let Some(last) = page.key_pairs.last() {
                            a id="next-page" rel="next" href=(wanted.href(place, Some(("after", last)))) { "Next page" }
                        }
                    }
                }
            }
        }
    };
    let status = error.as_ref().map(|e| e.status).unwrap_or(StatusCode::OK);
    views::page_response(
        status,
        cloud.title(),
        Some(caller),
        Tab::KeyPairs(cloud),
        body,
    )
}

fn table(place: &Place, caller: &Caller, key_pairs: &[KeyPair]) -> Markup {
    let ecs = place.cloud == Cloud::Ecs;
    html! {
        @if key_pairs.is_empty() {
            p id="no-key-pairs" { "No key pairs match in " (place.region) "." }
        } @else {
            form method="get" action=(place.action("delete")) id="key-pair-list" {
                input type="hidden" name="region" value=(place.region);
                table {
                    caption class="visually-hidden" { "Key pairs in " (place.region) }
                    thead {
                        tr {
                            @if !caller.read_only {
                                th scope="col" { input type="checkbox" id="select-all" aria-label="Select all key pairs on this page" data-select-all="key-pair"; }
                            }
                            th scope="col" { "Name" }
                            th scope="col" { "ID" }
                            th scope="col" { "Type" }
                            th scope="col" { "Fingerprint" }
                            th scope="col" { "Created" }
                            th scope="col" { "Tags" }
                            @if ecs { th scope="col" { "Resource group" } }
                        }
                    }
                    tbody {
                        @for key_pair in key_pairs {
                            tr {
                                @if !caller.read_only {
                                    td { input type="checkbox" name="id" value=(key_pair.id) data-select="key-pair" aria-label=(format!("Select {}", key_pair.name)); }
                                }
                                td { a class="key-name" href=(place.detail_href(&key_pair.id)) { (key_pair.name) } }
                                td { code { (key_pair.id) } }
                                td { (key_pair.key_type.as_str()) }
                                td { code class="fingerprint" { (key_pair.fingerprint) } }
                                td { time datetime=(views::time_text(key_pair.created_at)) { (views::time_text(key_pair.created_at)) } }
                                td { (tag_list(key_pair)) }
                                @if ecs { td { (key_pair.resource_group_id) } }
                            }
                        }
                    }
                }
                @if !caller.read_only {
                    button type="submit" id="delete-selected" class="danger" { "Delete selected" }
                }
            }
        }
    }
}

fn tag_list(key_pair: &KeyPair) -> Markup {
    html! {
        ul class="tags" {
            @for tag in &key_pair.tags {
                li { (tag.key) @if !tag.value.is_empty() { "=" (tag.value) } }
            }
        }
    }
}

/// The page of one key pair: what the list shows, its public key with a copy button, its tags
/// with their edits, and (ECS) its resource group.
pub async fn detail(
    State(console): State<Arc<Console>>,
    Path((_, id)): Path<(String, String)>,
    PageRequest { place, caller, .. }: PageRequest,
) -> Response {
    detail_page(&console, &caller, &place, &id, None, StatusCode::OK).await
}

async fn find_by_ids(
    console: &Console,
    caller: &Caller,
    place: &Place,
    ids: &[&str],
) -> Result<Vec<KeyPair>, CloudError> {
    let query = KeyPairQuery::ids(place.scope(caller), ids.iter().copied());
    console
        .inventory
        .find_key_pairs(&query)
        .await
        .map(|page| page.key_pairs)
        .map_err(|err| place.cloud.error(err))
}

async fn detail_page(
    console: &Console,
    caller: &Caller,
    place: &Place,
    id: &str,
    error: Option<CloudError>,
    status: StatusCode,
) -> Response {
    let key_pair = match find_by_ids(console, caller, place, &[id]).await {
        Ok(found) => found.into_iter().next(),
        Err(error) => return error_page(place, caller, "Key pair", error),
    };
    let Some(key_pair) = key_pair else {
        return views::message_page(
            StatusCode::NOT_FOUND,
            "Key pair not found",
            "No key pair of this account has that ID in this region.",
        );
    };
    let ecs = place.cloud == Cloud::Ecs;
    let body = html! {
        p { a href=(place.list_href()) { "← All key pairs in " (place.region) } }
        @if let Some(error) = &error { (views::error_box(error)) }
        dl class="facts" {
            dt { "Name" } dd id="detail-name" { (key_pair.name) }
            dt { "ID" } dd { code id="detail-id" { (key_pair.id) } }
            dt { "Type" } dd { (key_pair.key_type.as_str()) }
            dt { "Fingerprint" } dd { code id="detail-fingerprint" { (key_pair.fingerprint) } }
            dt { "Created" } dd { (views::time_text(key_pair.created_at)) }
            dt { "Region" } dd { (place.region) }
            @if ecs { dt { "Resource group" } dd id="detail-resource-group" { (key_pair.resource_group_id) } }
        }
        h2 { "Public key" }
        pre id="public-key" class="key" { (key_pair.public_key) }
        button type="button" id="copy-public-key" data-copy="public-key" { "Copy public key" }
        span class="copied" id="copy-status" aria-live="polite" {}
        h2 { "Tags" }
        @if key_pair.tags.is_empty() { p id="no-tags" { "No tags." } }
        @else {
            table id="tags" {
                thead { tr { th scope="col" { "Key" } th scope="col" { "Value" } @if !caller.read_only { th scope="col" { span class="visually-hidden" { "Actions" } } } } }
                tbody {
                    @for tag in &key_pair.tags {
                        tr {
                            td { (tag.key) } td { (tag.value) }
                            @if !caller.read_only {
                                td {
                                    form method="post" action=(place.action("tags")) class="inline" {
                                        (csrf_field(caller))
                                        input type="hidden" name="region" value=(place.region);
                                        input type="hidden" name="id" value=(key_pair.id);
                                        input type="hidden" name="op" value="remove";
                                        input type="hidden" name="key" value=(tag.key);
                                        button type="submit" class="link" aria-label=(format!("Remove tag {}", tag.key)) { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !caller.read_only {
            form method="post" action=(place.action("tags")) class="row" id="add-tag" {
                (csrf_field(caller))
                input type="hidden" name="region" value=(place.region);
                input type="hidden" name="id" value=(key_pair.id);
                input type="hidden" name="op" value="add";
                label for="tag-key" { "Tag key" }
                input id="tag-key" name="key" required;
                label for="tag-value" { "Value" }
                input id="tag-value" name="value";
                button type="submit" { "Add tag" }
            }
            @if ecs {
                h2 { "Resource group" }
                form method="post" action=(place.action("resource-group")) class="row" id="move-group" {
                    (csrf_field(caller))
                    input type="hidden" name="region" value=(place.region);
                    input type="hidden" name="id" value=(key_pair.id);
                    label for="resource-group" { "Resource group ID" }
                    input id="resource-group" name="resource_group_id" required value=(key_pair.resource_group_id) placeholder="rg-…";
                    button type="submit" { "Move" }
                }
            }
            h2 { "Delete" }
            form method="get" action=(place.action("delete")) {
                input type="hidden" name="region" value=(place.region);
                input type="hidden" name="id" value=(key_pair.id);
                button type="submit" class="danger" id="delete-one" { "Delete this key pair" }
            }
        }
    };
    views::page_response(
        status,
        &key_pair.name,
        Some(caller),
        Tab::KeyPairs(place.cloud),
        body,
    )
}

fn error_page(place: &Place, caller: &Caller, title: &str, error: CloudError) -> Response {
    let status = error.status;
    let body = html! {
        (views::error_box(&error))
        p { a href=(place.list_href()) { "Back to the key pairs" } }
    };
    views::page_response(
        status,
        title,
        Some(caller),
        Tab::KeyPairs(place.cloud),
        body,
    )
}

/// The event of a console change, as the cloud's API records it: the dialect's source and
/// region, the action's API name and its parameters in the API's names.
fn change_event(
    place: &Place,
    change: Change,
    caller: &Caller,
    seen: &Seen,
    parameters: &[(&str, &str)],
) -> AuditEvent {
    let cloud = place.cloud;
    let mut event = AuditEvent::new(cloud.audit_source(), cloud.action(change));
    event.account_id = caller.account.id.clone();
    event.account_name = caller.account.name.clone();
    event.region = place.region.clone();
    event.access_key_id = caller.access_key_id.clone();
    event.request_id = uuid::Uuid::new_v4().to_string();
    event.source_ip = seen.source_ip.to_string();
    event.user_agent = keypaird_api::audit::user_agent(&seen.headers);
    let mut object = serde_json::Map::new();
    for (name, value) in parameters {
        object.insert((*name).to_owned(), serde_json::Value::from(*value));
    }
    if cloud == Cloud::Ecs {
        object.insert(
            cloud.parameter(Field::Region).to_owned(),
            serde_json::Value::from(place.region.as_str()),
        );
    }
    event.request_parameters = serde_json::Value::Object(object).to_string();
    event
}

/// Records a change that failed, with its error, as the APIs record theirs.
async fn record_failure(console: &Console, mut event: AuditEvent, error: &CloudError) {
    keypaird_api::audit::fail(&mut event, error.code, &error.message);
    if let Err(err) = console.inventory.record_events(&[event]).await {
        tracing::warn!(error = %err, "the audit trail could not record a console change");
    }
}

pub async fn create_form(PageRequest { place, caller, .. }: PageRequest) -> Response {
    new_key_pair_page(&place, &caller, NewForm::Create, &[], None)
}

pub async fn import_form(PageRequest { place, caller, .. }: PageRequest) -> Response {
    new_key_pair_page(&place, &caller, NewForm::Import, &[], None)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NewForm {
    Create,
    Import,
}

/// The create or import form, refilled with what was sent when it is shown again with an error.
fn new_key_pair_page(
    place: &Place,
    caller: &Caller,
    which: NewForm,
    sent: &[(String, String)],
    error: Option<CloudError>,
) -> Response {
    let cloud = place.cloud;
    let value = |name: &str| forms::first(sent, name).unwrap_or("").to_owned();
    let (title, action) = match which {
        NewForm::Create => ("Create key pair", place.action("create")),
        NewForm::Import => ("Import key pair", place.action("import")),
    };
    let key_type = value("key_type");
    let key_format = value("key_format");
    let body = html! {
        p { a href=(place.list_href()) { "← All key pairs in " (place.region) } }
        @if caller.read_only {
            (views::notice("This access key is read-only: it cannot create or import key pairs."))
        } @else {
            @if let Some(error) = &error { (views::error_box(error)) }
            @if which == NewForm::Create {
                p { "The private key is downloaded once, when the key pair is created. keypaird does not keep it." }
            }
            form method="post" action=(action) class="stack" id="new-key-pair" {
                (csrf_field(caller))
                label for="region-field" { "Region" }
                input id="region-field" name="region" value=(place.region) readonly;
                label for="key-name" { "Name" }
                input id="key-name" name="name" value=(value("name")) required autocomplete="off" spellcheck="false";
                @if which == NewForm::Create && cloud == Cloud::Ec2 {
                    fieldset {
                        legend { "Key type" }
                        label { input type="radio" name="key_type" value="rsa" checked[key_type != "ed25519"]; " RSA" }
                        label { input type="radio" name="key_type" value="ed25519" checked[key_type == "ed25519"]; " ED25519" }
                    }
                    fieldset {
                        legend { "Private key file format" }
                        label { input type="radio" name="key_format" value="pem" checked[key_format != "ppk"]; " .pem (OpenSSH)" }
                        label { input type="radio" name="key_format" value="ppk" checked[key_format == "ppk"]; " .ppk (PuTTY)" }
                    }
                }
                @if which == NewForm::Create && cloud == Cloud::Ecs {
                    p { "ECS creates RSA 2048-bit key pairs; the private key comes as PKCS#8 PEM." }
                }
                @if which == NewForm::Import {
                    label for="public-key-text" { "Public key (OpenSSH line" @if cloud == Cloud::Ec2 { " or RFC 4716" } ")" }
                    textarea id="public-key-text" name="public_key" rows="6" required spellcheck="false" { (value("public_key")) }
                    label for="public-key-file" { "…or read it from a file" }
                    input type="file" id="public-key-file" accept=".pub,.txt,text/plain" data-read-into="public-key-text";
                }
                label for="tags-field" { "Tags, one per line as key=value" }
                textarea id="tags-field" name="tags" rows="3" spellcheck="false" { (value("tags")) }
                @if cloud == Cloud::Ecs {
                    label for="resource-group-field" { "Resource group ID (optional)" }
                    input id="resource-group-field" name="resource_group_id" value=(value("resource_group_id"));
                }
                button type="submit" class="primary" id="submit-new" {
                    @if which == NewForm::Create { "Create and download the private key" } @else { "Import" }
                }
            }
        }
    };
    let status = error.as_ref().map(|e| e.status).unwrap_or(StatusCode::OK);
    views::page_response(status, title, Some(caller), Tab::KeyPairs(cloud), body)
}

pub async fn create(
    State(console): State<Arc<Console>>,
    ChangeRequest {
        place,
        caller,
        seen,
        form,
    }: ChangeRequest,
) -> Response {
    let cloud = place.cloud;
    let name = forms::filled(&form, "name").unwrap_or_default().to_owned();
    let key_type = forms::first(&form, "key_type").unwrap_or("rsa");
    let ppk = forms::first(&form, "key_format") == Some("ppk");
    let mut parameters = vec![(cloud.parameter(Field::Name), name.as_str())];
    if cloud == Cloud::Ec2 {
        parameters.push((cloud.parameter(Field::KeyType), key_type));
        parameters.push((
            cloud.parameter(Field::KeyFormat),
            if ppk { "ppk" } else { "pem" },
        ));
    }
    let resource_group = forms::filled(&form, "resource_group_id").unwrap_or_default();
    if cloud == Cloud::Ecs && !resource_group.is_empty() {
        parameters.push((cloud.parameter(Field::ResourceGroup), resource_group));
    }
    let event = change_event(&place, Change::Create, &caller, &seen, &parameters);
    let algorithm = match (cloud, key_type) {
        (Cloud::Ec2, "ed25519") => KeyAlgorithm::Ed25519,
        _ => KeyAlgorithm::Rsa,
    };
    let created = async {
        if name.is_empty() {
            return Err(cloud.missing(cloud.parameter(Field::Name)));
        }
        let request = NewKeyPair {
            name: name.clone(),
            algorithm,
            tags: forms::tag_lines(forms::first(&form, "tags").unwrap_or_default()),
            resource_group_id: resource_group.to_owned(),
            dry_run: false,
        };
        let quota = caller.account.key_pair_quota(cloud.provider());
        let created = console
            .inventory
            .create_key_pair(&place.scope(&caller), quota, request, &event)
            .await
            .map_err(|err| cloud.error(err))?;
        let material = match cloud {
            Cloud::Ec2 => {
                keypaird_api::aws::actions::private_key_material(&created, ppk, console.ppk_version)
                    .map_err(Cloud::aws)?
            }
            Cloud::Ecs => created
                .private_key
                .pkcs8_pem()
                .map_err(|_| Cloud::aliyun(keypaird_api::aliyun::error::AliyunError::internal()))?,
        };
        Ok((created.key_pair, material))
    }
    .await;
    match created {
        Ok((key_pair, material)) => {
            let extension = if ppk && cloud == Cloud::Ec2 {
                "ppk"
            } else {
                "pem"
            };
            download(&key_pair.name, extension, material.as_bytes())
        }
        Err(error) => {
            record_failure(&console, event, &error).await;
            new_key_pair_page(&place, &caller, NewForm::Create, &form, Some(error))
        }
    }
}

/// The private key as a file to save: never cached, offered this once.
fn download(name: &str, extension: &str, material: &[u8]) -> Response {
    // The name's characters that are not safe in a header's quoted string become `_`.
    let file_name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut response = material.to_vec().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-pem-file"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"{file_name}.{extension}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

pub async fn import(
    State(console): State<Arc<Console>>,
    ChangeRequest {
        place,
        caller,
        seen,
        form,
    }: ChangeRequest,
) -> Response {
    let cloud = place.cloud;
    let name = forms::filled(&form, "name").unwrap_or_default().to_owned();
    // Browsers send a textarea's line breaks as CRLF; the key is kept as the lines typed.
    let text = forms::first(&form, "public_key")
        .unwrap_or_default()
        .replace("\r\n", "\n")
        .trim()
        .to_owned();
    let resource_group = forms::filled(&form, "resource_group_id").unwrap_or_default();
    let mut parameters = vec![
        (cloud.parameter(Field::Name), name.as_str()),
        (cloud.parameter(Field::PublicKey), text.as_str()),
    ];
    if cloud == Cloud::Ecs && !resource_group.is_empty() {
        parameters.push((cloud.parameter(Field::ResourceGroup), resource_group));
    }
    let event = change_event(&place, Change::Import, &caller, &seen, &parameters);
    let imported = async {
        if name.is_empty() {
            return Err(cloud.missing(cloud.parameter(Field::Name)));
        }
        if text.is_empty() {
            return Err(cloud.missing(cloud.parameter(Field::PublicKey)));
        }
        let public_key = match cloud {
            Cloud::Ec2 => PublicKey::parse_aws_import(text.as_bytes()),
            Cloud::Ecs => PublicKey::parse_aliyun_import(&text),
        }
        .map_err(|_| cloud.bad_public_key())?;
        let request = ImportedKeyPair {
            name: name.clone(),
            public_key,
            public_key_text: text.clone(),
            tags: forms::tag_lines(forms::first(&form, "tags").unwrap_or_default()),
            resource_group_id: resource_group.to_owned(),
            dry_run: false,
        };
        let quota = caller.account.key_pair_quota(cloud.provider());
        console
            .inventory
            .import_key_pair(&place.scope(&caller), quota, request, &event)
            .await
            .map_err(|err| cloud.error(err))
    }
    .await;
    match imported {
        Ok(key_pair) => Redirect::to(&place.detail_href(&key_pair.id)).into_response(),
        Err(error) => {
            record_failure(&console, event, &error).await;
            new_key_pair_page(&place, &caller, NewForm::Import, &form, Some(error))
        }
    }
}

/// The confirmation page of a delete: the key pairs chosen, named, and one button.
pub async fn delete_confirm(
    State(console): State<Arc<Console>>,
    PageRequest {
        place,
        caller,
        seen,
    }: PageRequest,
) -> Response {
    let ids = forms::all(&seen.query, "id");
    if ids.is_empty() || ids.len() > MAX_DELETE {
        return views::message_page(
            StatusCode::BAD_REQUEST,
            "Nothing to delete",
            "Choose between 1 and 100 key pairs on the list, then Delete selected.",
        );
    }
    let key_pairs = match find_by_ids(&console, &caller, &place, &ids).await {
        Ok(found) => found,
        Err(error) => return error_page(&place, &caller, "Delete key pairs", error),
    };
    let body = html! {
        @if key_pairs.is_empty() {
            p { "None of the chosen key pairs exists any more." }
        } @else {
            p { "Delete these " (key_pairs.len()) " key pairs from " (place.region) "? This cannot be undone; instances keep the keys they were given." }
            ul id="to-delete" {
                @for key_pair in &key_pairs { li { strong { (key_pair.name) } " " code { (key_pair.id) } } }
            }
            @if !caller.read_only {
                form method="post" action=(place.action("delete")) {
                    (csrf_field(&caller))
                    input type="hidden" name="region" value=(place.region);
                    @for key_pair in &key_pairs { input type="hidden" name="id" value=(key_pair.id); }
                    button type="submit" class="danger" id="confirm-delete" { "Delete" }
                    " "
                    a href=(place.list_href()) { "Cancel" }
                }
            }
        }
    };
    views::page_response(
        StatusCode::OK,
        "Delete key pairs",
        Some(&caller),
        Tab::KeyPairs(place.cloud),
        body,
    )
}

pub async fn delete(
    State(console): State<Arc<Console>>,
    ChangeRequest {
        place,
        caller,
        seen,
        form,
    }: ChangeRequest,
) -> Response {
    let cloud = place.cloud;
    let ids = forms::all(&form, "id");
    if ids.is_empty() || ids.len() > MAX_DELETE {
        return views::message_page(
            StatusCode::BAD_REQUEST,
            "Nothing to delete",
            "Choose between 1 and 100 key pairs on the list, then Delete selected.",
        );
    }
    let key_pairs = match find_by_ids(&console, &caller, &place, &ids).await {
        Ok(found) => found,
        Err(error) => return error_page(&place, &caller, "Delete key pairs", error),
    };
    let scope = place.scope(&caller);
    let deleted = match cloud {
        // EC2 deletes one key pair a call, each its own event.
        Cloud::Ec2 => {
            let mut deleted = 0u64;
            for key_pair in &key_pairs {
                let parameters = [(cloud.parameter(Field::KeyPairId), key_pair.id.as_str())];
                let event = change_event(&place, Change::Delete, &caller, &seen, &parameters);
                let by_id = KeyPairRef::Id(key_pair.id.clone());
                match console
                    .inventory
                    .delete_key_pair(&scope, &by_id, false, &event)
                    .await
                {
                    Ok(gone) => deleted += u64::from(gone.is_some()),
                    Err(err) => {
                        let error = cloud.error(err);
                        record_failure(&console, event, &error).await;
                        return error_page(&place, &caller, "Delete key pairs", error);
                    }
                }
            }
            deleted
        }
        // ECS deletes by name, a batch a call.
        Cloud::Ecs => {
            let names: Vec<String> = key_pairs.iter().map(|kp| kp.name.clone()).collect();
            let names_json = serde_json::Value::from(names.clone()).to_string();
            let parameters = [("KeyPairNames", names_json.as_str())];
            let event = change_event(&place, Change::Delete, &caller, &seen, &parameters);
            match console
                .inventory
                .delete_key_pairs_by_name(&scope, &names, &event)
                .await
            {
                Ok(deleted) => deleted,
                Err(err) => {
                    let error = cloud.error(err);
                    record_failure(&console, event, &error).await;
                    return error_page(&place, &caller, "Delete key pairs", error);
                }
            }
        }
    };
    Redirect::to(&format!("{}&deleted={deleted}", place.list_href())).into_response()
}

/// Adds a tag to a key pair or removes one (`op` = `add` or `remove`).
pub async fn edit_tags(
    State(console): State<Arc<Console>>,
    ChangeRequest {
        place,
        caller,
        seen,
        form,
    }: ChangeRequest,
) -> Response {
    let cloud = place.cloud;
    let id = forms::filled(&form, "id").unwrap_or_default().to_owned();
    let key = forms::first(&form, "key")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let value = forms::first(&form, "value")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let adding = forms::first(&form, "op") != Some("remove");
    let (change, parameters) = match (cloud, adding) {
        (Cloud::Ec2, true) => (
            Change::AddTags,
            vec![
                ("resourceId.1", id.as_str()),
                ("tag.1.key", key.as_str()),
                ("tag.1.value", value.as_str()),
            ],
        ),
        (Cloud::Ec2, false) => (
            Change::RemoveTags,
            vec![("resourceId.1", id.as_str()), ("tag.1.key", key.as_str())],
        ),
        (Cloud::Ecs, true) => (
            Change::AddTags,
            vec![
                ("ResourceId.1", id.as_str()),
                ("ResourceType", "keypair"),
                ("Tag.1.Key", key.as_str()),
                ("Tag.1.Value", value.as_str()),
            ],
        ),
        (Cloud::Ecs, false) => (
            Change::RemoveTags,
            vec![
                ("ResourceId.1", id.as_str()),
                ("ResourceType", "keypair"),
                ("TagKey.1", key.as_str()),
            ],
        ),
    };
    let event = change_event(&place, change, &caller, &seen, &parameters);
    let scope = place.scope(&caller);
    let ids = [id.clone()];
    let edited = if key.is_empty() {
        Err(cloud.missing("Tag.1.Key"))
    } else if adding {
        let tag = keypaird_inventory::Tag {
            key: key.clone(),
            value,
        };
        console
            .inventory
            .add_tags(&scope, &ids, &[tag], false, &event)
            .await
            .map_err(|err| cloud.error(err))
    } else {
        let removal = TagRemoval { key, value: None };
        console
            .inventory
            .remove_tags(&scope, &ids, &[removal], false, &event)
            .await
            .map_err(|err| cloud.error(err))
    };
    after_detail_change(&console, &caller, &place, &id, event, edited).await
}

/// Moves an ECS key pair into a resource group.
pub async fn move_to_group(
    State(console): State<Arc<Console>>,
    ChangeRequest {
        place,
        caller,
        seen,
        form,
    }: ChangeRequest,
) -> Response {
    if place.cloud != Cloud::Ecs {
        return views::not_found();
    }
    let id = forms::filled(&form, "id").unwrap_or_default().to_owned();
    let group = forms::filled(&form, "resource_group_id").unwrap_or_default();
    let parameters = [
        ("ResourceId", id.as_str()),
        ("ResourceGroupId", group),
        ("ResourceType", "keypair"),
    ];
    let event = change_event(
        &place,
        Change::MoveToResourceGroup,
        &caller,
        &seen,
        &parameters,
    );
    let moved = if group.is_empty() {
        Err(place.cloud.missing("ResourceGroupId"))
    } else {
        console
            .inventory
            .set_resource_group(&place.scope(&caller), &id, group, &event)
            .await
            .map_err(|err| place.cloud.error(err))
    };
    after_detail_change(&console, &caller, &place, &id, event, moved).await
}

/// After a change made from a key pair's page: back to the page, or the page with the error.
async fn after_detail_change(
    console: &Console,
    caller: &Caller,
    place: &Place,
    id: &str,
    event: AuditEvent,
    outcome: Result<(), CloudError>,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to(&place.detail_href(id)).into_response(),
        Err(error) => {
            let status = error.status;
            record_failure(console, event, &error).await;
            detail_page(console, caller, place, id, Some(error), status).await
        }
    }
}
