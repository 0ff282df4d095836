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
    /// Where the store sits: `JPEG APP11`, `PNG caBX`, `WebP C2PA`, `BMFF uuid`.
    pub carrier: String,
    /// Label of the active manifest (the last one in the store).
    pub active_manifest: Option<String>,
    /// `valid` (every check listed in `checks` passed), `invalid` (one
    /// failed: see the manifests' `validation`), or `incomplete` (nothing
    /// failed but a required check could not be done).
    pub validation_state: String,
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Status {
    /// C2PA code (`claimSignature.validated`, `assertion.dataHash.mismatch`, …).
    pub code: String,
    /// Whether the code reports a success.
    pub success: bool,
    /// What it is about (a JUMBF URI), when specific.
    pub url: Option<String>,
    /// In words.
    pub explanation: String,
}

/// Where a manifest store sits in a file, as the container walkers find it.
pub struct Store<'a> {
    /// `JPEG APP11`, `PNG caBX`, `WebP C2PA`, `BMFF uuid`.
    pub carrier: &'static str,
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

// ---------------------------------------------------------------------------
// JUMBF (ISO/IEC 19566-5) boxes

struct Header {
    kind: [u8; 4],
    /// Header size: 8, or 16 with an XLBox.
    header: usize,
    /// Whole box size, header included.
    size: usize,
}

/// The box header at `at`, with its size checked against the bytes.
fn header(b: &[u8], at: usize) -> Option<Header> {
    let lbox = be32(b, at)?;
    let kind: [u8; 4] = b.get(at + 4..at + 8)?.try_into().ok()?;
    let remaining = b.len().checked_sub(at)?;
    let (header, size) = match lbox {
        0 => (8, remaining),
        1 => (16, usize::try_from(be64(b, at + 8)?).ok()?),
        n => (8, usize::try_from(n).ok()?),
    };
    (size >= header && size <= remaining).then_some(Header { kind, header, size })
}

/// One box of the tree. Superboxes (`jumb`) have a label and children; other
/// boxes have content.
struct JBox<'a> {
    kind: [u8; 4],
    label: Option<String>,
    /// Everything after the box header: for a superbox, the description box
    /// and content boxes, which is what assertion hashes cover.
    payload: &'a [u8],
    children: Vec<JBox<'a>>,
}

impl<'a> JBox<'a> {
    fn child(&self, label: &str) -> Option<&JBox<'a>> {
        self.children
            .iter()
            .find(|c| c.label.as_deref() == Some(label))
    }

    /// The first content box of a kind (`cbor`, `json`, `bidb`).
    fn content(&self, kind: &[u8; 4]) -> Option<&'a [u8]> {
        self.children
            .iter()
            .find(|c| &c.kind == kind)
            .map(|c| c.payload)
    }
}

struct Budget {
    boxes: usize,
    max_depth: usize,
}

fn parse_boxes<'a>(
    b: &'a [u8],
    depth: usize,
    budget: &mut Budget,
    warnings: &mut Vec<String>,
) -> Vec<JBox<'a>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < b.len() {
        let Some(h) = header(b, at) else {
            warnings.push(format!("JUMBF: malformed box header at offset {at}"));
            break;
        };
        if budget.boxes == 0 {
            warnings.push("JUMBF: too many boxes; the rest is not read".into());
            break;
        }
        budget.boxes -= 1;
        let payload = &b[at + h.header..at + h.size];
        let mut jb = JBox {
            kind: h.kind,
            label: None,
            payload,
            children: Vec::new(),
        };
        if &h.kind == b"jumb" {
            if depth >= budget.max_depth {
                warnings.push("JUMBF: superboxes nested too deeply; not followed".into());
            } else {
                jb.children = parse_boxes(payload, depth + 1, budget, warnings);
                jb.label = jb
                    .children
                    .first()
                    .filter(|d| &d.kind == b"jumd")
                    .and_then(|d| description_label(d.payload));
            }
        }
        out.push(jb);
        if h.size == 0 {
            break;
        }
        at += h.size;
    }
    out
}

/// The label of a description box: 16-byte type, toggles, then a
/// NUL-terminated label when toggle bit 1 is set.
fn description_label(d: &[u8]) -> Option<String> {
    let toggles = *d.get(16)?;
    if toggles & 0x02 == 0 {
        return None;
    }
    let rest = d.get(17..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    Some(cap(&String::from_utf8_lossy(&rest[..end])))
}

fn cap(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------
// CBOR helpers

fn cbor(bytes: &[u8], limits: &Limits) -> Result<Value, String> {
    // Clamped: the recursion is on the stack, whatever a caller's Limits say.
    let depth = limits.max_cbor_depth.min(crate::limits::MAX_NESTING);
    ciborium::de::from_reader_with_recursion_limit(bytes, depth).map_err(|e| cap(&e.to_string()))
}

fn get<'v>(map: &'v Value, key: &str) -> Option<&'v Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

fn get_int(map: &Value, key: i64) -> Option<&Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key))
        .map(|(_, v)| v)
}

/// A text value, also when tagged (claim v2 writes `when` as tag 0, an RFC 3339 date-time).
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Tag(_, inner) => inner.as_text().map(cap),
        t => t.as_text().map(cap),
    }
}

fn list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// `name version` from a claim generator info map (or a plain string).
fn generator_info(v: &Value) -> Option<String> {
    if let Some(t) = v.as_text() {
        return Some(cap(t));
    }
    let name = text(get(v, "name"))?;
    Some(match text(get(v, "version")) {
        Some(ver) => format!("{name} {ver}"),
        None => name,
    })
}

// ---------------------------------------------------------------------------
// Reading and verifying

/// Read and verify a manifest store. `asset` is the whole file, for the
/// data-hash binding.
pub fn read(store: &Store<'_>, asset: &[u8], limits: &Limits) -> ContentCredentials {
    let mut cc = ContentCredentials {
        carrier: store.carrier.to_string(),
        checks: vec![
            "each assertion's hash against the claim".into(),
            "the hard binding of the active manifest (c2pa.hash.data, c2pa.hash.bmff) against the file's bytes".into(),
            "the claim signature with the signing certificate's key".into(),
            "each certificate of the chain signed by the next, and the signing certificate valid at the signing time".into(),
            "the RFC 3161 time-stamp: made for this signature, signed by the certificate it carries, which was valid at the stamped time".into(),
        ],
        not_checked: vec![
            "trust: the signer was not checked against a C2PA trust list (offline)".into(),
            "revocation of the signing certificate (OCSP needs the network)".into(),
            "trust in the time-stamp authority (no trust list offline; its signature and certificate dates are checked)".into(),
            "certificate profile rules and CAWG identity assertions".into(),
            "the hashes binding ingredients to their own manifests".into(),
        ],
        ..ContentCredentials::default()
    };
    let mut budget = Budget {
        boxes: limits.max_jumbf_boxes,
        max_depth: limits.max_jumbf_depth.min(crate::limits::MAX_NESTING),
    };
    let top = parse_boxes(&store.bytes, 0, &mut budget, &mut cc.warnings);
    let Some(root) = top.iter().find(|b| b.label.as_deref() == Some("c2pa")) else {
        cc.warnings
            .push("no JUMBF superbox labelled c2pa: not a C2PA store".into());
        cc.validation_state = "invalid".into();
        return cc;
    };
    let manifests: Vec<&JBox<'_>> = root
        .children
        .iter()
        .filter(|b| &b.kind == b"jumb" && b.label.is_some())
        .collect();
    if manifests.len() > limits.max_c2pa_manifests {
        cc.warnings.push(format!(
            "{} manifests; only the last {} are read",
            manifests.len(),
            limits.max_c2pa_manifests
        ));
    }
    let skip = manifests.len().saturating_sub(limits.max_c2pa_manifests);
    let count = manifests.len();
    for (i, m) in manifests.iter().enumerate().skip(skip) {
        let active = i + 1 == count;
        let man = read_manifest(m, active, asset, limits, &mut cc);
        cc.manifests.push(man);
    }
    cc.active_manifest = cc.manifests.last().map(|m| m.label.clone());
    let Some(active) = cc.manifests.last() else {
        cc.warnings.push("the store holds no manifest".into());
        cc.validation_state = "invalid".into();
        return cc;
    };
    let failed = active.validation.iter().any(|s| !s.success);
    let has = |code: &str| active.validation.iter().any(|s| s.code == code);
    cc.validation_state = if failed {
        "invalid"
    } else if has("claimSignature.validated")
        && (has("assertion.dataHash.match") || has("assertion.bmffHash.match"))
    {
        "valid"
    } else {
        "incomplete"
    }
    .into();
    cc
}

