//! `keypaird audit`: the trail straight from the store, for operators. Unlike the two
//! LookupEvents APIs it sees every account, both dialects and the command line's own changes.

use anyhow::{bail, Context};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use keypaird_inventory::{AuditEvent, AuditQuery, AuditScope};

use crate::accounts::open_store;
use crate::cli::AuditArgs;

/// Without `--since`, events as old as the longest retention anyone keeps (CloudTrail's 90
/// days is the default; older events are only there when retention was raised).
const DEFAULT_WINDOW: time::Duration = time::Duration::days(3650);

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let until = match &args.until {
        Some(text) => parse_time(text, "--until")?,
        None => OffsetDateTime::now_utc(),
    };
    let since = match &args.since {
        Some(text) => parse_time(text, "--since")?,
        None => until - DEFAULT_WINDOW,
    };
    if since > until {
        bail!("--since is later than --until");
    }
    if args.limit == 0 {
        bail!("--limit must be at least 1");
    }
    let store = open_store(&args.store).await?;
    let scope = match &args.account {
        None => AuditScope::All,
        // An account ID (twelve digits) as is, so a deleted account's trail can be read;
        // otherwise the name of a current account.
        Some(id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => {
            AuditScope::Account(id.clone())
        }
        Some(name) => {
            let accounts = store
                .list_accounts()
                .await
                .context("cannot read the accounts")?;
            match accounts.into_iter().find(|s| &s.account.name == name) {
                Some(summary) => AuditScope::Account(summary.account.id),
                None => bail!(
                    "there is no account named '{name}' (for a deleted account, pass its account ID)"
                ),
            }
        }
    };
    let mut query = AuditQuery::new(scope, since, until, args.limit);
    query.action = args.action.clone();
    let events = store
        .find_audit_events(&query)
        .await
        .context("cannot read the audit trail")?;
    if args.json {
        for event in &events {
            println!("{}", as_json(event));
        }
    } else {
        println!(
            "{:<24} {:<4} {:<16} {:<20} {:<28} {:<24} {:<16} EVENT ID",
            "TIME", "FROM", "ACCOUNT", "ACTION", "RESULT", "RESOURCES", "SOURCE"
        );
        for event in &events {
            println!("{}", as_line(event));
        }
    }
    Ok(())
}

fn parse_time(text: &str, flag: &str) -> anyhow::Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .with_context(|| format!("{flag} takes an ISO 8601 time such as 2026-12-02T03:04:05Z"))
}

fn millisecond_time(at: OffsetDateTime) -> String {
    at.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

fn as_json(event: &AuditEvent) -> serde_json::Value {
    let parameters: serde_json::Value =
        serde_json::from_str(&event.request_parameters).unwrap_or_else(|_| json!({}));
    let resources: Vec<serde_json::Value> = event
        .resources
        .iter()
        .map(|r| {
            json!({
                "kind": r.kind.as_str(),
                "id": r.id,
                "name": r.name,
                "fingerprint": r.fingerprint,
            })
        })
        .collect();
    json!({
        "eventId": event.event_id,
        "eventTime": millisecond_time(event.time),
        "source": event.source.as_str(),
        "accountId": event.account_id,
        "accountName": event.account_name,
        "region": event.region,
        "accessKeyId": event.access_key_id,
        "sourceIp": event.source_ip,
        "userAgent": event.user_agent,
        "eventName": event.action,
        "readOnly": event.read_only,
        "requestId": event.request_id,
        "requestParameters": parameters,
        "resources": resources,
        "errorCode": event.error_code,
        "errorMessage": event.error_message,
    })
}

fn as_line(event: &AuditEvent) -> String {
    let account = if event.account_name.is_empty() {
        "-"
    } else {
        event.account_name.as_str()
    };
    let result = event.error_code.as_deref().unwrap_or("ok");
    let resources: Vec<&str> = event
        .resources
        .iter()
        .map(|r| {
            if r.name.is_empty() {
                r.id.as_str()
            } else {
                r.name.as_str()
            }
        })
        .collect();
    let resources = if resources.is_empty() {
        "-".to_owned()
    } else {
        resources.join(",")
    };
    let source = if event.source_ip.is_empty() {
        "-"
    } else {
        event.source_ip.as_str()
    };
    format!(
        "{:<24} {:<4} {:<16} {:<20} {:<28} {:<24} {:<16} {}",
        millisecond_time(event.time),
        event.source.as_str(),
        account,
        event.action,
        result,
        resources,
        source,
        event.event_id
    )
}
