//! The markdown report.

use std::fmt::Write;

use crate::bench::{Cell, Opts, Run};
use crate::workloads::Row;

/// Largest-size rate over smallest-size rate at or above this meets the target.
const TARGET_RATIO: f64 = 0.80;

pub struct Meta {
    pub date: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub load: String,
    pub load_after: String,
    pub profile: String,
    pub commit: String,
    pub postgres: Option<String>,
    pub moto: Option<String>,
    pub smoke: bool,
    pub minutes: f64,
}

pub fn render(opts: &Opts, meta: &Meta, runs: &[Run], notes: &[String]) -> String {
    let mut out = String::new();
    let sizes = &opts.sizes;
    let smallest = sizes.first().copied().unwrap_or(0);
    let largest = sizes.last().copied().unwrap_or(0);
    let s = opts.seconds;
    let c = opts.connections;
    let _ = writeln!(
        out,
        "# keypaird with {} … {} key pairs in one account{}\n",
        thousands(smallest),
        thousands(largest),
        if meta.smoke { " (smoke run)" } else { "" }
    );
    let _ = writeln!(
        out,
        "Made by `bench/scale/run.sh` on {} in {:.1} min. Machine: {} CPUs ({}), load average \
         {} before the run, {} after. keypaird: `{}`, a **{}** build, commit {}.{}{}\n",
        meta.date,
        meta.minutes,
        meta.cpus,
        meta.cpu_model,
        meta.load,
        meta.load_after,
        opts.keypaird.display(),
        meta.profile,
        meta.commit,
        meta.postgres
            .as_ref()
            .map_or(String::new(), |v| format!(" PostgreSQL {v}.")),
        meta.moto
            .as_ref()
            .map_or(String::new(), |v| format!(" moto {v}.")),
    );
    if meta.profile != "release" {
        let _ = writeln!(
            out,
            "**Not a release build: these numbers show that the benchmark works, not how fast \
             keypaird is.**\n"
        );
    }
    let _ = writeln!(out, "## How each row was made\n");
    let lines = [
        "One account (`scale`, `--key-pair-quota 2000000`) on a fresh store; keypaird runs \
         `serve --rsa-pool-size 0` **with signature checks on** (no `--any-credentials`). The \
         servers are measured one after the other, each sharing the machine only with this \
         benchmark's client."
            .to_owned(),
        "Every request is signed afresh: EC2 with SigV4 by the `aws-sigv4` crate (service \
         `ec2`, `us-east-1`, `POST /` with a form body, as boto3 sends it); ECS with RPC v1 \
         HMAC-SHA1 (all parameters in the query of a `GET`, `Format=JSON`, \
         `RegionId=cn-hangzhou`, a new `SignatureNonce` each time, as aliyun-python-sdk-core \
         sends it). keypaird verifies every signature, and **each verified ECS request also \
         records its nonce in the store (a durable write)**, as it does in production."
            .to_owned(),
        format!(
            "Filled through the API, growing in steps to each size: EC2 CreateKeyPair \
             `KeyType=ed25519`, `KeyName=kp-%07d`, tag `id=<name>`; and the ECS scope of the same \
             account to the same size, ImportKeyPair of a freshly generated `ssh-ed25519` key, \
             `KeyPairName=kp-%07d`, tag `id=<name>`; {c} connections. The fill rows are the rate \
             over the last min(size − previous size, 20,000) writes before each size. On \
             PostgreSQL, autovacuum is kept off the schema's tables, so the reads right after \
             each fill see what a bulk load leaves: no statistics at all; the reads are then \
             measured again after ANALYZE of the tables (a table of its own)."
        ),
        format!(
            "Each figure: {c} closed-loop clients (keep-alive HTTP/1.1) for {s} s, targets \
             picked uniformly at random among the key pairs present (so caches do not flatter); \
             every reply checked: HTTP 200 and exactly the expected key pairs (`<keyName>` \
             count in EC2 XML, `<resourceId>` for DescribeTags, `TotalCount` and items in ECS \
             JSON). One bad reply makes the figure INVALID and the run exit non-zero."
        ),
        "Lookups: EC2 by `KeyName.1`, by `KeyPairId.1`, filter `key-name` exact, `key-name` \
         with the whole name then `*` (a prefix only that key pair matches), `tag:id`, \
         `fingerprint`; DescribeTags filter `resource-id` (one tag row); ECS by `KeyPairName`, \
         first page (`PageSize=50`), the page half-way down (`PageNumber` = size/100, at least \
         1), by `KeyPairFingerPrint`."
            .to_owned(),
        format!(
            "Writes: EC2 CreateKeyPair ed25519 with new names `x<size>-%07d` for {s} s, then \
             DeleteKeyPair of those names for up to {s} s; what remains is deleted untimed, so \
             every size starts exact."
        ),
        "RSS: keypaird's VmRSS (/proc/PID/status) every 100 ms during the read rows at that \
         size; the maximum."
            .to_owned(),
        format!(
            "Ready: SIGTERM, wait for the exit, start again on the same store and port, \
             `GET /readyz` every 2 ms; the median over {} restart(s) of the ms from spawn to the \
             first 200.",
            opts.restarts
        ),
        format!(
            "Cell: requests/s (p99 latency, ms); p50 and request counts are in the folded \
             tables at the end. Last column: the rate at the largest size over \
             the rate at {0}, measured minutes to an hour apart. The verdict (✓ when ≥ \
             {TARGET_RATIO:.2}, the target; ✗ below) is the table after it: the largest size \
             against {0}, measured alternately on two servers in the same minutes.",
            thousands(smallest)
        ),
    ];
    for line in lines {
        let _ = writeln!(out, "- {line}");
    }
    if meta.moto.is_some() {
        let _ = writeln!(
            out,
            "- moto: `moto_server` in the same run, driven by one client (it serves one request at a \
         time), filled the same way up to {} key pairs (EC2 \
             only: moto has no ECS), then the same EC2 reads, DescribeTags and writes.",
            thousands(opts.moto_max_size)
        );
    }
    let _ = writeln!(out);

    for run in runs.iter().filter(|r| r.key != "moto") {
        let _ = writeln!(out, "## {}\n", run.label);
        let _ = writeln!(out, "Store: `{}`.\n", run.store);
        table(&mut out, run, sizes, smallest, largest);
        paired_table(&mut out, run, smallest, largest);
    }
    comparison(&mut out, runs);
    for run in runs.iter().filter(|r| !r.sizes.is_empty()) {
        details(&mut out, run);
    }

    let invalid: Vec<String> = runs
        .iter()
        .flat_map(|run| {
            run.sizes.iter().flat_map(move |(size, cells)| {
                cells.iter().filter_map(move |(row, cell)| {
                    cell.invalid_reason().map(|why| {
                        format!(
                            "{} at {}, {}: {why}",
                            run.label,
                            thousands(*size),
                            row.label()
                        )
                    })
                })
            })
        })
        .collect();
    let errors: Vec<String> = runs
        .iter()
        .filter_map(|run| run.error.as_ref().map(|e| format!("{}: {e}", run.label)))
        .collect();
    if !invalid.is_empty() || !errors.is_empty() {
        let _ = writeln!(out, "## INVALID\n");
        for line in invalid.iter().chain(&errors) {
            let _ = writeln!(out, "- {}", line.replace('\n', " "));
        }
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "## Server logs\n");
    for run in runs {
        let log = run.log.lock().unwrap();
        let _ = writeln!(
            out,
            "- {}: {} lines on stderr, {} warnings, {} errors.",
            run.label, log.lines, log.warnings, log.errors
        );
        for line in &log.first_problems {
            let _ = writeln!(out, "  - `{}`", line.replace('`', "'"));
        }
    }
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    out
}