/// The status of a hard binding once its hashed parts are gathered: `kind`
/// names the assertion in the codes (`dataHash`, `bmffHash`), `noun` what was
/// hashed, in words.
fn hash_verdict(
    m: &mut Manifest,
    alg: &str,
    parts: &[&[u8]],
    expected: &[u8],
    url: Option<String>,
    kind: &str,
    noun: &str,
) {
    match hash_with(alg, parts) {
        None => status(
            m,
            "algorithm.unsupported",
            false,
            url,
            format!("hash algorithm {alg:?}"),
        ),
        Some(h) if h == expected => status(
            m,
            &format!("assertion.{kind}.match"),
            true,
            url,
            format!("the file's {noun} are those that were signed"),
        ),
        Some(_) => status(
            m,
            &format!("assertion.{kind}.mismatch"),
            false,
            url,
            format!("the file's {noun} differ from those that were signed: it was changed after signing"),
        ),
    }
}

fn status(m: &mut Manifest, code: &str, success: bool, url: Option<String>, why: String) {
    if m.validation.len() < MAX_LIST {
        m.validation.push(Status {
            code: code.into(),
            success,
            url,
            explanation: why,
        });
    }
}

fn read_manifest(
    jb: &JBox<'_>,
    active: bool,
    asset: &[u8],
    limits: &Limits,
    cc: &mut ContentCredentials,
) -> Manifest {
    let label = jb.label.clone().unwrap_or_default();
    let mut m = Manifest {
        label: label.clone(),
        ..Manifest::default()
    };
    let store = jb.child("c2pa.assertions");
    if let Some(s) = store {
        m.assertions = s
            .children
            .iter()
            .filter_map(|c| c.label.clone())
            .take(MAX_LIST)
            .collect();
    }
    let (claim_box, version) = match (jb.child("c2pa.claim.v2"), jb.child("c2pa.claim")) {
        (Some(c), _) => (c, 2),
        (None, Some(c)) => (c, 1),
        (None, None) => {
            status(
                &mut m,
                "claim.missing",
                false,
                Some(format!("self#jumbf=/c2pa/{label}")),
                "the manifest has no claim".into(),
            );
            return m;
        }
    };
    m.claim_version = Some(version);
    let Some(claim_bytes) = claim_box.content(b"cbor") else {
        status(
            &mut m,
            "claim.malformed",
            false,
            None,
            "the claim has no CBOR box".into(),
        );
        return m;
    };
    let claim = match cbor(claim_bytes, limits) {
        Ok(v) => v,
        Err(e) => {
            status(
                &mut m,
                "claim.malformed",
                false,
                None,
                format!("claim CBOR: {e}"),
            );
            return m;
        }
    };
    m.claim_generator = text(get(&claim, "claim_generator"));
    let info = get(&claim, "claim_generator_info");
    m.claim_generator_info = match info {
        Some(Value::Array(a)) => a.iter().filter_map(generator_info).take(MAX_LIST).collect(),
        Some(v) => generator_info(v).into_iter().collect(),
        None => Vec::new(),
    };
    m.title = text(get(&claim, "dc:title"));
    m.format = text(get(&claim, "dc:format"));
    m.instance_id = text(get(&claim, "instanceID"));
    let default_alg = text(get(&claim, "alg")).unwrap_or_else(|| "sha256".into());

    // Assertions: hash each one the claim lists, then read the ones people need.
    let refs: Vec<&Value> = ["assertions", "created_assertions", "gathered_assertions"]
        .iter()
        .flat_map(|k| list(get(&claim, k)))
        .collect();
    for r in refs.iter().take(limits.max_jumbf_boxes) {
        check_assertion(r, store, &label, &default_alg, &mut m);
    }
    if let Some(s) = store {
        for a in &s.children {
            let Some(l) = a.label.as_deref() else {
                continue;
            };
            let base = l.split("__").next().unwrap_or(l);
            match base {
                "c2pa.actions" | "c2pa.actions.v2" => read_actions(a, limits, &mut m, cc),
                "c2pa.ingredient" | "c2pa.ingredient.v2" | "c2pa.ingredient.v3" => {
                    read_ingredient(a, limits, &mut m, cc)
                }
                "c2pa.hash.data" if active => {
                    check_data_hash(a, asset, &default_alg, limits, &mut m)
                }
                "c2pa.hash.bmff" | "c2pa.hash.bmff.v2" | "c2pa.hash.bmff.v3" if active => {
                    let version = match base {
                        "c2pa.hash.bmff.v3" => 3,
                        "c2pa.hash.bmff.v2" => 2,
                        _ => 1,
                    };
                    check_bmff_hash(a, asset, version, &default_alg, limits, &mut m, cc)
                }
                "c2pa.hash.boxes" | "c2pa.hash.collection.data" if active => {
                    let note = format!(
                        "the hard binding {base} (only c2pa.hash.data and c2pa.hash.bmff are checked)"
                    );
                    if !cc.not_checked.contains(&note) {
                        cc.not_checked.push(note);
                    }
                }
                _ => {}
            }
        }
    }
    match jb.child("c2pa.signature").and_then(|s| s.content(b"cbor")) {
        Some(sig) => check_signature(sig, claim_bytes, limits, &mut m),
        None => status(
            &mut m,
            "claimSignature.missing",
            false,
            None,
            "the manifest has no signature".into(),
        ),
    }
    m
}

fn hash_with(alg: &str, parts: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        d.finalize().to_vec()
    }
    match alg {
        "sha256" => Some(run::<Sha256>(parts)),
        "sha384" => Some(run::<Sha384>(parts)),
        "sha512" => Some(run::<Sha512>(parts)),
        _ => None,
    }
}

/// A hashed URI from the claim against the assertion it names.
fn check_assertion(
    r: &Value,
    store: Option<&JBox<'_>>,
    manifest: &str,
    alg: &str,
    m: &mut Manifest,
) {
    let Some(url) = text(get(r, "url")) else {
        status(
            m,
            "assertion.hashedURI.mismatch",
            false,
            None,
            "an assertion reference has no URL".into(),
        );
        return;
    };
    let alg = text(get(r, "alg")).unwrap_or_else(|| alg.to_string());
    let Some(expected) = get(r, "hash").and_then(Value::as_bytes) else {
        status(
            m,
            "assertion.hashedURI.mismatch",
            false,
            Some(url),
            "no hash in the reference".into(),
        );
        return;
    };
    // `self#jumbf=c2pa.assertions/LABEL` or `self#jumbf=/c2pa/MANIFEST/c2pa.assertions/LABEL`.
    let path = url.strip_prefix("self#jumbf=").unwrap_or(&url);
    let mut parts = path.trim_start_matches('/').split('/').collect::<Vec<_>>();
    if parts.first() == Some(&"c2pa") && parts.len() >= 4 {
        if parts[1] != manifest {
            status(
                m,
                "assertion.outsideManifest",
                false,
                Some(url.clone()),
                "the claim references an assertion of another manifest".into(),
            );
            return;
        }
        parts.drain(..2);
    }
    let found = match parts.as_slice() {
        ["c2pa.assertions", label] => store.and_then(|s| s.child(label)),
        _ => None,
    };
    let Some(found) = found else {
        status(
            m,
            "assertion.missing",
            false,
            Some(url),
            "the claim names an assertion the store does not hold".into(),
        );
        return;
    };
    match hash_with(&alg, &[found.payload]) {
        None => status(
            m,
            "algorithm.unsupported",
            false,
            Some(url),
            format!("hash algorithm {alg:?}"),
        ),
        Some(h) if h == *expected => status(
            m,
            "assertion.hashedURI.match",
            true,
            Some(url),
            "assertion hash matches".into(),
        ),
        Some(_) => status(
            m,
            "assertion.hashedURI.mismatch",
            false,
            Some(url),
            "the assertion was changed after signing".into(),
        ),
    }
}

