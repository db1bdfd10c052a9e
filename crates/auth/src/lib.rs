//! Request signature verification.
//!
//! This crate answers one question: "was this request signed with that secret?". It deliberately
//! knows nothing about accounts, storage, HTTP servers or key formats: the caller extracts the
//! access key id with [`sigv4::parse`], looks the secret up wherever accounts live, and hands it
//! back to [`sigv4::verify`]. Keeping the lookup outside means the same verifier serves the
//! embedded and the shared store, and tests need no database.
//!
//! Only AWS Signature Version 4 exists today; Alibaba's ACS v1 and V3 signatures will sit beside
//! it as sibling modules with the same parse / verify split.

pub mod sigv4;
