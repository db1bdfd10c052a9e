//! `keypaird-load sign`: the request the generator would send, for fixed inputs, as JSON.
//! It goes through the generator's own signer ([`Signer::sign`] with the given [`Stamp`]), so
//! tests/integration/test_loadgen_signing.py can hold it against the SDKs' signers.

use std::io::Read;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use keypaird_bench_scale::sign::{Dialect, EcsScheme, Signer, Stamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scheme {
    /// EC2: SigV4 (us-east-1, ec2), a form-encoded POST.
    #[value(name = "sigv4")]
    Sigv4,
    /// ECS: Alibaba RPC v1, HMAC-SHA1, a GET.
    #[value(name = "acs-v1")]
    AcsV1,
    /// ECS: Alibaba V3, ACS3-HMAC-SHA256, a POST.
    #[value(name = "acs-v3")]
    AcsV3,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Sigv4 => "sigv4",
            Scheme::AcsV1 => "acs-v1",
            Scheme::AcsV3 => "acs-v3",
        }
    }
}

/// Prints {"signature_scheme", "method", "target", "path", "query", "headers": [[name, value],
/// …], "body", "signature", "authorization"}. The parameters are the action's (with Action);
/// the signer adds Version and, for ECS, its common parameters (RegionId cn-hangzhou, …).
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Read all inputs from stdin as one JSON object instead: {"signature": "acs-v3",
    /// "host": …, "access_key_id": …, "secret_access_key": …, "time": …, "nonce": …,
    /// "params": [["Action", "DescribeKeyPairs"], …]} (or "params": {name: value, …}).
    #[arg(long, conflicts_with_all = ["signature", "host", "access_key_id", "secret_access_key", "time", "nonce", "params"])]
    stdin: bool,
    #[arg(long, value_enum, required_unless_present = "stdin")]
    signature: Option<Scheme>,
    /// The Host header (signed), e.g. 127.0.0.1:8080.
    #[arg(long, required_unless_present = "stdin")]
    host: Option<String>,
    #[arg(long, value_name = "ID", required_unless_present = "stdin")]
    access_key_id: Option<String>,
    #[arg(long, value_name = "SECRET", required_unless_present = "stdin")]
    secret_access_key: Option<String>,
    /// The signing time, RFC 3339 (e.g. 2026-11-22T11:55:11Z); whole seconds are signed.
    #[arg(long, required_unless_present = "stdin")]
    time: Option<String>,
    /// SignatureNonce (v1) or x-acs-signature-nonce (V3); SigV4 has none.
    #[arg(long)]
    nonce: Option<String>,
    /// A parameter of the action, in order; repeat it.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
}

struct Inputs {
    scheme: Scheme,
    host: String,
    access_key_id: String,
    secret: String,
    stamp: Stamp,
    params: Vec<(String, String)>,
}

pub fn run(args: &SignArgs) -> anyhow::Result<()> {
    let inputs = if args.stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        from_json(&serde_json::from_str(&text).context("stdin is not JSON")?)?
    } else {
        from_args(args)?
    };
    println!("{}", serde_json::to_string_pretty(&sign(&inputs))?);
    Ok(())
}

fn from_args(args: &SignArgs) -> anyhow::Result<Inputs> {
    let params = args
        .params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .with_context(|| format!("--param wants NAME=VALUE, not {p:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let required = |v: &Option<String>| v.clone().unwrap_or_default();
    inputs(
        args.signature.context("--signature is required")?,
        required(&args.host),
        required(&args.access_key_id),
        required(&args.secret_access_key),
        &required(&args.time),
        args.nonce.clone(),
        params,
    )
}

fn from_json(doc: &Value) -> anyhow::Result<Inputs> {
    let text = |name: &str| -> anyhow::Result<String> {
        doc[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("\"{name}\" (a string) is required"))
    };
    let scheme = Scheme::from_str(&text("signature")?, false)
        .map_err(|_| anyhow::anyhow!("\"signature\" must be sigv4, acs-v1 or acs-v3"))?;
    let value = |v: &Value| -> anyhow::Result<String> {
        v.as_str()
            .map(str::to_owned)
            .with_context(|| format!("parameter values must be strings, not {v}"))
    };
    let params = match &doc["params"] {
        Value::Array(pairs) => pairs
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([name, v]) => Ok((value(name)?, value(v)?)),
                _ => bail!("each of \"params\" must be [name, value], not {pair}"),
            })
            .collect::<anyhow::Result<_>>()?,
        Value::Object(map) => map
            .iter()
            .map(|(name, v)| Ok((name.clone(), value(v)?)))
            .collect::<anyhow::Result<_>>()?,
        Value::Null => Vec::new(),
        other => bail!("\"params\" must be a list of [name, value] or an object, not {other}"),
    };
    inputs(
        scheme,
        text("host")?,
        text("access_key_id")?,
        text("secret_access_key")?,
        &text("time")?,
        doc["nonce"].as_str().map(str::to_owned),
        params,
    )
}

fn inputs(
    scheme: Scheme,
    host: String,
    access_key_id: String,
    secret: String,
    time: &str,
    nonce: Option<String>,
    params: Vec<(String, String)>,
) -> anyhow::Result<Inputs> {
    let time = OffsetDateTime::parse(time, &Rfc3339).with_context(|| {
        format!("the time must be RFC 3339, e.g. 2026-11-22T11:55:11Z: {time:?}")
    })?;
    let nonce = match (scheme, nonce) {
        (Scheme::Sigv4, nonce) => nonce.unwrap_or_default(),
        (_, Some(nonce)) if !nonce.is_empty() => nonce,
        _ => bail!("{} needs a nonce", scheme.name()),
    };
    Ok(Inputs {
        scheme,
        host,
        access_key_id,
        secret,
        stamp: Stamp { time, nonce },
        params,
    })
}

fn sign(inputs: &Inputs) -> Value {
    let (dialect, ecs) = match inputs.scheme {
        Scheme::Sigv4 => (Dialect::Ec2, EcsScheme::V1),
        Scheme::AcsV1 => (Dialect::Ecs, EcsScheme::V1),
        Scheme::AcsV3 => (Dialect::Ecs, EcsScheme::V3),
    };
    let signer = Signer::with_credentials(&inputs.host, &inputs.access_key_id, &inputs.secret, ecs);
    let signed = signer.sign(dialect, &inputs.params, &inputs.stamp);
    let (path, query) = signed
        .target
        .split_once('?')
        .unwrap_or((signed.target.as_str(), ""));
    let authorization = signed
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.clone());
    let headers: Vec<Value> = signed
        .headers
        .iter()
        .map(|(name, value)| json!([name, value]))
        .collect();
    json!({
        "signature_scheme": inputs.scheme.name(),
        "method": signed.method,
        "target": signed.target,
        "path": path,
        "query": query,
        "headers": headers,
        "body": signed.body,
        "signature": signed.signature,
        "authorization": authorization,
    })
}