fn assertion_value(a: &JBox<'_>, limits: &Limits, cc: &mut ContentCredentials) -> Option<Value> {
    if let Some(c) = a.content(b"cbor") {
        return match cbor(c, limits) {
            Ok(v) => Some(v),
            Err(e) => {
                cc.warnings.push(format!(
                    "assertion {}: CBOR: {e}",
                    a.label.as_deref().unwrap_or("?")
                ));
                None
            }
        };
    }
    // JSON assertions (claim v1 era) are rare for actions; read them too.
    let j = a.content(b"json")?;
    let v: serde_json::Value = serde_json::from_slice(j).ok()?;
    fn conv(v: &serde_json::Value, depth: usize) -> Value {
        if depth > 64 {
            return Value::Null;
        }
        match v {
            serde_json::Value::String(s) => Value::Text(s.clone()),
            serde_json::Value::Array(a) => {
                Value::Array(a.iter().map(|x| conv(x, depth + 1)).collect())
            }
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, x)| (Value::Text(k.clone()), conv(x, depth + 1)))
                    .collect(),
            ),
            _ => Value::Null,
        }
    }
    Some(conv(&v, 0))
}

fn read_actions(a: &JBox<'_>, limits: &Limits, m: &mut Manifest, cc: &mut ContentCredentials) {
    let Some(v) = assertion_value(a, limits, cc) else {
        return;
    };
    for act in list(get(&v, "actions")) {
        if m.actions.len() >= MAX_LIST {
            break;
        }
        let Some(action) = text(get(act, "action")) else {
            continue;
        };
        m.actions.push(Action {
            action,
            software_agent: get(act, "softwareAgent").and_then(generator_info),
            when: text(get(act, "when")),
            digital_source_type: text(get(act, "digitalSourceType")),
            description: text(get(act, "description")),
        });
    }
}

fn read_ingredient(a: &JBox<'_>, limits: &Limits, m: &mut Manifest, cc: &mut ContentCredentials) {
    let Some(v) = assertion_value(a, limits, cc) else {
        return;
    };
    if m.ingredients.len() >= MAX_LIST {
        return;
    }
    let manifest = ["activeManifest", "c2pa_manifest"]
        .iter()
        .find_map(|k| text(get(&v, k).and_then(|r| get(r, "url"))))
        .and_then(|u| {
            let p = u.strip_prefix("self#jumbf=")?.trim_start_matches('/');
            p.strip_prefix("c2pa/")
                .map(|r| r.split('/').next().unwrap_or(r).to_string())
        });
    m.ingredients.push(Ingredient {
        title: text(get(&v, "dc:title")),
        format: text(get(&v, "dc:format")),
        relationship: text(get(&v, "relationship")),
        instance_id: text(get(&v, "instanceID")),
        manifest,
    });
}

/// The hard binding: the file's bytes, minus the exclusions (the store
/// itself), hashed and compared with the assertion.
fn check_data_hash(a: &JBox<'_>, asset: &[u8], alg: &str, limits: &Limits, m: &mut Manifest) {
    let url = Some(format!(
        "self#jumbf=/c2pa/{}/c2pa.assertions/{}",
        m.label,
        a.label.as_deref().unwrap_or("")
    ));
    let v = match a.content(b"cbor").map(|c| cbor(c, limits)) {
        Some(Ok(v)) => v,
        _ => {
            status(
                m,
                "assertion.dataHash.malformed",
                false,
                url,
                "unreadable data hash".into(),
            );
            return;
        }
    };
    let alg = text(get(&v, "alg")).unwrap_or_else(|| alg.to_string());
    let Some(expected) = get(&v, "hash").and_then(Value::as_bytes) else {
        status(
            m,
            "assertion.dataHash.malformed",
            false,
            url,
            "no hash".into(),
        );
        return;
    };
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for e in list(get(&v, "exclusions")).iter().take(MAX_LIST) {
        let num = |k| {
            get(e, k)
                .and_then(Value::as_integer)
                .and_then(|i| usize::try_from(i).ok())
        };
        let (Some(s), Some(l)) = (num("start"), num("length")) else {
            status(
                m,
                "assertion.dataHash.malformed",
                false,
                url,
                "malformed exclusion".into(),
            );
            return;
        };
        ranges.push((s, s.saturating_add(l)));
    }
    ranges.sort_unstable();
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut at = 0usize;
    for (s, e) in ranges {
        if s < at || e > asset.len() {
            status(
                m,
                "assertion.dataHash.mismatch",
                false,
                url,
                "the exclusions do not fit the file: it was changed after signing".into(),
            );
            return;
        }
        parts.push(&asset[at..s]);
        at = e;
    }
    parts.push(&asset[at..]);
    hash_verdict(m, &alg, &parts, expected, url, "dataHash", "bytes");
}

// ---------------------------------------------------------------------------
// ISO BMFF (HEIF, AVIF): the store's `uuid` box and the `c2pa.hash.bmff` binding

/// The extended type of the C2PA `uuid` box (the ContentProvenanceBox).
const C2PA_UUID: [u8; 16] = [
    0xD8, 0xFE, 0xC3, 0xD6, 0x1B, 0x0E, 0x48, 0x3C, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7E, 0xC4, 0x81,
];

/// Boxes whose children are walked, so that an exclusion can name a nested
/// box (`/meta/iloc`, `/moov/trak/…/stco`). The list is c2pa-rs's: a box
/// path means what the signer's walk made it mean, and a box it did not
/// descend into (`iprp`, `iinf`) has no path below it.
const BMFF_CONTAINERS: [&[u8; 4]; 16] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"edts", b"udta", b"dinf",
    b"tref", b"treg", b"mvex", b"mfra", b"meta", b"schi",
];

/// Deepest box nesting walked; real files nest six levels at most.
const MAX_BMFF_DEPTH: usize = 32;

/// The C2PA manifest store of an ISO BMFF file: the JUMBF inside the
/// top-level `uuid` box with the C2PA extended type and the purpose
/// `manifest` (`original` in older writers). Returns `None` without one, or
/// when the store is over `max` bytes (with a warning).
pub fn bmff_store<'a>(b: &'a [u8], max: usize, warnings: &mut Vec<String>) -> Option<&'a [u8]> {
    let mut found: Option<&[u8]> = None;
    let mut at = 0usize;
    while at < b.len() {
        let h = match bmff_header(b, at, b.len()) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                warnings.push(format!("BMFF: {e}; the boxes after it are not read"));
                break;
            }
        };
        let body = &b[h.content..at + h.size];
        if &h.kind == b"uuid" && b.get(h.content - 16..h.content) == Some(&C2PA_UUID[..]) {
            match c2pa_uuid_payload(body) {
                Some(("manifest" | "original", store)) if found.is_none() => found = Some(store),
                Some(("manifest" | "original", _)) => warnings
                    .push("BMFF: a second C2PA manifest store; only the first is read".into()),
                Some(("update", _)) => warnings
                    .push("BMFF: a C2PA update manifest store is present and not read".into()),
                // Merkle boxes hold fragment hashes; the binding reports them.
                Some(_) => {}
                None => warnings.push(format!(
                    "BMFF: the C2PA uuid box at offset {at} is malformed"
                )),
            }
        }
        at += h.size;
    }
    let store = found?;
    if store.len() > max {
        warnings.push(format!(
            "BMFF uuid C2PA store is {} bytes, over the {max}-byte metadata limit; not read",
            store.len()
        ));
        return None;
    }
    Some(store)
}

/// The purpose and the JUMBF store of a C2PA `uuid` box's content: a
/// full-box header, a NUL-terminated purpose, for manifest boxes a 64-bit
/// offset to the first Merkle box, then the store. Padding after the store's
/// superbox is dropped.
fn c2pa_uuid_payload(body: &[u8]) -> Option<(&str, &[u8])> {
    let rest = body.get(4..)?;
    let nul = rest.iter().position(|&c| c == 0)?;
    let purpose = std::str::from_utf8(&rest[..nul]).ok()?;
    let after = &rest[nul + 1..];
    if !matches!(purpose, "manifest" | "original" | "update") {
        return Some((purpose, after));
    }
    let store = after.get(8..)?;
    let store = match header(store, 0) {
        Some(h) => &store[..h.size],
        None => store,
    };
    Some((purpose, store))
}

/// One box of the walked tree, with the path an exclusion names it by.
struct BmffBox {
    path: String,
    start: usize,
    size: usize,
    version: Option<u8>,
    flags: Option<u32>,
}

