//! Content Credentials (C2PA): reads the manifest store a file carries (JPEG
//! APP11, PNG `caBX`, WebP `C2PA`, the ISO BMFF `uuid` box of HEIF and AVIF)
//! and checks what can be checked offline.
//!
//! It owns the JUMBF box tree, the claim and assertion CBOR, the COSE_Sign1
//! claim signature and its X.509 chain, the RFC 3161 time-stamp token, and
//! the ISO BMFF box walk the BMFF hash needs. It must not fetch anything (no
//! remote manifests, no OCSP, no trust lists), judge the picture (assess does
//! that) or fail: broken stores become [`ContentCredentials::warnings`] and
//! validation codes.
//!
//! Why not the `c2pa` crate: with default features off and its pure-Rust
//! crypto it pulls 241 crates (retrace has 105 in all) and needs Rust 1.88
//! (retrace promises 1.85). This reader is the spec's read path only, and it
//! says which steps it performs (see [`ContentCredentials::checks`]):
//!
//! * every assertion's hash against the hashed URI in the claim;
//! * the hard binding of the active manifest against the file's bytes:
//!   `c2pa.hash.data`, and `c2pa.hash.bmff` (v1, v2, v3: exclusions by box
//!   path with length, version, flags, data and subsets; from v2 on the
//!   top-level box offsets hashed in, as c2pa-rs does for v3 too); other hard
//!   bindings are listed as not checked;
//! * the claim signature (COSE_Sign1: ES256, ES384, PS256, PS384, PS512,
//!   Ed25519) with the leaf certificate's key;
//! * each certificate of the chain signed by the next, and the leaf valid at
//!   the signing time (a verified time-stamp's time, else now);
//! * the RFC 3161 time-stamp (`sigTst2`, `sigTst`): its messageImprint
//!   against the CounterSignature structure of this signature, the
//!   messageDigest attribute against TSTInfo, the time-stamp authority's CMS
//!   signature with the certificate the token carries, and that
//!   certificate's validity at genTime. A time-stamp that fails is a failure
//!   code and its time is not used.
//!
//! Not performed, and said so in every report: trust (no trust list offline,
//! neither for signers nor for time-stamp authorities), revocation (OCSP is
//! online), certificate profile rules, CAWG identity assertions, the hashes
//! that bind ingredients to their manifests, BMFF Merkle trees (fragmented
//! video), remote BMFF hashes, update manifests in a BMFF `uuid` box.
//!
//! Hostile input: every box, manifest, certificate and nesting level is
//! counted against [`Limits`]; every length is checked before slicing; CBOR
//! is decoded with a recursion limit from byte slices already bounded by
//! [`Limits::max_metadata_bytes`]; the BMFF walk is capped by
//! [`Limits::max_bmff_boxes`] and a fixed depth.

use ciborium::value::Value;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::input::bmff::{be32, be64, bmff_header};
use crate::limits::Limits;

/// Most entries kept in any list of a manifest (actions, ingredients, assertion labels).
const MAX_LIST: usize = 256;
/// Longest string kept from a manifest, in characters.
const MAX_TEXT: usize = 1000;

/// What the file's Content Credentials say and how far they could be checked.
/// Part of the report under `metadata.container.c2pa`; fields only get added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ContentCredentials {
    /// Where the store sits.
    pub carrier: Carrier,
    /// Label of the active manifest (the last one in the store).
    pub active_manifest: Option<String>,
    /// `valid` (every check listed in `checks` passed), `invalid` (one
    /// failed: see the manifests' `validation`), or `incomplete` (nothing
    /// failed but a required check could not be done).
    pub validation_state: ValidationState,
    /// The validation steps retrace performs, in words.
    pub checks: Vec<String>,
    /// What could not be checked (offline or not implemented), in words.
    pub not_checked: Vec<String>,
    /// Manifests in store order; the active one is last.
    pub manifests: Vec<Manifest>,
    /// Structural problems in the store.
    pub warnings: Vec<String>,
}

/// One manifest (one signed claim) of the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Manifest {
    /// The manifest's JUMBF label (`urn:uuid:…`, `urn:c2pa:…`).
    pub label: String,
    /// 1 for `c2pa.claim`, 2 for `c2pa.claim.v2`.
    pub claim_version: Option<u8>,
    /// The claim generator string (claim v1).
    pub claim_generator: Option<String>,
    /// The claim generator info as `name version` strings.
    pub claim_generator_info: Vec<String>,
    /// `dc:title`.
    pub title: Option<String>,
    /// `dc:format`.
    pub format: Option<String>,
    /// `instanceID`.
    pub instance_id: Option<String>,
    /// Actions from `c2pa.actions` / `c2pa.actions.v2`, in order.
    pub actions: Vec<Action>,
    /// Ingredients (`c2pa.ingredient`, `.v2`, `.v3`).
    pub ingredients: Vec<Ingredient>,
    /// Labels of all assertions in the manifest's assertion store.
    pub assertions: Vec<String>,
    /// Who signed the claim, and when.
    pub signature: Option<SignatureInfo>,
    /// C2PA validation status codes for this manifest (success and failure).
    pub validation: Vec<Status>,
}

