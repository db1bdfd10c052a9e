//! Reading a `postgres://` URL. Everything tokio-postgres understands passes through unchanged
//! (host, port, user, password, dbname, `options`, `application_name`, `connect_timeout`,
//! `target_session_attrs`, ...). keypaird reads a few parameters itself and removes them before
//! tokio-postgres sees the rest:
//!
//! - `schema=NAME`: keep every table in this schema (created on first migration if missing)
//!   instead of the first schema of the role's search path. A lowercase identifier. This is what
//!   lets several keypaird deployments, or test runs, share one database.
//! - `sslmode`: `disable`, `allow` and `prefer` (and no `sslmode` at all) connect without TLS;
//!   `require`, `verify-ca` and `verify-full` connect only over TLS, and keypaird then always
//!   verifies the server's certificate chain and host name (it never encrypts without
//!   verifying, so `require` is as strict as `verify-full`).
//! - `sslrootcert=PATH`: the PEM file of the certificate authorities to trust, instead of the
//!   platform's store (`sslrootcert=system`, the default).
//! - `pool_size=N`: connections this node keeps open at most (default 16). Size it so that
//!   nodes × pool_size stays under the server's `max_connections`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use keypaird_inventory::StoreError;
use percent_encoding::percent_decode_str;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::failure::describe;

/// TCP connect timeout, unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Unacknowledged data older than this closes the connection (Linux), unless the URL sets
/// `tcp_user_timeout`: a vanished server is noticed by the kernel, not after minutes.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

const KEEPALIVES_IDLE: Duration = Duration::from_secs(30);

const DEFAULT_POOL_SIZE: usize = 16;

/// Planner settings of every keypaird connection. Each statement keypaird runs is written for
/// an index (see `sql.rs`); these keep the planner from trading that index for something its
/// estimates merely make look cheaper, which without statistics they often do:
/// - generic plans only: a statement is planned once per connection, so its plan never changes
///   with the parameter values or with statistics arriving after a bulk load;
/// - no parallel plans: a lookup of a few rows does not start workers, and a page is not
///   replaced by a parallel scan of the scope and a sort;
/// - no JIT: compiling a plan costs tens of milliseconds, far more than any of these
///   statements, and estimates without statistics can trigger it for every execution.
pub(super) const SESSION_SETTINGS: &[(&str, &str)] = &[
    ("plan_cache_mode", "force_generic_plan"),
    ("max_parallel_workers_per_gather", "0"),
    ("jit", "off"),
];

/// Where the trusted certificate authorities come from when TLS is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Roots {
    System,
    File(String),
}

/// A parsed store URL.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) pg: tokio_postgres::Config,
    pub(super) schema: Option<String>,
    /// `None` when connections are plain TCP.
    pub(super) tls: Option<Roots>,
    pub(super) pool_size: usize,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio-postgres's own Debug redacts the password.
        f.debug_struct("Settings")
            .field("pg", &self.pg)
            .field("schema", &self.schema)
            .field("tls", &self.tls)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

fn invalid(message: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("invalid PostgreSQL URL: {message}"))
}

fn decode(raw: &str) -> Result<String, StoreError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| invalid("a parameter is not valid UTF-8"))
}

/// Whether `name` is a schema name keypaird accepts: a lowercase SQL identifier, so it needs no
/// quoting in `search_path` and means the same quoted or not.
pub(super) fn is_valid_schema(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && name.len() <= 63
        && !name.starts_with("pg_")
}

impl Settings {
    pub(super) fn parse(url: &str) -> Result<Settings, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid("it must start with postgres:// or postgresql://"));
        }
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut passed = Vec::new();
        let mut schema = None;
        let mut ssl = None;
        let mut root_cert = None;
        let mut pool_size = DEFAULT_POOL_SIZE;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            match decode(raw_key)?.as_str() {
                "schema" => {
                    let name = decode(raw_value)?;
                    if !is_valid_schema(&name) {
                        return Err(invalid(
                            "schema must be a lowercase identifier (a-z, 0-9, _; not starting \
                             with a digit or pg_; at most 63 characters)",
                        ));
                    }
                    schema = Some(name);
                }
                "sslmode" => ssl = Some(decode(raw_value)?),
                "sslrootcert" => root_cert = Some(decode(raw_value)?),
                "pool_size" => {
                    pool_size = decode(raw_value)?
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| invalid("pool_size must be a number from 1 to 1000"))?;
                }
                _ => passed.push(pair),
            }
        }
        let tls_wanted = match ssl.as_deref() {
            None | Some("disable" | "allow" | "prefer") => false,
            Some("require" | "verify-ca" | "verify-full") => true,
            Some(other) => {
                return Err(invalid(format!(
                    "unsupported sslmode '{other}': use disable, prefer, require, verify-ca or \
                     verify-full"
                )))
            }
        };
        let tls = tls_wanted.then(|| match root_cert.as_deref() {
            None | Some("system") => Roots::System,
            Some(path) => Roots::File(path.to_owned()),
        });

        let rebuilt = if passed.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", passed.join("&"))
        };
        let mut pg =
            tokio_postgres::Config::from_str(&rebuilt).map_err(|err| invalid(describe(&err)))?;
        pg.ssl_mode(if tls.is_some() {
            SslMode::Require
        } else {
            SslMode::Disable
        });
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(CONNECT_TIMEOUT);
        }
        if pg.get_tcp_user_timeout().is_none() {
            pg.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if pg.get_keepalives() {
            pg.keepalives_idle(KEEPALIVES_IDLE);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("keypaird");
        }
        // Set at connection start-up (see SESSION_SETTINGS), so no extra round trip.
        let mut settings: Vec<String> = SESSION_SETTINGS
            .iter()
            .map(|(name, value)| format!("-c {name}={value}"))
            .collect();
        if let Some(schema) = &schema {
            // Every statement of every pooled connection resolves the tables in this schema.
            settings.push(format!("-c search_path={schema}"));
        }
        let options = match pg.get_options() {
            Some(existing) if !existing.trim().is_empty() => {
                format!("{existing} {}", settings.join(" "))
            }
            _ => settings.join(" "),
        };
        pg.options(&options);
        Ok(Settings {
            pg,
            schema,
            tls,
            pool_size,
        })
    }

    /// The connector for the pool. With TLS off it is never used (sslmode is `disable`), but the
    /// pool needs one type either way.
    pub(super) fn connector(&self) -> Result<MakeRustlsConnect, StoreError> {
        let roots = match &self.tls {
            None => RootCertStore::empty(),
            Some(Roots::System) => system_roots()?,
            Some(Roots::File(path)) => file_roots(path)?,
        };
        // aws-lc-rs is the provider already in the tree for key generation; naming it here
        // means no process-wide default provider has to be installed.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| StoreError::Internal(format!("TLS set-up failed: {err}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

fn system_roots() -> Result<RootCertStore, StoreError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let reasons: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
        return Err(StoreError::Internal(format!(
            "TLS to PostgreSQL was asked for, but the system has no trusted certificates \
             ({}); name a CA file with sslrootcert=PATH",
            reasons.join("; ")
        )));
    }
    Ok(roots)
}