/// Every box on the walked paths, in file order; `Err` when the structure is
/// broken (which a valid binding cannot survive) or too big to walk.
fn bmff_tree(b: &[u8], limits: &Limits) -> Result<Vec<BmffBox>, BmffWalkError> {
    fn walk(
        b: &[u8],
        from: usize,
        end: usize,
        parent: &str,
        depth: usize,
        max: usize,
        out: &mut Vec<BmffBox>,
    ) -> Result<(), BmffWalkError> {
        if depth > MAX_BMFF_DEPTH {
            return Err(BmffWalkError::Limit("boxes nested too deeply".into()));
        }
        let mut at = from;
        while at < end {
            let Some(h) = bmff_header(b, at, end).map_err(BmffWalkError::Broken)? else {
                break;
            };
            if out.len() >= max {
                return Err(BmffWalkError::Limit(format!("more than {max} boxes")));
            }
            let path = format!("{parent}/{}", String::from_utf8_lossy(&h.kind));
            let full = BMFF_FULL_BOXES.contains(&&h.kind)
                || (&h.kind == b"uuid" && b.get(h.content - 16..h.content) == Some(&C2PA_UUID[..]));
            // A QuickTime `meta` has no full-box header: its first child,
            // `hdlr`, follows the box header at once.
            let qt_meta =
                &h.kind == b"meta" && b.get(h.content + 4..h.content + 8) == Some(b"hdlr");
            let (version, flags, children) = match (full && !qt_meta, be32(b, h.content)) {
                (true, Some(vf)) => (Some((vf >> 24) as u8), Some(vf & 0xFF_FFFF), h.content + 4),
                _ => (None, None, h.content),
            };
            out.push(BmffBox {
                path: path.clone(),
                start: at,
                size: h.size,
                version,
                flags,
            });
            if BMFF_CONTAINERS.contains(&&h.kind) {
                walk(b, children, at + h.size, &path, depth + 1, max, out)?;
            }
            at += h.size;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(b, 0, b.len(), "", 0, limits.max_bmff_boxes, &mut out)?;
    Ok(out)
}

enum BmffWalkError {
    /// The boxes do not fit together.
    Broken(String),
    /// Over a limit: not checked.
    Limit(String),
}

/// Full boxes (ISO/IEC 14496-12): their version and flags can be matched by
/// an exclusion.
const BMFF_FULL_BOXES: [&[u8; 4]; 79] = [
    b"pdin", b"mvhd", b"tkhd", b"mdhd", b"hdlr", b"nmhd", b"elng", b"stsd", b"stdp", b"stts",
    b"ctts", b"cslg", b"stss", b"stsh", b"elst", b"dref", b"stsz", b"stz2", b"stsc", b"stco",
    b"co64", b"padb", b"subs", b"saiz", b"saio", b"mehd", b"trex", b"mfhd", b"tfhd", b"trun",
    b"tfra", b"mfro", b"tfdt", b"leva", b"trep", b"assp", b"sbgp", b"sgpd", b"csgp", b"cprt",
    b"tsel", b"kind", b"meta", b"xml ", b"bxml", b"iloc", b"pitm", b"ipro", b"infe", b"iinf",
    b"iref", b"ipma", b"schm", b"fiin", b"fpar", b"fecr", b"gitn", b"fire", b"stri", b"stsg",
    b"stvi", b"csch", b"sidx", b"ssix", b"prft", b"srpp", b"vmhd", b"smhd", b"srat", b"chnl",
    b"dmix", b"txtC", b"mime", b"uri ", b"uriI", b"hmhd", b"sthd", b"vvhd", b"medc",
];

/// The BMFF hard binding (`c2pa.hash.bmff`, `.v2`, `.v3`): the file's bytes
/// minus the boxes the exclusions name, hashed and compared with the
/// assertion. From v2 on, the 64-bit big-endian offset of every top-level
/// box not wholly excluded goes into the hash just before the box's first
/// byte, so moving boxes breaks the binding. c2pa-rs 0.91 does this for v3
/// as for v2 (verified against its signed fixtures, see the tests).
fn check_bmff_hash(
    a: &JBox<'_>,
    asset: &[u8],
    assertion_version: u8,
    alg: &str,
    limits: &Limits,
    m: &mut Manifest,
    cc: &mut ContentCredentials,
) {
    let url = Some(format!(
        "self#jumbf=/c2pa/{}/c2pa.assertions/{}",
        m.label,
        a.label.as_deref().unwrap_or("")
    ));
    let malformed = |m: &mut Manifest, why: &str| {
        status(
            m,
            "assertion.bmffHash.malformed",
            false,
            url.clone(),
            why.into(),
        );
    };
    let v = match a.content(b"cbor").map(|c| cbor(c, limits)) {
        Some(Ok(v)) => v,
        _ => return malformed(m, "unreadable BMFF hash"),
    };
    let alg = text(get(&v, "alg")).unwrap_or_else(|| alg.to_string());
    let mut not_checked = |what: String| {
        if !cc.not_checked.contains(&what) {
            cc.not_checked.push(what);
        }
    };
    if get(&v, "merkle").is_some() {
        not_checked("the Merkle tree hashes of a fragmented BMFF file (only the whole-file hash is checked)".into());
    }
    if get(&v, "url").is_some() {
        return not_checked("a BMFF hash of remote content (needs the network)".into());
    }
    let Some(expected) = get(&v, "hash").and_then(Value::as_bytes) else {
        if get(&v, "merkle").is_none() {
            malformed(m, "no hash");
        }
        return;
    };
    let boxes = match bmff_tree(asset, limits) {
        Ok(b) => b,
        Err(BmffWalkError::Limit(why)) => {
            return not_checked(format!(
                "the BMFF hash binding: the file's boxes are over a limit ({why})"
            ));
        }
        Err(BmffWalkError::Broken(why)) => {
            return status(
                m,
                "assertion.bmffHash.mismatch",
                false,
                url,
                format!("the file's box structure is broken ({why}): it was changed after signing"),
            );
        }
    };
    let num = |e: &Value, k: &str| {
        get(e, k)
            .and_then(Value::as_integer)
            .and_then(|i| usize::try_from(i).ok())
    };
    let mut excluded: Vec<(usize, usize)> = Vec::new();
    // Starts of boxes excluded whole: their offsets are not hashed either.
    let mut whole: Vec<usize> = Vec::new();
    // Top-level box starts, minus the boxes excluded whole.
    let mut offsets: Vec<usize> = boxes
        .iter()
        .filter(|b| b.path.matches('/').count() == 1)
        .map(|b| b.start)
        .collect();
    for e in list(get(&v, "exclusions")).iter().take(MAX_LIST) {
        let Some(xpath) = get(e, "xpath").and_then(Value::as_text) else {
            return malformed(m, "an exclusion without xpath");
        };
        let length = num(e, "length");
        let version = get(e, "version")
            .and_then(Value::as_integer)
            .and_then(|i| u8::try_from(i).ok());
        // Three bytes, big-endian, as the box stores them.
        let flags = get(e, "flags").and_then(Value::as_bytes).map(|f| {
            f.iter()
                .take(3)
                .fold(0u32, |acc, &x| (acc << 8) | u32::from(x))
        });
        let exact = !matches!(get(e, "exact"), Some(Value::Bool(false)));
        let mut data: Vec<(usize, &[u8])> = Vec::new();
        for d in list(get(e, "data")).iter().take(MAX_LIST) {
            match (num(d, "offset"), get(d, "value").and_then(Value::as_bytes)) {
                (Some(o), Some(val)) => data.push((o, val)),
                _ => return malformed(m, "malformed exclusion data"),
            }
        }
        let mut subsets: Vec<(usize, usize)> = Vec::new();
        for s in list(get(e, "subset")).iter().take(MAX_LIST) {
            match (num(s, "offset"), num(s, "length")) {
                (Some(o), Some(l)) => subsets.push((o, l)),
                _ => return malformed(m, "malformed exclusion subset"),
            }
        }
        subsets.sort_unstable();
        // Subsets in order and apart, as c2pa-rs requires before hashing.
        if subsets
            .windows(2)
            .any(|w| w[0].0.checked_add(w[0].1).is_none_or(|end| end > w[1].0))
        {
            return malformed(m, "exclusion subsets overlap");
        }
        for bx in boxes.iter().filter(|b| b.path == xpath) {
            if length.is_some_and(|l| l != bx.size) {
                continue;
            }
            if let (Some(want), Some(got)) = (version, bx.version) {
                if want != got {
                    continue;
                }
            }
            if let (Some(want), Some(got)) = (flags, bx.flags) {
                // Not exact: the box may set only flags the exclusion allows
                // (c2pa-rs's reading; the spec leaves it open).
                if (exact && want != got) || (!exact && want | got != want) {
                    continue;
                }
            }
            let mut data_ok = true;
            for (o, val) in &data {
                let at = bx.start.saturating_add(*o);
                match asset.get(at..at.saturating_add(val.len())) {
                    Some(here) => data_ok &= here == *val,
                    None => {
                        return malformed(m, "exclusion data past the end of the file");
                    }
                }
            }
            if !data_ok {
                continue;
            }
            if subsets.is_empty() {
                excluded.push((bx.start, bx.start + bx.size));
                whole.push(bx.start);
            }
            for &(o, l) in &subsets {
                if o > bx.size {
                    continue;
                }
                let len = if l == 0 {
                    bx.size - o
                } else {
                    l.min(bx.size - o)
                };
                excluded.push((bx.start + o, bx.start + o + len));
            }
            // Exclusions times boxes times subsets can be made huge.
            if excluded.len() > limits.max_bmff_boxes {
                return not_checked(format!(
                    "the BMFF hash binding: more than {} excluded ranges",
                    limits.max_bmff_boxes
                ));
            }
        }
    }
    whole.sort_unstable();
    offsets.retain(|o| whole.binary_search(o).is_err());
    // The included ranges: the file minus the exclusions, in order.
    excluded.sort_unstable();
    let mut included: Vec<(usize, usize)> = Vec::new();
    let mut at = 0usize;
    for (s, e) in excluded {
        if s > at {
            included.push((at, s));
        }
        at = at.max(e);
    }
    if at < asset.len() {
        included.push((at, asset.len()));
    }
    if assertion_version < 2 {
        offsets.clear();
    }
    // An offset goes in where its box starts; one whose first byte is
    // excluded (a subset) still goes in, in order, when it lies strictly
    // inside the hashed span, as c2pa-rs places it.
    let (first, last) = match (included.first(), included.last()) {
        (Some(f), Some(l)) => (f.0, l.1.saturating_sub(1)),
        _ => (0, asset.len().saturating_sub(1)),
    };
    let inside = |o: usize| {
        // `included` is sorted and disjoint: the last range starting at or before o.
        let i = included.partition_point(|r| r.0 <= o);
        i > 0 && o < included[i - 1].1
    };
    offsets.retain(|&o| inside(o) || (first < o && o < last));
    offsets.sort_unstable();
    let marks: Vec<[u8; 8]> = offsets.iter().map(|&o| (o as u64).to_be_bytes()).collect();
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut next = 0usize;
    for &(s, e) in &included {
        let mut from = s;
        while next < offsets.len() && offsets[next] < e {
            let o = offsets[next];
            if o > from {
                parts.push(&asset[from..o]);
                from = o;
            }
            parts.push(&marks[next]);
            next += 1;
        }
        parts.push(&asset[from..e]);
    }
    parts.extend(marks[next..].iter().map(|m| &m[..]));
    hash_verdict(m, &alg, &parts, expected, url, "bmffHash", "boxes");
}

// ---------------------------------------------------------------------------
// COSE_Sign1 and X.509

/// COSE algorithm id → (name as c2patool prints it, ring verifier).
fn cose_alg(
    id: i64,
) -> Option<(
    &'static str,
    Option<&'static dyn ring::signature::VerificationAlgorithm>,
)> {
    use ring::signature as s;
    Some(match id {
        -7 => ("Es256", Some(&s::ECDSA_P256_SHA256_FIXED)),
        -35 => ("Es384", Some(&s::ECDSA_P384_SHA384_FIXED)),
        // ring has no P-521; the name is still reported.
        -36 => ("Es512", None),
        -37 => ("Ps256", Some(&s::RSA_PSS_2048_8192_SHA256)),
        -38 => ("Ps384", Some(&s::RSA_PSS_2048_8192_SHA384)),
        -39 => ("Ps512", Some(&s::RSA_PSS_2048_8192_SHA512)),
        -8 => ("Ed25519", Some(&s::ED25519)),
        _ => return None,
    })
}

/// CBOR head for a major type and length.
fn cbor_head(major: u8, len: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    let n = len as u64;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xFF {
        out.extend([m | 24, n as u8]);
    } else if n <= 0xFFFF {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else if n <= 0xFFFF_FFFF {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend(n.to_be_bytes());
    }
}

/// RFC 9052 Sig_structure for COSE_Sign1 with an empty external AAD.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    sig_structure_for("Signature1", protected, payload)
}

/// The same structure under another context: C2PA time-stamps the
/// `CounterSignature` form of it (c2pa-rs `cose_countersign_data`).
fn sig_structure_for(context: &str, protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_head(4, 4, &mut out);
    cbor_head(3, context.len(), &mut out);
    out.extend_from_slice(context.as_bytes());
    cbor_head(2, protected.len(), &mut out);
    out.extend_from_slice(protected);
    cbor_head(2, 0, &mut out);
    cbor_head(2, payload.len(), &mut out);
    out.extend_from_slice(payload);
    out
}

fn check_signature(sig: &[u8], claim: &[u8], limits: &Limits, m: &mut Manifest) {
    let url = Some(format!("self#jumbf=/c2pa/{}/c2pa.signature", m.label));
    let bad = |m: &mut Manifest, why: String| {
        status(m, "claimSignature.mismatch", false, url.clone(), why);
    };
    let v = match cbor(sig, limits) {
        Ok(Value::Tag(18, inner)) => *inner,
        Ok(v @ Value::Array(_)) => v,
        Ok(_) => return bad(m, "the signature is not a COSE_Sign1".into()),
        Err(e) => return bad(m, format!("signature CBOR: {e}")),
    };
    let parts = list(Some(&v));
    let [Value::Bytes(protected), unprotected, payload, Value::Bytes(signature)] = parts else {
        return bad(m, "malformed COSE_Sign1".into());
    };
    let prot = if protected.is_empty() {
        Value::Map(Vec::new())
    } else {
        match cbor(protected, limits) {
            Ok(p) => p,
            Err(e) => return bad(m, format!("protected header: {e}")),
        }
    };
    let alg_id = get_int(&prot, 1)
        .and_then(Value::as_integer)
        .and_then(|i| i64::try_from(i).ok());
    let alg = alg_id.and_then(cose_alg);
    // x5chain (33) may sit in either header in claim v1 manifests.
    let chain_v = get_int(&prot, 33)
        .or_else(|| get_int(unprotected, 33))
        .or_else(|| get(&prot, "x5chain"))
        .or_else(|| get(unprotected, "x5chain"));
    let chain: Vec<&[u8]> = match chain_v {
        Some(Value::Bytes(b)) => vec![b.as_slice()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_bytes)
            .map(Vec::as_slice)
            .take(limits.max_cert_chain)
            .collect(),
        _ => Vec::new(),
    };
    // The time-stamp: v2 (`sigTst2`) stamps the signature bytes, v1
    // (`sigTst`) the claim, each wrapped in a CounterSignature structure
    // under this signature's protected header (C2PA 2.x §10.3.2.5).
    let stamp = ["sigTst2", "sigTst"].iter().find_map(|&k| {
        let tokens = list(get(unprotected, k).and_then(|t| get(t, "tstTokens")));
        let token = tokens.first().and_then(|t| get(t, "val"))?.as_bytes()?;
        let mut stamped = Vec::new();
        if k == "sigTst2" {
            cbor_head(2, signature.len(), &mut stamped);
            stamped.extend_from_slice(signature);
        } else {
            stamped.extend_from_slice(claim);
        }
        let stamped = sig_structure_for("CounterSignature", protected, &stamped);
        Some((check_time_stamp(token, &stamped), tokens.len()))
    });
    // Only a verified time-stamp dates the signature.
    let time = stamp
        .as_ref()
        .and_then(|(s, _)| s.verdict.is_ok().then_some(s.time).flatten());
    let mut info = SignatureInfo {
        alg: alg.map(|a| a.0.to_string()),
        time: time.map(|t| t.to_rfc3339()),
        chain_length: chain.len(),
        ..SignatureInfo::default()
    };
    if let Some((s, count)) = &stamp {
        match &s.verdict {
            Ok(()) => status(
                m,
                "timeStamp.validated",
                true,
                url.clone(),
                "the time-stamp was made for this signature and its authority's signature verifies"
                    .into(),
            ),
            Err((code, why)) => {
                let claimed = s
                    .time
                    .map(|t| format!(" (it claims {}, not used)", t.to_rfc3339()))
                    .unwrap_or_default();
                status(m, code, false, url.clone(), format!("{why}{claimed}"));
            }
        }
        if *count > 1 {
            status(
                m,
                "timeStamp.malformed",
                false,
                url.clone(),
                format!("{count} time-stamp tokens; C2PA allows one (only the first is read)"),
            );
        }
    }
    let certs: Vec<_> = chain
        .iter()
        .filter_map(|der| {
            x509_parser::parse_x509_certificate(der)
                .ok()
                .map(|(_, c)| c)
        })
        .collect();
    if certs.len() != chain.len() || certs.is_empty() {
        m.signature = Some(info);
        return status(
            m,
            "signingCredential.invalid",
            false,
            url,
            "the certificate chain is missing or unreadable".into(),
        );
    }
    let leaf = &certs[0];
    let subject = leaf.subject();
    info.issuer = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok())
        .last()
        .map(cap);
    info.common_name = subject
        .iter_common_name()
        .filter_map(|a| a.as_str().ok())
        .next()
        .map(cap);
    info.certificate_issuer = Some(cap(&leaf.issuer().to_string()));
    info.cert_serial_number = Some(leaf.serial.to_str_radix(10));
    let nb = leaf.validity().not_before.timestamp();
    let na = leaf.validity().not_after.timestamp();
    info.not_before = chrono::DateTime::from_timestamp(nb, 0).map(|t| t.to_rfc3339());
    info.not_after = chrono::DateTime::from_timestamp(na, 0).map(|t| t.to_rfc3339());
    m.signature = Some(info);

    // The claim is the detached payload; an attached one must equal it.
    let payload: &[u8] = match payload {
        Value::Null => claim,
        Value::Bytes(b) if b.as_slice() == claim => claim,
        _ => return bad(m, "the signed payload is not this claim".into()),
    };
    match alg {
        None => status(
            m,
            "algorithm.unsupported",
            false,
            url.clone(),
            format!("COSE algorithm {alg_id:?}"),
        ),
        Some((name, None)) => status(
            m,
            "algorithm.unsupported",
            false,
            url.clone(),
            format!("{name} signatures cannot be checked by retrace"),
        ),
        Some((_, Some(verifier))) => {
            let key = ring::signature::UnparsedPublicKey::new(
                verifier,
                leaf.public_key().subject_public_key.data.as_ref(),
            );
            match key.verify(&sig_structure(protected, payload), signature) {
                Ok(()) => status(m, "claimSignature.validated", true, url.clone(), "the claim signature is valid for the signing certificate".into()),
                Err(_) => bad(m, "the claim signature does not verify: the claim was changed or the signature forged".into()),
            }
        }
    }
    for (i, pair) in certs.windows(2).enumerate() {
        if pair[0]
            .verify_signature(Some(pair[1].public_key()))
            .is_err()
        {
            status(
                m,
                "signingCredential.invalid",
                false,
                url.clone(),
                format!(
                    "certificate {i} of the chain is not signed by certificate {}",
                    i + 1
                ),
            );
        }
    }
    let at = time
        .map(|t| t.timestamp())
        .unwrap_or_else(|| chrono::Utc::now().timestamp());
    if at < nb || at > na {
        status(
            m,
            "claimSignature.outsideValidity",
            false,
            url,
            "the signing certificate was not valid at the signing time".into(),
        );
    } else {
        status(
            m,
            "claimSignature.insideValidity",
            true,
            url,
            "the signing certificate was valid at the signing time".into(),
        );
    }
}

// ---------------------------------------------------------------------------
// RFC 3161 time-stamp tokens (CMS SignedData), checked offline

/// One DER element: its tag, the whole element, and its content.
#[derive(Clone, Copy)]
struct Der<'a> {
    tag: u8,
    raw: &'a [u8],
    body: &'a [u8],
}