/// One action from an actions assertion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Action {
    /// `c2pa.created`, `c2pa.edited`, `c2pa.cropped`, …
    pub action: String,
    /// The software that did it (`name version` for claim v2 agents).
    pub software_agent: Option<String>,
    /// When, as recorded.
    pub when: Option<String>,
    /// IPTC digital source type URI (`…/trainedAlgorithmicMedia` for generative AI).
    pub digital_source_type: Option<String>,
    /// Free-text description, when given.
    pub description: Option<String>,
}

/// One ingredient: an asset this one was made from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Ingredient {
    /// `dc:title`.
    pub title: Option<String>,
    /// `dc:format`.
    pub format: Option<String>,
    /// `parentOf`, `componentOf`, `inputTo`.
    pub relationship: Option<String>,
    /// `instanceID`.
    pub instance_id: Option<String>,
    /// Label of the ingredient's own manifest in this store, when it has one.
    pub manifest: Option<String>,
}

/// The claim signature's signer and time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct SignatureInfo {
    /// COSE algorithm (`Es256`, `Ps256`, `Ed25519`, … as c2patool names them).
    pub alg: Option<String>,
    /// Signing certificate subject organisation (c2patool's `issuer`).
    pub issuer: Option<String>,
    /// Signing certificate subject common name.
    pub common_name: Option<String>,
    /// Signing certificate issuer (the CA), as a distinguished name.
    pub certificate_issuer: Option<String>,
    /// Serial number, decimal (as c2patool prints it).
    pub cert_serial_number: Option<String>,
    /// Certificate validity, RFC 3339.
    pub not_before: Option<String>,
    /// Certificate validity, RFC 3339.
    pub not_after: Option<String>,
    /// Signing time from the RFC 3161 time-stamp, RFC 3339; null without one
    /// or when the time-stamp does not verify.
    pub time: Option<String>,
    /// Certificates in the chain.
    pub chain_length: usize,
}

/// One validation result, with the C2PA specification's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Status {
    /// C2PA code (`claimSignature.validated`, `assertion.dataHash.mismatch`, …).
    pub code: StatusCode,
    /// Whether the code reports a success.
    #[serde(default)]
    pub success: bool,
    /// What it is about (a JUMBF URI), when specific.
    #[serde(default)]
    pub url: Option<String>,
    /// In words.
    #[serde(default)]
    pub explanation: String,
}

crate::evidence::named! {
    /// How far a store's Content Credentials checked out (the report's
    /// `metadata.container.c2pa.validation_state`).
    #[derive(Default)]
    pub enum ValidationState {
        /// Every check listed in `checks` passed.
        Valid = "valid",
        /// One failed: see the manifests' `validation`.
        Invalid = "invalid",
        /// Nothing failed but a required check could not be done. The
        /// default: nothing is claimed either way (a report from another
        /// version without the field is read as this).
        #[default]
        Incomplete = "incomplete",
    }
}

crate::evidence::named! {
    /// The C2PA specification's validation status codes that retrace writes
    /// (the specification's names, so a reader can look them up there).
    pub enum StatusCode {
        /// A hash or signature algorithm retrace cannot check.
        AlgorithmUnsupported = "algorithm.unsupported",
        /// The BMFF hash assertion cannot be read.
        AssertionBmffHashMalformed = "assertion.bmffHash.malformed",
        /// The file's boxes hash to what was signed.
        AssertionBmffHashMatch = "assertion.bmffHash.match",
        /// The file's boxes changed after signing.
        AssertionBmffHashMismatch = "assertion.bmffHash.mismatch",
        /// The data hash assertion cannot be read.
        AssertionDataHashMalformed = "assertion.dataHash.malformed",
        /// The file's bytes hash to what was signed.
        AssertionDataHashMatch = "assertion.dataHash.match",
        /// The file's bytes changed after signing.
        AssertionDataHashMismatch = "assertion.dataHash.mismatch",
        /// An assertion hashes to what the claim lists.
        AssertionHashedUriMatch = "assertion.hashedURI.match",
        /// An assertion differs from what the claim lists.
        AssertionHashedUriMismatch = "assertion.hashedURI.mismatch",
        /// An assertion the claim lists is not in the manifest.
        AssertionMissing = "assertion.missing",
        /// The claim points at an assertion outside its manifest.
        AssertionOutsideManifest = "assertion.outsideManifest",
        /// The claim cannot be read.
        ClaimMalformed = "claim.malformed",
        /// The manifest has no claim.
        ClaimMissing = "claim.missing",
        /// The signing certificate was valid when the claim was signed.
        ClaimSignatureInsideValidity = "claimSignature.insideValidity",
        /// The claim signature does not verify.
        ClaimSignatureMismatch = "claimSignature.mismatch",
        /// The manifest has no claim signature.
        ClaimSignatureMissing = "claimSignature.missing",
        /// The signing certificate was not valid when the claim was signed.
        ClaimSignatureOutsideValidity = "claimSignature.outsideValidity",
        /// The claim signature verifies.
        ClaimSignatureValidated = "claimSignature.validated",
        /// The signing certificate cannot be used.
        SigningCredentialInvalid = "signingCredential.invalid",
        /// The time-stamp cannot be read.
        TimeStampMalformed = "timeStamp.malformed",
        /// The time-stamp was not made for this signature, or was changed.
        TimeStampMismatch = "timeStamp.mismatch",
        /// The time-stamp authority's certificate was not valid at the stamped time.
        TimeStampOutsideValidity = "timeStamp.outsideValidity",
        /// The time-stamp authority's signature cannot be verified.
        TimeStampUntrusted = "timeStamp.untrusted",
        /// The time-stamp verifies.
        TimeStampValidated = "timeStamp.validated",
    }
}