fn table(out: &mut String, run: &Run, sizes: &[usize], smallest: usize, largest: usize) {
    if run.sizes.is_empty() {
        let _ = writeln!(
            out,
            "**Nothing measured:** {}\n",
            run.error
                .as_deref()
                .unwrap_or("no size reached")
                .replace('\n', " ")
        );
        return;
    }
    let _ = write!(out, "| Workload |");
    for size in sizes {
        let _ = write!(out, " {} |", thousands(*size));
    }
    let _ = writeln!(out, " largest ÷ {} (measured apart) |", thousands(smallest));
    let _ = writeln!(out, "|---|{}---|", "--:|".repeat(sizes.len()));
    for row in Row::ALL {
        if run.key == "moto" && !row.moto_has() {
            continue;
        }
        if !sizes.iter().any(|s| run.cell(*s, row).is_some()) {
            continue;
        }
        let _ = write!(out, "| {} |", row.label());
        for size in sizes {
            let _ = write!(out, " {} |", cell_text(run.cell(*size, row)));
        }
        let _ = writeln!(
            out,
            " {} |",
            ratio_text(run.cell(largest, row), run.cell(smallest, row))
        );
    }
    if let Some(err) = &run.error {
        let _ = writeln!(
            out,
            "\n**The run stopped early:** {}",
            err.replace('\n', " ")
        );
    }
    let _ = writeln!(out);
}