/// The DER element at the start of `b`, and what follows it. Definite
/// lengths only (DER); a length past the input is `None`.
fn der(b: &[u8]) -> Option<(Der<'_>, &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, hl) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let mut l = 0usize;
        for k in 0..n {
            l = (l << 8) | usize::from(*b.get(2 + k)?);
        }
        (l, 2 + n)
    };
    let end = hl.checked_add(len)?;
    let raw = b.get(..end)?;
    Some((
        Der {
            tag,
            raw,
            body: &raw[hl..],
        },
        &b[end..],
    ))
}

/// The elements inside a constructed element, in order (at most `MAX_LIST`).
fn der_items(body: &[u8]) -> Option<Vec<Der<'_>>> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if out.len() >= MAX_LIST {
            return None;
        }
        let (d, r) = der(rest)?;
        out.push(d);
        rest = r;
    }
    Some(out)
}

// Object identifiers, as DER content bytes.
const OID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
const OID_TST_INFO: &[u8] = &[
    0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x01, 0x04,
];
const OID_MESSAGE_DIGEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
const OID_RSASSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A];

/// A digest algorithm OID → the name `hash_with` knows; SHA-1 as `sha1`.
fn digest_name(oid: &[u8]) -> Option<&'static str> {
    const SHA2: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
    match oid {
        [0x2B, 0x0E, 0x03, 0x02, 0x1A] => Some("sha1"),
        [head @ .., 1] if head == SHA2 => Some("sha256"),
        [head @ .., 2] if head == SHA2 => Some("sha384"),
        [head @ .., 3] if head == SHA2 => Some("sha512"),
        _ => None,
    }
}