fn file_roots(path: &str) -> Result<RootCertStore, StoreError> {
    let unreadable = |err: String| {
        StoreError::Internal(format!("cannot read the sslrootcert file {path}: {err}"))
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|err| unreadable(err.to_string()))? {
        let cert = cert.map_err(|err| unreadable(err.to_string()))?;
        roots.add(cert).map_err(|err| unreadable(err.to_string()))?;
    }
    if roots.is_empty() {
        return Err(unreadable("it holds no certificate".into()));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Settings {
        Settings::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"))
    }

    #[test]
    fn plain_url_defaults() {
        let s = parse("postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(s.schema, None);
        assert_eq!(s.tls, None);
        assert_eq!(s.pool_size, DEFAULT_POOL_SIZE);
        assert_eq!(s.pg.get_ssl_mode(), SslMode::Disable);
        assert_eq!(s.pg.get_dbname(), Some("test"));
        assert_eq!(s.pg.get_user(), Some("postgres"));
        assert_eq!(s.pg.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(s.pg.get_application_name(), Some("keypaird"));
        assert_eq!(
            s.pg.get_options(),
            Some(
                "-c plan_cache_mode=force_generic_plan -c max_parallel_workers_per_gather=0 \
                 -c jit=off"
            )
        );
    }

    #[test]
    fn keypaird_parameters_are_taken_out_and_others_pass_through() {
        let s = parse(
            "postgresql://u:p%40ss@db.example:6543/inv?schema=tenant_1&connect_timeout=7\
             &pool_size=4&application_name=node%20a&options=-c%20work_mem%3D8MB",
        );
        assert_eq!(s.schema.as_deref(), Some("tenant_1"));
        assert_eq!(s.pool_size, 4);
        assert_eq!(s.pg.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(s.pg.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(s.pg.get_application_name(), Some("node a"));
        assert_eq!(
            s.pg.get_options(),
            Some(
                "-c work_mem=8MB -c plan_cache_mode=force_generic_plan \
                 -c max_parallel_workers_per_gather=0 -c jit=off -c search_path=tenant_1"
            )
        );
    }

    #[test]
    fn sslmodes() {
        for mode in ["disable", "allow", "prefer"] {
            let s = parse(&format!("postgres://h/db?sslmode={mode}"));
            assert_eq!(s.tls, None, "{mode}");
            assert_eq!(s.pg.get_ssl_mode(), SslMode::Disable);
        }
        for mode in ["require", "verify-ca", "verify-full"] {
            let s = parse(&format!("postgres://h/db?sslmode={mode}"));
            assert_eq!(s.tls, Some(Roots::System), "{mode}");
            assert_eq!(s.pg.get_ssl_mode(), SslMode::Require);
        }
        let s = parse("postgres://h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem");
        assert_eq!(s.tls, Some(Roots::File("/etc/ca.pem".into())));
        // A root file alone does not turn TLS on.
        assert_eq!(parse("postgres://h/db?sslrootcert=/etc/ca.pem").tls, None);
    }

    #[test]
    fn refusals() {
        for url in [
            "mysql://h/db",
            "postgres://h/db?sslmode=sometimes",
            "postgres://h/db?schema=Upper",
            "postgres://h/db?schema=1st",
            "postgres://h/db?schema=a-b",
            "postgres://h/db?schema=pg_catalog",
            "postgres://h/db?schema=",
            "postgres://h/db?pool_size=0",
            "postgres://h/db?pool_size=many",
            "postgres://h/db?no_such_option=1",
        ] {
            assert!(
                matches!(Settings::parse(url), Err(StoreError::Internal(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn errors_and_debug_never_show_the_password() {
        let err = Settings::parse("postgres://u:hunter2@h/db?bogus=1").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let s = parse("postgres://u:hunter2@h/db");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
