//! Who is calling: the ACS v1 or V3 signature is checked with the secret from the store, then
//! the request's nonce is recorded in the store, so that a replay is refused by every node that
//! shares it. The access keys are the same as the EC2 dialect's.

use keypaird_auth::acs::{self, AcsError, AcsRequest};
use keypaird_inventory::{ids, Account, CredentialCache, Inventory, InventoryError};
use time::OffsetDateTime;

use super::error::{AliyunError, Code};
use crate::aws::AuthMode;
use crate::params::Params;
use crate::ApiRequest;

pub fn is_v3(headers: &http::HeaderMap) -> bool {
    acs::is_v3(headers)
}

pub async fn authenticate(
    inventory: &Inventory,
    credentials: &CredentialCache,
    mode: AuthMode,
    request: &ApiRequest,
    params: &Params,
    now: OffsetDateTime,
) -> Result<Account, AliyunError> {
    let signed = AcsRequest {
        method: request.method.as_str(),
        query: &request.query,
        headers: &request.headers,
        body: &request.body,
        params: params.pairs(),
    };
    let auth = acs::parse(&signed).map_err(from_acs)?;
    match mode {
        // moto-style: any access key names its own account; nothing is verified.
        AuthMode::AnyCredentials => {
            if !ids::is_valid_access_key_id(&auth.access_key_id) {
                return Err(AliyunError::access_key_not_found());
            }
            Ok(credentials
                .for_any_key(&auth.access_key_id, &ids::account_id())
                .await
                .map_err(InventoryError::from)?
                .account)
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
            acs::verify(&signed, &auth, secret, now).map_err(from_acs)?;
            // Only a correctly signed request spends its nonce, so nobody can burn another
            // caller's nonces or fill the record with garbage.
            let fresh = inventory
                .store()
                .record_nonce(
                    &auth.access_key_id,
                    &auth.nonce,
                    auth.nonce_expires_at(),
                    now,
                )
                .await
                .map_err(InventoryError::from)?;
            if !fresh {
                return Err(AliyunError::nonce_used());
            }
            Ok(credential.account)
        }
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