fn digest(alg: &str, parts: &[&[u8]]) -> Option<Vec<u8>> {
    if alg == "sha1" {
        let mut c = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
        for p in parts {
            c.update(p);
        }
        return Some(c.finish().as_ref().to_vec());
    }
    hash_with(alg, parts)
}

/// The OID of an AlgorithmIdentifier.
fn alg_oid<'a>(alg: &Der<'a>) -> Option<&'a [u8]> {
    let (oid, _) = der(alg.body)?;
    (oid.tag == 0x06).then_some(oid.body)
}

/// What the token says, and what was wrong with it.
struct TimeStamp {
    /// TSTInfo's genTime, read whether or not the checks pass.
    time: Option<chrono::DateTime<chrono::Utc>>,
    /// `Ok` when the token is whole and signed, else the C2PA code and why.
    verdict: Result<(), (&'static str, String)>,
}

/// Check a time-stamp token against the bytes C2PA says it stamps: its
/// messageImprint, the TSA's signature over the signed attributes and the
/// messageDigest attribute over TSTInfo, and the TSA certificate's validity
/// at genTime. Trust in the TSA is not checked (offline).
fn check_time_stamp(token: &[u8], stamped: &[u8]) -> TimeStamp {
    let mut ts = TimeStamp {
        time: None,
        verdict: Ok(()),
    };
    let malformed = |why: &str| Err(("timeStamp.malformed", why.to_string()));
    let Some(signed_data) = token_signed_data(token) else {
        ts.verdict = malformed("the time-stamp is not a CMS SignedData token");
        return ts;
    };
    // SignedData: version, digestAlgorithms, encapContentInfo,
    // [0] certificates, [1] crls, signerInfos.
    let Some(items) = der_items(signed_data.body) else {
        ts.verdict = malformed("unreadable SignedData");
        return ts;
    };
    let encap = items.get(2).and_then(|e| der_items(e.body));
    let e_content = encap.as_ref().and_then(|e| match e.as_slice() {
        [t, c] if t.body == OID_TST_INFO && c.tag == 0xA0 => der(c.body)
            .filter(|(o, _)| o.tag == 0x04)
            .map(|(o, _)| o.body),
        _ => None,
    });
    let Some(e_content) = e_content else {
        ts.verdict = malformed("the token holds no TSTInfo");
        return ts;
    };
    // TSTInfo: version, policy, messageImprint, serialNumber, genTime, …
    let tst = der(e_content).and_then(|(t, _)| der_items(t.body));
    let (Some(imprint), Some(gen_time)) = (
        tst.as_ref()
            .and_then(|t| t.get(2))
            .and_then(|i| der_items(i.body)),
        tst.as_ref()
            .and_then(|t| t.get(4))
            .filter(|g| g.tag == 0x18),
    ) else {
        ts.verdict = malformed("unreadable TSTInfo");
        return ts;
    };
    ts.time = generalized_time(gen_time.body);
    let Some(at) = ts.time else {
        ts.verdict = malformed("unreadable genTime");
        return ts;
    };
    let (Some(imprint_alg), Some(hashed)) = (
        imprint.first().and_then(alg_oid),
        imprint.get(1).filter(|h| h.tag == 0x04),
    ) else {
        ts.verdict = malformed("unreadable messageImprint");
        return ts;
    };
    let Some(imprint_alg) = digest_name(imprint_alg) else {
        ts.verdict = Err((
            "algorithm.unsupported",
            "the time-stamp's messageImprint uses an unknown hash".into(),
        ));
        return ts;
    };
    if digest(imprint_alg, &[stamped]).as_deref() != Some(hashed.body) {
        ts.verdict = Err((
            "timeStamp.mismatch",
            "the time-stamp was made for other bytes than this signature".into(),
        ));
        return ts;
    }
    let certs: Vec<_> = items
        .iter()
        .find(|i| i.tag == 0xA0)
        .and_then(|c| der_items(c.body))
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            x509_parser::parse_x509_certificate(c.raw)
                .ok()
                .map(|(_, c)| c)
        })
        .collect();
    let Some(signer) = items
        .last()
        .filter(|s| s.tag == 0x31)
        .and_then(|s| der(s.body))
        .and_then(|(s, _)| der_items(s.body))
    else {
        ts.verdict = malformed("the token has no signer");
        return ts;
    };
    ts.verdict = check_signer_info(&signer, &certs, e_content, at);
    ts
}