crate::evidence::named! {
    /// Where a file's manifest store sits (the report's
    /// `metadata.container.c2pa.carrier`).
    #[derive(Default)]
    pub enum Carrier {
        /// A JPEG's APP11 JUMBF segments, reassembled. The default only for
        /// reading a report without the field, which every version writes.
        #[default]
        JpegApp11 = "JPEG APP11",
        /// A PNG's `caBX` chunk.
        PngCabx = "PNG caBX",
        /// A WebP's `C2PA` chunk.
        WebpC2pa = "WebP C2PA",
        /// The top-level C2PA `uuid` box of an ISO BMFF file (HEIF, AVIF).
        BmffUuid = "BMFF uuid",
    }
}

/// Where a manifest store sits in a file, as the container walkers find it.
pub struct Store<'a> {
    /// Which block of the file holds it.
    pub carrier: Carrier,
    /// The store's bytes (reassembled for JPEG).
    pub bytes: std::borrow::Cow<'a, [u8]>,
}

/// Reassemble a JPEG's APP11 JUMBF segments into one store. `segments` are the
/// APP11 payloads in file order. Each starts with `JP`, a box instance number,
/// a packet sequence number; continuation packets repeat the box header,
/// which is dropped. Returns `None` when no segment holds a C2PA store.
pub fn jpeg_store(segments: &[&[u8]], max: usize, warnings: &mut Vec<String>) -> Option<Vec<u8>> {
    // The C2PA store is the JUMBF box whose description says "c2pa"; other
    // JUMBF users (JPEG 360, privacy) share APP11 and are skipped by instance.
    let mut instance: Option<u16> = None;
    let mut out: Vec<u8> = Vec::new();
    let mut next_seq = 1u32;
    for seg in segments {
        let (Some(ci), Some(en), Some(z)) = (seg.get(..2), be16(seg, 2), be32(seg, 4)) else {
            continue;
        };
        if ci != b"JP" {
            continue;
        }
        let body = &seg[8..];
        match instance {
            None => {
                if z != 1 || !is_c2pa_store(body) {
                    continue;
                }
                instance = Some(en);
                if !push_bounded(&mut out, body, max) {
                    warnings.push("C2PA store over the metadata limit; not read".into());
                    return None;
                }
                next_seq = 2;
            }
            Some(i) if i == en => {
                if z != next_seq {
                    warnings.push(format!(
                        "C2PA APP11 packet {z} out of order (expected {next_seq})"
                    ));
                }
                next_seq = z.saturating_add(1);
                // The repeated header: LBox, TBox and XLBox when LBox is 1.
                let skip = if be32(body, 0) == Some(1) { 16 } else { 8 };
                let Some(rest) = body.get(skip..) else {
                    warnings.push("C2PA APP11 continuation packet too short".into());
                    continue;
                };
                if !push_bounded(&mut out, rest, max) {
                    warnings.push("C2PA store over the metadata limit; not read".into());
                    return None;
                }
            }
            Some(_) => {}
        }
    }
    instance.map(|_| out)
}

/// True when the bytes start a `jumb` superbox whose description is labelled
/// `c2pa`.
pub fn is_c2pa_store(b: &[u8]) -> bool {
    // Only the headers are read: in a JPEG's first APP11 packet the box is
    // longer than the packet, so its size cannot be checked here.
    let hl = if be32(b, 0) == Some(1) { 16 } else { 8 };
    b.get(4..8) == Some(b"jumb")
        && b.get(hl + 4..hl + 8) == Some(b"jumd")
        && b.get(hl + 8..hl + 12) == Some(b"c2pa")
        && b.get(hl + 25..).is_some_and(|l| l.starts_with(b"c2pa\0"))
}

fn push_bounded(out: &mut Vec<u8>, more: &[u8], max: usize) -> bool {
    if out.len().saturating_add(more.len()) > max {
        return false;
    }
    out.extend_from_slice(more);
    true
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

// The reader's parts, one file each: JUMBF boxes, CBOR, the manifest and its
// data-hash binding, the BMFF binding, the COSE signature and X.509 chain,
// RFC 3161 time-stamps.
mod bmff;
mod cbor;
mod cose;
mod jumbf;
mod manifest;
#[cfg(test)]
mod tests;
mod timestamp;

pub use bmff::*;
use cbor::*;
use cose::*;
use jumbf::*;
pub use manifest::*;
use timestamp::*;
