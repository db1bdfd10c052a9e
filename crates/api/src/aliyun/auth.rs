//! Who is calling: the ACS v1 or V3 signature is checked with the secret from the store, and the
//! request's nonce is handed back to be recorded in the store ([`spend`]), so that a replay is
//! refused by every node that shares it. The access keys are the same as the EC2 dialect's.

use keypaird_auth::acs::{self, AcsError, AcsRequest};
use keypaird_inventory::{ids, Account, CredentialCache, Inventory, InventoryError};
use time::OffsetDateTime;

use super::error::{AliyunError, Code};
use crate::aws::AuthMode;
use crate::params::Params;
use crate::{loggable_key_id, ApiRequest, RequestLog};

pub fn is_v3(headers: &http::HeaderMap) -> bool {
    acs::is_v3(headers)
}

/// The nonce of a correctly signed request, not yet recorded.
pub struct UnspentNonce {
    access_key_id: String,
    nonce: String,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
}

/// Who is calling: the account, and whether its key may call reads only.
pub struct Caller {
    pub account: Account,
    pub read_only: bool,
}

/// The caller, and the nonce its request must spend (none without verification).
/// Only a correctly signed request has a nonce to spend, so nobody can burn another caller's
/// nonces or fill the record with garbage.
/// The access key ID goes into `log` as soon as it is read.
pub async fn authenticate(
    credentials: &CredentialCache,
    mode: AuthMode,
    request: &ApiRequest,
    params: &Params<'_>,
    now: OffsetDateTime,
    log: &mut RequestLog,
) -> Result<(Caller, Option<UnspentNonce>), AliyunError> {
    let signed = AcsRequest {
        method: request.method.as_str(),
        query: &request.query,
        headers: &request.headers,
        body: &request.body,
        params: params.pairs(),
    };
    let auth = acs::parse(&signed).map_err(from_acs)?;
    log.access_key_id = Some(loggable_key_id(&auth.access_key_id));
    match mode {
        // moto-style: any access key names its own account; nothing is verified.
        AuthMode::AnyCredentials => {
            if !ids::is_valid_access_key_id(&auth.access_key_id) {
                return Err(AliyunError::access_key_not_found());
            }
            let account = credentials
                .for_any_key(&auth.access_key_id, &ids::account_id())
                .await
                .map_err(InventoryError::from)?
                .account;
            let caller = Caller {
                account,
                read_only: false,
            };
            Ok((caller, None))
        }
        AuthMode::Verify => {
            let credential = credentials
                .find(&auth.access_key_id)
                .await
                .map_err(InventoryError::from)?
                .ok_or_else(AliyunError::access_key_not_found)?;
            // Accounts made by --any-credentials have no secret and cannot sign.
            let secret = credential
                .secret_access_key
                .as_deref()
                .ok_or_else(AliyunError::access_key_not_found)?;
            // Only once the signature holds: a wrong secret learns nothing about the key.
            acs::verify(&signed, &auth, secret, now).map_err(from_acs)?;
            if credential.disabled {
                return Err(AliyunError::access_key_inactive());
            }
            credentials.note_use(&credential.access_key_id, now);
            let nonce = UnspentNonce {
                expires_at: auth.nonce_expires_at(),
                access_key_id: auth.access_key_id,
                nonce: auth.nonce,
                now,
            };
            let caller = Caller {
                account: credential.account,
                read_only: credential.read_only,
            };
            Ok((caller, Some(nonce)))
        }
    }
}

/// Marks `err`, which refused the caller (a bad signature, a spent nonce), in `log` as an
/// authentication failure.
pub fn failed(log: &mut RequestLog, err: AliyunError) -> AliyunError {
    log.note_auth_failure(err.code.wire().1);
    err
}

/// Records the nonce (a durable write); `SignatureNonceUsed` when it was recorded before, by
/// this node or any other sharing the store.
pub async fn spend(inventory: &Inventory, nonce: Option<UnspentNonce>) -> Result<(), AliyunError> {
    let Some(nonce) = nonce else {
        return Ok(());
    };
    let fresh = inventory
        .store()
        .record_nonce(
            &nonce.access_key_id,
            &nonce.nonce,
            nonce.expires_at,
            nonce.now,
        )
        .await
        .map_err(InventoryError::from)?;
    if fresh {
        Ok(())
    } else {
        Err(AliyunError::nonce_used())
    }
}

fn from_acs(err: AcsError) -> AliyunError {
    match err {
        AcsError::MissingParameter(name) => AliyunError::missing_parameter(name),
        AcsError::InvalidParameter(name) => AliyunError::invalid_parameter(name),
        AcsError::IncompleteSignature(detail) => AliyunError::new(
            Code::IncompleteSignature,
            format!("The request signature does not conform to Aliyun standards. {detail}"),
        ),
        AcsError::TimestampFormat => AliyunError::timestamp_format(),
        AcsError::Expired => AliyunError::timestamp_expired(),
        AcsError::Mismatch { string_to_sign } => AliyunError::signature_mismatch(&string_to_sign),
    }
}
