//! The audit trail's nouns: one event per recorded call, and the query that reads them back.
//!
//! A change and its event are written by the store in one transaction (every write method of
//! [`crate::Store`] takes the event), so they stand or fall together. Calls that change nothing
//! (refused authentications, failed calls, reads under `--audit-reads`) are recorded on their
//! own. An event never holds key material or a secret: the dialects record what was asked and
//! what the reply showed, with the private key replaced by [`SENSITIVE_DATA_REMOVED`].

use time::OffsetDateTime;

/// What CloudTrail writes in place of a value it does not keep (the `keyMaterial` of a created
/// key pair); ECS `PrivateKeyBody` gets the same here.
pub const SENSITIVE_DATA_REMOVED: &str = "<sensitiveDataRemoved>";

/// Where a call came from: one of the two dialects, or keypaird's own command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditSource {
    Ec2,
    Ecs,
    CommandLine,
    /// The web console's own events (sign-ins); its key pair changes are the dialect's.
    Console,
}

impl AuditSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditSource::Ec2 => "ec2",
            AuditSource::Ecs => "ecs",
            AuditSource::CommandLine => "cli",
            AuditSource::Console => "console",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ec2" => Some(AuditSource::Ec2),
            "ecs" => Some(AuditSource::Ecs),
            "cli" => Some(AuditSource::CommandLine),
            "console" => Some(AuditSource::Console),
            _ => None,
        }
    }
}

/// What kind of thing a recorded call touched. The wire layers name them (`AWS::EC2::KeyPair`,
/// `ACS::ECS::KeyPair`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    KeyPair,
    Account,
    AccessKey,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::KeyPair => "key-pair",
            ResourceKind::Account => "account",
            ResourceKind::AccessKey => "access-key",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "key-pair" => Some(ResourceKind::KeyPair),
            "account" => Some(ResourceKind::Account),
            "access-key" => Some(ResourceKind::AccessKey),
            _ => None,
        }
    }
}

/// One thing a call touched. `id` and `name` may be empty when the call named it only one way
/// (CreateTags names key pair IDs); `fingerprint` is set for key pairs created or imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditResource {
    pub kind: ResourceKind,
    pub id: String,
    pub name: String,
    pub fingerprint: String,
}

impl AuditResource {
    pub fn key_pair(id: &str, name: &str, fingerprint: &str) -> Self {
        AuditResource {
            kind: ResourceKind::KeyPair,
            id: id.to_owned(),
            name: name.to_owned(),
            fingerprint: fingerprint.to_owned(),
        }
    }

    /// A key pair a change made or removed: its ID, name and fingerprint.
    pub fn of_key_pair(key_pair: &crate::model::KeyPair) -> Self {
        Self::key_pair(&key_pair.id, &key_pair.name, &key_pair.fingerprint)
    }

    /// Key pairs a call named by ID only (tags, resource groups).
    pub fn key_pair_ids(ids: &[String]) -> Vec<Self> {
        ids.iter().map(|id| Self::key_pair(id, "", "")).collect()
    }

    pub fn account(id: &str, name: &str) -> Self {
        Self::named(ResourceKind::Account, id, name)
    }

    pub fn access_key(access_key_id: &str) -> Self {
        Self::named(ResourceKind::AccessKey, access_key_id, "")
    }

    pub fn named(kind: ResourceKind, id: &str, name: &str) -> Self {
        AuditResource {
            kind,
            id: id.to_owned(),
            name: name.to_owned(),
            fingerprint: String::new(),
        }
    }
}

/// One recorded call. The dialect (or the command line) fills in who, where and what was asked;
/// the store adds the resources the change touched, in the change's transaction, so a delete
/// by name records the IDs it removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Unique; a UUID like CloudTrail's, of version 7 (time first), so that the store's index
    /// of event IDs grows at one end as its time indexes do, not at a random page per write.
    pub event_id: String,
    /// Millisecond precision, as the store keeps it.
    pub time: OffsetDateTime,
    pub source: AuditSource,
    /// Empty when the caller was not known (an unknown access key): such events are seen only
    /// through `keypaird audit`.
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    pub access_key_id: String,
    pub source_ip: String,
    pub user_agent: String,
    /// The action as called (`CreateKeyPair`, `DeleteKeyPairs`, `CreateAccessKey`, …).
    pub action: String,
    pub read_only: bool,
    pub request_id: String,
    /// A JSON object: the call's parameters as the dialect names them, never a signature.
    pub request_parameters: String,
    pub resources: Vec<AuditResource>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl AuditEvent {
    /// An event with a fresh ID and the current time; the other fields empty.
    pub fn new(source: AuditSource, action: &str) -> Self {
        let time = crate::service::now_millis();
        AuditEvent {
            event_id: uuid_v7(time),
            time,
            source,
            account_id: String::new(),
            account_name: String::new(),
            region: String::new(),
            access_key_id: String::new(),
            source_ip: String::new(),
            user_agent: String::new(),
            action: action.to_owned(),
            read_only: false,
            request_id: String::new(),
            request_parameters: "{}".to_owned(),
            resources: Vec::new(),
            error_code: None,
            error_message: None,
        }
    }

    /// The account, region and time that place this event in one [`AuditScope::Api`] scope.
    pub fn scope_key(&self) -> String {
        scope_key(&self.account_id, self.source, &self.region)
    }

    /// The resource kind the event is found under (`ResourceType` lookups): its resources'
    /// kind, or none. A call touches resources of one kind only.
    pub fn resource_kind(&self) -> Option<ResourceKind> {
        self.resources.first().map(|r| r.kind)
    }

    /// Every value a `ResourceName` lookup finds this event by: each resource's name and ID,
    /// once each.
    pub fn resource_lookup_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for resource in &self.resources {
            for value in [resource.name.as_str(), resource.id.as_str()] {
                if !value.is_empty() && !names.contains(&value) {
                    names.push(value);
                }
            }
        }
        names
    }
}

