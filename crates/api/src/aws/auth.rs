//! Who is calling, and in which region: SigV4 is checked here with the secret from the store,
//! and the credential scope's region selects the region namespace.

use keypaird_auth::sigv4::{self, SigV4Error, SignedRequest};
use keypaird_inventory::{ids, Account, CredentialCache};
use time::OffsetDateTime;

use super::error::{AwsError, Code};
use crate::{loggable_key_id, ApiRequest, RequestLog};

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every request's signature is verified against the account's secret.
    Verify,
    /// moto-style: any access key is accepted unverified and names its own account.
    AnyCredentials,
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub region: String,
    /// The key may call reads only.
    pub read_only: bool,
}

/// Who signed `request`; the access key ID goes into `log` as soon as it is read.
pub async fn authenticate(
    credentials: &CredentialCache,
    mode: AuthMode,
    request: &ApiRequest,
    service: &str,
    now: OffsetDateTime,
    log: &mut RequestLog,
) -> Result<Caller, AwsError> {
    let signed = SignedRequest {
        method: request.method.as_str(),
        path: &request.path,
        query: &request.query,
        headers: &request.headers,
        body: &request.body,
        service,
    };
    let auth = sigv4::parse(&signed).map_err(from_sigv4)?;
    log.access_key_id = Some(loggable_key_id(&auth.access_key_id));
    if !is_plausible_region(&auth.region) {
        return Err(AwsError::new(
            Code::IncompleteSignature,
            format!(
                "Credential region '{}' is not a valid region name.",
                auth.region.chars().take(64).collect::<String>()
            ),
        ));
    }
    // Known before the signature is checked, so a refused call is still recorded in the
    // region its owner looks in.
    log.region = Some(auth.region.clone());
    let (account, read_only) = match mode {
        AuthMode::AnyCredentials => {
            if !ids::is_valid_access_key_id(&auth.access_key_id) {
                return Err(AwsError::auth_failure());
            }
            let account = credentials
                .for_any_key(&auth.access_key_id, &ids::account_id())
                .await
                .map_err(keypaird_inventory::InventoryError::from)?
                .account;
            (account, false)
        }
        AuthMode::Verify => {
            let credential = credentials
                .find(&auth.access_key_id)
                .await
                .map_err(keypaird_inventory::InventoryError::from)?
                .ok_or_else(AwsError::auth_failure)?;
            // Accounts made by --any-credentials have no secret and cannot sign.
            let secret = credential
                .secret_access_key
                .as_deref()
                .ok_or_else(AwsError::auth_failure)?;
            // A disabled key gets what an unknown one gets, and only once its signature
            // holds (a wrong secret learns nothing about the key's state).
            sigv4::verify(&signed, &auth, secret, now).map_err(from_sigv4)?;
            if credential.disabled {
                return Err(AwsError::auth_failure());
            }
            credentials.note_use(&credential.access_key_id, now);
            (credential.account, credential.read_only)
        }
    };
    Ok(Caller {
        account,
        region: auth.region,
        read_only,
    })
}

fn is_plausible_region(region: &str) -> bool {
    (1..=64).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn from_sigv4(err: SigV4Error) -> AwsError {
    match err {
        SigV4Error::Missing => AwsError::new(
            Code::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        ),
        SigV4Error::Incomplete(detail) => AwsError::new(Code::IncompleteSignature, detail),
        SigV4Error::Expired => AwsError::new(Code::RequestExpired, "Request has expired."),
        SigV4Error::Mismatch(detail) => AwsError::signature_mismatch(&detail),
    }
}