/// The verdict: the largest size against the smallest, measured alternately on two servers.
fn paired_table(out: &mut String, run: &Run, smallest: usize, largest: usize) {
    if run.paired.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "At {} against {}, measured alternately: the same workloads on two servers, one on \
         each store, {} rounds each, so that whatever else the machine did in those minutes \
         fell on both alike. This is the comparison the target (≥ {TARGET_RATIO:.2}) is \
         judged on.\n",
        thousands(largest),
        thousands(smallest),
        crate::bench::ROUNDS
    );
    let _ = writeln!(
        out,
        "| Workload | {} | {} | ratio |\n|---|--:|--:|---|",
        thousands(smallest),
        thousands(largest)
    );
    for paired in &run.paired {
        let small = Cell::Rate(paired.small.clone());
        let large = Cell::Rate(paired.large.clone());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            paired.row.label(),
            cell_text(Some(&small)),
            cell_text(Some(&large)),
            verdict(paired.row, Some(&large), Some(&small))
        );
    }
    let _ = writeln!(out);
}

/// Every figure with its median too, folded away: the tables above show p99 only.
fn details(out: &mut String, run: &Run) {
    let _ = writeln!(
        out,
        "<details><summary>{}: every figure with p50 and p99</summary>\n",
        run.label
    );
    let _ = writeln!(
        out,
        "| Workload | key pairs | req/s | p50 ms | p99 ms | requests |\n|---|--:|--:|--:|--:|--:|"
    );
    for row in Row::ALL {
        for (size, cells) in &run.sizes {
            let Some(Cell::Rate(f)) = cells.get(&row) else {
                continue;
            };
            let verdict = if f.is_valid() { "" } else { " INVALID" };
            let _ = writeln!(
                out,
                "| {} | {} | {}{verdict} | {} | {} | {} |",
                row.label(),
                thousands(*size),
                rate(f.rate),
                ms(f.p50_ms),
                ms(f.p99_ms),
                thousands(f.requests as usize)
            );
        }
    }
    let _ = writeln!(out, "\n</details>\n");
}