/// The SignedData of a token given either as a TimeStampResp (status, then
/// the token) or as the token (a ContentInfo) itself.
fn token_signed_data(b: &[u8]) -> Option<Der<'_>> {
    let (outer, _) = der(b)?;
    let items = der_items(outer.body)?;
    let content_info = match items.first()? {
        // TimeStampResp: PKIStatusInfo { status 0 granted, 1 with mods }.
        d if d.tag == 0x30 => {
            let status = der(d.body)?.0;
            if status.tag != 0x02 || !matches!(status.body, [0] | [1]) {
                return None;
            }
            der_items(items.get(1)?.body)?
        }
        _ => items,
    };
    match content_info.as_slice() {
        [oid, c] if oid.body == OID_SIGNED_DATA && c.tag == 0xA0 => Some(der(c.body)?.0),
        _ => None,
    }
}

/// SignerInfo: version, sid, digestAlgorithm, [0] signedAttrs,
/// signatureAlgorithm, signature.
fn check_signer_info(
    s: &[Der<'_>],
    certs: &[x509_parser::certificate::X509Certificate<'_>],
    e_content: &[u8],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), (&'static str, String)> {
    let malformed = |why: &str| Err(("timeStamp.malformed", why.to_string()));
    let (Some(sid), Some(digest_alg)) = (s.get(1), s.get(2).and_then(alg_oid)) else {
        return malformed("unreadable SignerInfo");
    };
    let attrs = s.get(3).filter(|a| a.tag == 0xA0);
    let rest = &s[if attrs.is_some() { 4 } else { 3 }..];
    let (Some(sig_alg), Some(signature)) = (
        rest.first().and_then(alg_oid),
        rest.get(1).filter(|d| d.tag == 0x04),
    ) else {
        return malformed("unreadable SignerInfo");
    };
    let Some(digest_alg) = digest_name(digest_alg) else {
        return Err((
            "algorithm.unsupported",
            "the time-stamp's signer uses an unknown hash".into(),
        ));
    };
    let cert = certs.iter().find(|c| match sid.tag {
        // IssuerAndSerialNumber
        0x30 => der(sid.body).is_some_and(|(issuer, rest)| {
            issuer.raw == c.issuer().as_raw()
                && der(rest).is_some_and(|(serial, _)| serial.body == c.raw_serial())
        }),
        // [0] SubjectKeyIdentifier
        0x80 => c.extensions().iter().any(|e| {
            matches!(e.parsed_extension(),
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) if k.0 == sid.body)
        }),
        _ => false,
    });
    let Some(cert) = cert else {
        return Err((
            "timeStamp.untrusted",
            "the token does not carry the time-stamp authority's certificate".into(),
        ));
    };
    // With signed attributes the signature covers them (as a SET, RFC 5652
    // §5.4), and their messageDigest covers TSTInfo.
    let mut signed: Vec<u8> = Vec::new();
    let tbs: &[u8] = match attrs {
        Some(a) => {
            let md = der_items(a.body)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|attr| der_items(attr.body))
                .find(|kv| kv.first().is_some_and(|o| o.body == OID_MESSAGE_DIGEST))
                .and_then(|kv| kv.get(1).and_then(|set| der(set.body)).map(|(v, _)| v.body));
            let Some(md) = md else {
                return malformed("the signed attributes have no messageDigest");
            };
            if digest(digest_alg, &[e_content]).as_deref() != Some(md) {
                return Err((
                    "timeStamp.mismatch",
                    "TSTInfo was changed after the time-stamp authority signed it".into(),
                ));
            }
            signed.push(0x31);
            signed.extend_from_slice(&a.raw[1..]);
            &signed
        }
        None => e_content,
    };
    let Some(verifier) = tsa_verifier(cert, digest_alg, sig_alg) else {
        return Err((
            "algorithm.unsupported",
            "the time-stamp authority's signature algorithm cannot be checked by retrace".into(),
        ));
    };
    let key = ring::signature::UnparsedPublicKey::new(
        verifier,
        cert.public_key().subject_public_key.data.as_ref(),
    );
    // c2pa-rs reports a signature that fails as `untrusted`, not `mismatch`.
    if key.verify(tbs, signature.body).is_err() {
        return Err((
            "timeStamp.untrusted",
            "the time-stamp authority's signature does not verify: the token was changed".into(),
        ));
    }
    let t = at.timestamp();
    if t < cert.validity().not_before.timestamp() || t > cert.validity().not_after.timestamp() {
        return Err((
            "timeStamp.outsideValidity",
            "the time-stamp authority's certificate was not valid at the stamped time".into(),
        ));
    }
    Ok(())
}

/// The ring verifier for a TSA key (from its certificate), digest and CMS
/// signature algorithm.
fn tsa_verifier(
    cert: &x509_parser::certificate::X509Certificate<'_>,
    digest: &str,
    sig_alg: &[u8],
) -> Option<&'static dyn ring::signature::VerificationAlgorithm> {
    use ring::signature as s;
    let spki = cert.public_key();
    let key_alg = spki.algorithm.algorithm.to_id_string();
    let pss = sig_alg == OID_RSASSA_PSS;
    Some(match (key_alg.as_str(), digest, pss) {
        ("1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10", "sha256", true) => {
            &s::RSA_PSS_2048_8192_SHA256
        }
        ("1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10", "sha384", true) => {
            &s::RSA_PSS_2048_8192_SHA384
        }
        ("1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10", "sha512", true) => {
            &s::RSA_PSS_2048_8192_SHA512
        }
        ("1.2.840.113549.1.1.1", "sha1", false) => &s::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        ("1.2.840.113549.1.1.1", "sha256", false) => &s::RSA_PKCS1_2048_8192_SHA256,
        ("1.2.840.113549.1.1.1", "sha384", false) => &s::RSA_PKCS1_2048_8192_SHA384,
        ("1.2.840.113549.1.1.1", "sha512", false) => &s::RSA_PKCS1_2048_8192_SHA512,
        ("1.2.840.10045.2.1", _, _) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match (curve.as_deref(), digest) {
                (Some("1.2.840.10045.3.1.7"), "sha256") => &s::ECDSA_P256_SHA256_ASN1,
                (Some("1.2.840.10045.3.1.7"), "sha384") => &s::ECDSA_P256_SHA384_ASN1,
                (Some("1.3.132.0.34"), "sha256") => &s::ECDSA_P384_SHA256_ASN1,
                (Some("1.3.132.0.34"), "sha384") => &s::ECDSA_P384_SHA384_ASN1,
                _ => return None,
            }
        }
        ("1.3.101.112", _, _) => &s::ED25519,
        _ => return None,
    })
}