/// The text both backends index events under: the events one LookupEvents call can show are
/// one contiguous range of every index. EC2 events are kept per region (CloudTrail's event
/// history is regional); ECS, command-line and console events per account, every region together
/// (ActionTrail's LookupEvents names no region here).
pub fn scope_key(account_id: &str, source: AuditSource, region: &str) -> String {
    match source {
        AuditSource::Ec2 => format!("{account_id}/ec2/{region}"),
        AuditSource::Ecs | AuditSource::CommandLine | AuditSource::Console => {
            format!("{account_id}/{}/", source.as_str())
        }
    }
}

/// Which events a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    /// What one LookupEvents call shows: one account's events of one dialect, in one region
    /// for EC2 (`region` is ignored for ECS, see [`scope_key`]).
    Api {
        account_id: String,
        source: AuditSource,
        region: String,
    },
    /// Every event of one account (`keypaird audit --account`).
    Account(String),
    /// Every event (`keypaird audit`).
    All,
}

/// The one attribute a LookupEvents call may filter by, as the store indexes it. Username and
/// EventSource are the same for every event of an `Api` scope, so the wire layers answer them
/// without the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAttribute {
    EventId(String),
    EventName(String),
    ReadOnly(bool),
    AccessKeyId(String),
    ResourceName(String),
    ResourceKind(ResourceKind),
}

/// Where a page of events ended: the next page starts strictly after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    pub time: OffsetDateTime,
    pub event_id: String,
}

/// A page of events, newest first unless `oldest_first`, between `since` and `until` (both
/// inclusive), at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub scope: AuditScope,
    pub attribute: Option<AuditAttribute>,
    /// Only for the command line's `--action` (checked on the rows the scope's walk reads).
    pub action: Option<String>,
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
    pub limit: u32,
    pub after: Option<AuditCursor>,
    pub oldest_first: bool,
}

impl AuditQuery {
    /// Every event of `scope` in the time range, newest first, at most `limit`.
    pub fn new(
        scope: AuditScope,
        since: OffsetDateTime,
        until: OffsetDateTime,
        limit: u32,
    ) -> Self {
        AuditQuery {
            scope,
            attribute: None,
            action: None,
            since,
            until,
            limit,
            after: None,
            oldest_first: false,
        }
    }
}

/// RFC 9562's version 7: the milliseconds since the epoch, then 74 random bits.
fn uuid_v7(time: OffsetDateTime) -> String {
    let millis = u64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes[6..]).expect("the system random number generator failed");
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The millisecond a version 7 event ID was made at, which is its event's time: an `EventId`
/// lookup reads that one millisecond of the scope's time index instead of an index of its own
/// (`None` for text that is not a version 7 UUID, which no event has).
pub fn event_id_millis(event_id: &str) -> Option<i64> {
    let bytes = event_id.as_bytes();
    let hyphens_in_place = [8, 13, 18, 23].iter().all(|&i| bytes.get(i) == Some(&b'-'));
    if bytes.len() != 36 || !hyphens_in_place || bytes[14] != b'7' {
        return None;
    }
    // The hyphens are ASCII, so these slices fall on character boundaries.
    let hex = |digits: &str| {
        digits
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| i64::from_str_radix(digits, 16).ok())?
    };
    Some(hex(&event_id[..8])? << 16 | hex(&event_id[9..13])?)
}

/// A version 7 event ID of `time` whose random part is `n`: for fixtures that need IDs they
/// can predict, which an `EventId` lookup still finds (see [`event_id_millis`]).
#[doc(hidden)]
pub fn fixture_event_id(time: OffsetDateTime, n: u64) -> String {
    let real = uuid_v7(time);
    format!("{}-7000-8000-{:012x}", &real[..13], n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_version_7_uuids_in_time_order() {
        let at = |ms: i128| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap();
        let a = uuid_v7(at(1_796_180_000_000));
        let b = uuid_v7(at(1_796_180_000_000));
        let later = uuid_v7(at(1_796_180_000_001));
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        // 1,796,180,000,000 ms is 0x01a234abbd00.
        assert_eq!(&a[..13], "01a234ab-bd00");
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(event_id_millis(&a), Some(1_796_180_000_000));
        assert!(a.max(b) < later, "a later millisecond sorts after");
        assert_eq!(event_id_millis(&later), Some(1_796_180_000_001));
        let fixture = fixture_event_id(at(1_796_180_000_001), 0x2a);
        assert_eq!(fixture, "01a234ab-bd01-7000-8000-00000000002a");
        assert_eq!(event_id_millis(&fixture), Some(1_796_180_000_001));
        for not_v7 in [
            "00000000-0000-4000-8000-000000000001",
            "no-such-event",
            "01a234ab-bd0g-7000-8000-00000000002a",
            "01a234abbd01-7000-8000-00000000002a-",
            "",
        ] {
            assert_eq!(event_id_millis(not_v7), None, "{not_v7}");
        }
    }

    #[test]
    fn resource_lookup_names_hold_each_name_and_id_once() {
        let mut event = AuditEvent::new(AuditSource::Ecs, "DeleteKeyPairs");
        event.resources = vec![
            AuditResource::key_pair("ssh-1", "a", ""),
            AuditResource::key_pair("", "a", ""),
            AuditResource::key_pair("ssh-2", "", ""),
        ];
        assert_eq!(event.resource_lookup_names(), vec!["a", "ssh-1", "ssh-2"]);
        assert_eq!(event.resource_kind(), Some(ResourceKind::KeyPair));
        assert_eq!(event.scope_key(), "/ecs/");
    }
}
