//! Request signature verification.
//!
//! This crate answers one question: "was this request signed with that secret?". It deliberately
//! knows nothing about accounts, storage, HTTP servers or key formats: the caller extracts the
//! access key id with a `parse` function, looks the secret up wherever accounts live, and hands it
//! back to the matching `verify`. Keeping the lookup outside means the same verifier serves the
//! embedded and the shared store, and tests need no database.
//!
//! Two sibling modules share that parse / verify split:
//! - [`sigv4`]: AWS Signature Version 4, header and presigned forms (the EC2 dialect).
//! - [`acs`]: Alibaba Cloud's RPC v1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256 and ACS3-HMAC-SM3)
//!   signatures (the ECS dialect). Their replay protection needs a record of used nonces;
//!   [`acs::parse`] hands the nonce to the caller, whose store keeps that record.

pub mod acs;
mod authorization;
mod form;
pub mod sigv4;