/// `YYYYMMDDHHMMSS[.fff]Z`, as RFC 5280 and RFC 3161 write GeneralizedTime.
fn generalized_time(b: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = std::str::from_utf8(b).ok()?;
    let core = t.get(..14)?;
    let naive = chrono::NaiveDateTime::parse_from_str(core, "%Y%m%d%H%M%S").ok()?;
    Some(naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jbox(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    fn superbox(label: &str, content: &[Vec<u8>]) -> Vec<u8> {
        let mut d = b"c2pa\0\x11\0\x10\x80\0\0\xaa\0\x38\x9b\x71".to_vec();
        d.push(0x03);
        d.extend_from_slice(label.as_bytes());
        d.push(0);
        let mut p = jbox(b"jumd", &d);
        for c in content {
            p.extend_from_slice(c);
        }
        jbox(b"jumb", &p)
    }

    #[test]
    fn sig_structure_matches_rfc9052_layout() {
        // ["Signature1", h'A10126', h'', h'0102'] encoded by hand from RFC 8949.
        let s = sig_structure(&[0xA1, 0x01, 0x26], &[1, 2]);
        let expect: Vec<u8> = [
            &[0x84, 0x6A][..],
            b"Signature1",
            &[0x43, 0xA1, 0x01, 0x26, 0x40, 0x42, 0x01, 0x02],
        ]
        .concat();
        assert_eq!(s, expect);
    }

    #[test]
    fn a_store_without_manifests_is_invalid_not_a_panic() {
        let store = superbox("c2pa", &[]);
        assert!(is_c2pa_store(&store));
        let cc = read(
            &Store {
                carrier: "test",
                bytes: store.into(),
            },
            b"",
            &Limits::default(),
        );
        assert_eq!(cc.validation_state, "invalid");
        assert!(cc.manifests.is_empty());
    }

    #[test]
    fn a_manifest_without_claim_says_so() {
        let store = superbox("c2pa", &[superbox("urn:uuid:x", &[])]);
        let cc = read(
            &Store {
                carrier: "t",
                bytes: store.into(),
            },
            b"",
            &Limits::default(),
        );
        assert_eq!(cc.manifests.len(), 1);
        assert_eq!(cc.manifests[0].validation[0].code, "claim.missing");
        assert_eq!(cc.validation_state, "invalid");
    }

    #[test]
    fn nesting_and_box_counts_are_capped() {
        let mut s = superbox("leaf", &[]);
        for _ in 0..40 {
            s = superbox("c2pa", &[s]);
        }
        let limits = Limits::default();
        let cc = read(
            &Store {
                carrier: "t",
                bytes: s.clone().into(),
            },
            b"",
            &limits,
        );
        assert!(
            cc.warnings.iter().any(|w| w.contains("nested too deeply")),
            "{:?}",
            cc.warnings
        );
        let few = Limits {
            max_jumbf_boxes: 5,
            ..Limits::default()
        };
        let cc = read(
            &Store {
                carrier: "t",
                bytes: s.into(),
            },
            b"",
            &few,
        );
        assert!(
            cc.warnings.iter().any(|w| w.contains("too many boxes")),
            "{:?}",
            cc.warnings
        );
    }

    #[test]
    fn hostile_cbor_is_an_error_not_an_allocation() {
        let limits = Limits::default();
        // A byte string and an array claiming 2^63 elements in 9 bytes.
        assert!(cbor(
            &[0x5B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            &limits
        )
        .is_err());
        assert!(cbor(
            &[0x9B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            &limits
        )
        .is_err());
        assert!(cbor(
            &[0xBB, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            &limits
        )
        .is_err());
        // 10 000 nested arrays: over the recursion limit, no stack overflow.
        assert!(cbor(&vec![0x81; 10_000], &limits).is_err());
    }

    #[test]
    fn box_headers_that_lie_are_rejected() {
        // Claims 4 GiB; a 64-bit XLBox of 2^63; a size below its own header.
        assert!(header(&[0xFF, 0xFF, 0xFF, 0xFF, b'j', b'u', b'm', b'b'], 0).is_none());
        let mut x = vec![0, 0, 0, 1, b'j', b'u', b'm', b'b'];
        x.extend((1u64 << 63).to_be_bytes());
        assert!(header(&x, 0).is_none());
        assert!(header(&[0, 0, 0, 4, b'j', b'u', b'm', b'b'], 0).is_none());
    }

    /// A top-level C2PA `uuid` box: size, type, extended type, full-box
    /// header, purpose, 64-bit offset, then `payload`.
    fn c2pa_uuid(size: Option<u32>, purpose: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut body = C2PA_UUID.to_vec();
        body.extend_from_slice(&[0, 0, 0, 0]);
        body.extend_from_slice(purpose);
        body.extend_from_slice(&[0; 8]);
        body.extend_from_slice(payload);
        let size = size.unwrap_or(body.len() as u32 + 8);
        [&size.to_be_bytes()[..], b"uuid", &body].concat()
    }

    #[test]
    fn bmff_store_is_found_and_lying_boxes_are_not_followed() {
        let ftyp = b"\0\0\0\x10ftypheic\0\0\0\0".to_vec();
        let store = superbox("c2pa", &[]);
        let mut padded = store.clone();
        padded.extend_from_slice(&[0; 5]);
        let file = [ftyp.clone(), c2pa_uuid(None, b"manifest\0", &padded)].concat();
        let mut w = Vec::new();
        // The padding after the store's superbox is not part of the store.
        assert_eq!(bmff_store(&file, 1 << 20, &mut w), Some(&store[..]));
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            bmff_store(&file, 10, &mut w),
            None,
            "over the metadata limit"
        );
        for bad in [
            c2pa_uuid(Some(u32::MAX), b"manifest\0", &store),
            c2pa_uuid(Some(12), b"manifest\0", &store),
            c2pa_uuid(None, b"manifest", b""),
            c2pa_uuid(None, b"update\0", &store),
        ] {
            let file = [ftyp.clone(), bad].concat();
            assert_eq!(bmff_store(&file, 1 << 20, &mut w), None);
            for cut in 0..file.len() {
                let _ = bmff_store(&file[..cut], 1 << 20, &mut w);
            }
        }
        // largesize 2^63 on the box after the store: the store is still read.
        let mut file = [ftyp, c2pa_uuid(None, b"manifest\0", &store)].concat();
        file.extend_from_slice(&[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        file.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(bmff_store(&file, 1 << 20, &mut w), Some(&store[..]));
        let limits = Limits::default();
        assert!(bmff_tree(&file, &limits).is_ok(), "mdat is cut to the file");
        let n = file.len();
        file[n - 12..n - 8].copy_from_slice(b"moov");
        assert!(matches!(
            bmff_tree(&file, &limits),
            Err(BmffWalkError::Broken(_))
        ));
    }

    #[test]
    fn broken_time_stamp_tokens_are_malformed_not_a_panic() {
        // SEQUENCE { OID signedData, [0] { SEQUENCE { INTEGER 3 } } }: no TSTInfo.
        let mut sd = vec![0x30, 0x03, 0x02, 0x01, 0x03];
        sd = [vec![0xA0, sd.len() as u8], sd].concat();
        let mut ci = vec![0x06, OID_SIGNED_DATA.len() as u8];
        ci.extend_from_slice(OID_SIGNED_DATA);
        ci.extend(sd);
        let token = [vec![0x30, ci.len() as u8], ci].concat();
        for cut in 0..=token.len() {
            let ts = check_time_stamp(&token[..cut], b"x");
            assert_eq!(
                ts.verdict.unwrap_err().0,
                "timeStamp.malformed",
                "prefix {cut}"
            );
        }
        // A length of 2^32 - 1 in a 10-byte input.
        assert!(der(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn generalized_time_with_fraction() {
        let t = generalized_time(b"20250409224613.123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-04-09T22:46:13+00:00");
        assert!(generalized_time(b"2025").is_none());
    }
}