/// keypaird (each store) against moto at the sizes moto was measured at.
fn comparison(out: &mut String, runs: &[Run]) {
    let Some(moto) = runs.iter().find(|r| r.key == "moto") else {
        return;
    };
    let others: Vec<&Run> = runs.iter().filter(|r| r.key != "moto").collect();
    let _ = writeln!(out, "## keypaird and moto, same run\n");
    let _ = writeln!(
        out,
        "moto's store: {}. Ratios: keypaird's rate over moto's (for RSS, keypaird's over \
         moto's: lower is leaner).\n",
        moto.store
    );
    let _ = write!(out, "| Workload | key pairs | moto |");
    for run in &others {
        let _ = write!(out, " {} | × moto |", run.label);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "|---|--:|--:|{}", "--:|--:|".repeat(others.len()));
    for (size, _) in &moto.sizes {
        for row in Row::ALL {
            if !row.moto_has() || moto.cell(*size, row).is_none() {
                continue;
            }
            let label = match row {
                Row::Rss => "RSS max during the reads (MiB)",
                Row::DescribeAllRss => "RSS max during DescribeKeyPairs of every key pair (MiB)",
                _ => row.label(),
            };
            let _ = write!(
                out,
                "| {label} | {} | {} |",
                thousands(*size),
                cell_text(moto.cell(*size, row))
            );
            for run in &others {
                let _ = write!(
                    out,
                    " {} | {} |",
                    cell_text(run.cell(*size, row)),
                    times_text(run.cell(*size, row), moto.cell(*size, row))
                );
            }
            let _ = writeln!(out);
        }
    }
    let mut gaps: Vec<&str> = moto
        .sizes
        .iter()
        .flat_map(|(_, cells)| cells.values())
        .filter_map(|cell| match cell {
            Cell::Unsupported(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    gaps.dedup();
    for gap in gaps {
        let _ = writeln!(
            out,
            "\n¹ Not measured: {gap} (checked with one request at each size, in this run)."
        );
    }
    if let Some(err) = &moto.error {
        let _ = writeln!(
            out,
            "\n**The moto run stopped early:** {}",
            err.replace('\n', " ")
        );
    }
    let _ = writeln!(out);
}

fn cell_text(cell: Option<&Cell>) -> String {
    match cell {
        None => "—".to_owned(),
        Some(Cell::Rate(f)) if !f.is_valid() => "INVALID".to_owned(),
        Some(Cell::Rate(f)) => format!("{} ({})", rate(f.rate), ms(f.p99_ms)),
        Some(Cell::Mib(mib)) => format!("{mib:.0}"),
        Some(Cell::Ms(v)) => ms(*v),
        Some(Cell::Unsupported(_)) => "not supported¹".to_owned(),
    }
}

fn value(cell: Option<&Cell>) -> Option<f64> {
    match cell? {
        Cell::Rate(f) if f.is_valid() && f.rate > 0.0 => Some(f.rate),
        Cell::Rate(_) => None,
        Cell::Mib(v) | Cell::Ms(v) => Some(*v),
        Cell::Unsupported(_) => None,
    }
}

fn ratio_text(largest: Option<&Cell>, smallest: Option<&Cell>) -> String {
    match (value(largest), value(smallest)) {
        (Some(a), Some(b)) if b > 0.0 => match largest {
            Some(Cell::Rate(_)) => format!("{:.2}", a / b),
            _ => format!("×{:.2}", a / b),
        },
        _ => "—".to_owned(),
    }
}

/// The ratio with its mark against the target, for rows that have one.
fn verdict(row: Row, largest: Option<&Cell>, smallest: Option<&Cell>) -> String {
    let (Some(a), Some(b)) = (value(largest), value(smallest)) else {
        return "—".to_owned();
    };
    if b <= 0.0 {
        return "—".to_owned();
    }
    if !row.has_target() {
        return format!("{:.2} (reads what grows with the size: no target)", a / b);
    }
    let mark = if a / b >= TARGET_RATIO { "✓" } else { "✗" };
    format!("{:.2} {mark}", a / b)
}

fn times_text(ours: Option<&Cell>, moto: Option<&Cell>) -> String {
    match (value(ours), value(moto)) {
        (Some(a), Some(b)) if b > 0.0 => format!("×{}", significant(a / b)),
        _ => "—".to_owned(),
    }
}

fn rate(r: f64) -> String {
    if r >= 100.0 {
        thousands(r.round() as usize)
    } else {
        format!("{r:.1}")
    }
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        thousands(v.round() as usize)
    }
}

fn significant(v: f64) -> String {
    if v >= 100.0 {
        thousands(v.round() as usize)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(100), "100");
        assert_eq!(rate(12345.6), "12,346");
        assert_eq!(ms(0.456), "0.46");
        assert_eq!(significant(0.5), "0.50");
    }
}
