//! Content Credentials read by retrace against an outside reader: the JSON that
//! c2pa-python 0.38.1 (c2pa-rs 0.91.3, the reference implementation behind
//! c2patool) wrote for each fixture (`tests/fixtures/c2pa/*.c2pa-python.json`,
//! see the README there). Then the same files altered after signing, which must
//! fail the checks a real edit fails, and hostile stores, which must not panic.

use std::path::Path;

use retrace::internals::input::read::Format;
use retrace::internals::metadata::c2pa::{self, ContentCredentials, Store};
use retrace::internals::metadata::read_metadata;
use retrace::Limits;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/c2pa")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn credentials(bytes: &[u8], format: Format) -> ContentCredentials {
    let meta = read_metadata(bytes, format, &Limits::default());
    meta.container
        .and_then(|c| c.c2pa)
        .expect("the fixture carries Content Credentials")
}

/// `name version` the way retrace writes generator info and v2 agents.
fn agent(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => {
            let name = o.get("name")?.as_str()?;
            Some(match o.get("version").and_then(Value::as_str) {
                Some(ver) => format!("{name} {ver}"),
                None => name.to_string(),
            })
        }
        _ => None,
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// action, software agent, when, digital source type.
type ActionRow = (String, Option<String>, Option<String>, Option<String>);

/// Checks c2pa-rs performs and retrace does not (listed in `not_checked`):
/// trust in the time-stamp authority needs a trust list.
const NOT_PERFORMED: &[&str] = &["timeStamp.trusted"];

/// Everything c2pa-python reports that retrace also reports, field by field.
fn compare_with_reference(file: &str, format: Format) -> ContentCredentials {
    let cc = credentials(&fixture(file), format);
    let reference: Value =
        serde_json::from_slice(&fixture(&format!("{file}.c2pa-python.json"))).unwrap();
    assert_eq!(
        cc.active_manifest.as_deref(),
        reference["active_manifest"].as_str(),
        "{file}: active manifest"
    );
    let refs = reference["manifests"].as_object().unwrap();
    assert_eq!(cc.manifests.len(), refs.len(), "{file}: manifest count");
    for m in &cc.manifests {
        let r = &refs[&m.label];
        assert_eq!(m.title, s(r, "title"), "{file} {}: title", m.label);
        assert_eq!(m.instance_id, s(r, "instance_id"), "{file}: instance id");
        assert_eq!(
            m.claim_generator,
            s(r, "claim_generator"),
            "{file}: generator"
        );
        assert_eq!(
            u64::from(m.claim_version.unwrap()),
            r["claim_version"].as_u64().unwrap(),
            "{file}: claim version"
        );
        // c2pa-rs adds its own version to the first generator entry on output
        // only; the names are what the signer wrote.
        let names: Vec<String> = r["claim_generator_info"]
            .as_array()
            .map(|a| a.iter().filter_map(|g| s(g, "name")).collect())
            .unwrap_or_default();
        for n in &names {
            assert!(
                m.claim_generator_info
                    .iter()
                    .any(|g| g.starts_with(n.as_str())),
                "{file}: generator {n} missing from {:?}",
                m.claim_generator_info
            );
        }
        let want_actions: Vec<ActionRow> = r["assertions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["label"].as_str().unwrap().starts_with("c2pa.actions"))
            .flat_map(|a| a["data"]["actions"].as_array().unwrap().clone())
            .map(|a| {
                (
                    s(&a, "action").unwrap(),
                    a.get("softwareAgent").and_then(agent),
                    s(&a, "when"),
                    s(&a, "digitalSourceType"),
                )
            })
            .collect();
        let got: Vec<_> = m
            .actions
            .iter()
            .map(|a| {
                (
                    a.action.clone(),
                    a.software_agent.clone(),
                    a.when.clone(),
                    a.digital_source_type.clone(),
                )
            })
            .collect();
        assert_eq!(got, want_actions, "{file} {}: actions", m.label);
        let want_ingredients: Vec<(Option<String>, Option<String>, Option<String>)> = r
            .get("ingredients")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|i| (s(i, "title"), s(i, "relationship"), s(i, "active_manifest")))
                    .collect()
            })
            .unwrap_or_default();
        let got: Vec<_> = m
            .ingredients
            .iter()
            .map(|i| (i.title.clone(), i.relationship.clone(), i.manifest.clone()))
            .collect();
        assert_eq!(got, want_ingredients, "{file} {}: ingredients", m.label);
        let sig = m.signature.as_ref().expect("signature info");
        let rs = &r["signature_info"];
        assert_eq!(sig.alg, s(rs, "alg"), "{file}: alg");
        assert_eq!(sig.issuer, s(rs, "issuer"), "{file}: issuer");
        assert_eq!(sig.common_name, s(rs, "common_name"), "{file}: common name");
        assert_eq!(
            sig.cert_serial_number,
            s(rs, "cert_serial_number"),
            "{file}: serial"
        );
        assert_eq!(sig.time, s(rs, "time"), "{file}: signing time");
    }
    // Every success c2pa-rs reports for the active manifest, retrace reports too
    // (as many times), and retrace reports no failure at all: the reference's
    // only failures are trust (not checked offline) and CAWG (not read).
    let active = &reference["validation_results"]["activeManifest"];
    let mine = &cc.manifests.last().unwrap().validation;
    for code in active["success"].as_array().unwrap() {
        let code = code["code"].as_str().unwrap();
        if NOT_PERFORMED.contains(&code) {
            continue;
        }
        let theirs = active["success"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["code"] == code)
            .count();
        let ours = mine.iter().filter(|v| v.success && v.code == code).count();
        assert_eq!(ours, theirs, "{file}: count of {code}");
    }
    for f in active["failure"].as_array().unwrap() {
        let code = f["code"].as_str().unwrap();
        assert!(
            code == "signingCredential.untrusted" || code.starts_with("cawg."),
            "{file}: the reference failed {code}; retrace cannot compare that"
        );
    }
    assert!(mine.iter().all(|v| v.success), "{file}: {mine:?}");
    assert_eq!(cc.validation_state, "valid", "{file}");
    cc
}

#[test]
fn signed_jpeg_agrees_with_c2pa_rs() {
    let cc = compare_with_reference("signed.jpg", Format::Jpeg);
    assert_eq!(cc.carrier, "JPEG APP11");
    // The generative-AI source type survives the reading.
    assert!(cc.manifests[0].actions[1]
        .digital_source_type
        .as_deref()
        .unwrap()
        .ends_with("compositeWithTrainedAlgorithmicMedia"));
    assert!(cc.not_checked.iter().any(|n| n.contains("trust")));
}

#[test]
fn signed_png_agrees_with_c2pa_rs() {
    let cc = compare_with_reference("signed.png", Format::Png);
    assert_eq!(cc.carrier, "PNG caBX");
}

#[test]
fn adobe_signed_jpeg_with_an_ingredient_agrees_with_c2pa_rs() {
    let cc = compare_with_reference("ims_multiple_manifests.jpg", Format::Jpeg);
    assert_eq!(cc.manifests.len(), 2);
    let active = cc.manifests.last().unwrap();
    assert_eq!(active.ingredients.len(), 1);
    assert_eq!(
        active.signature.as_ref().unwrap().time.as_deref(),
        Some("2025-04-09T22:46:13+00:00")
    );
    // The ingredient's own manifest is time-stamped too; c2pa-python reports
    // `timeStamp.validated` for it under `ingredientDeltas`.
    assert!(cc.manifests[0]
        .validation
        .iter()
        .any(|v| v.success && v.code == "timeStamp.validated"));
}

/// The active manifest's time-stamp token in `ims_multiple_manifests.jpg`:
/// the last CBOR `val` byte string of the store (the active manifest is last).
fn last_token(b: &[u8]) -> std::ops::Range<usize> {
    let at = b
        .windows(4)
        .rposition(|w| w == b"\x63val")
        .expect("a tstTokens val");
    // A byte string with a two-byte length (0x59).
    assert_eq!(b[at + 4], 0x59);
    let len = u16::from_be_bytes([b[at + 5], b[at + 6]]) as usize;
    at + 7..at + 7 + len
}

fn time_stamp_failure(b: &[u8]) -> (Vec<String>, String, Option<String>) {
    let cc = credentials(b, Format::Jpeg);
    let active = cc.manifests.last().unwrap();
    let why = active
        .validation
        .iter()
        .find(|v| v.code.as_str().starts_with("timeStamp."))
        .map(|v| v.explanation.clone())
        .unwrap_or_default();
    let time = active.signature.as_ref().unwrap().time.clone();
    (codes(&cc), why, time)
}

/// The verdicts are c2pa-python 0.38.1's on the same altered files (README):
/// `timeStamp.mismatch` for TSTInfo and the imprint, `timeStamp.untrusted`
/// for the TSA's signature, no signing time, and then the signer's
/// certificate judged at the present, when it has expired
/// (`signingCredential.expired` there, `claimSignature.outsideValidity` here).
#[test]
fn altered_time_stamps_are_flagged_and_their_time_not_used() {
    let b = fixture("ims_multiple_manifests.jpg");
    let token = last_token(&b);
    // genTime inside TSTInfo: the TSA's signed messageDigest no longer fits.
    let gen = token.start
        + b[token.clone()]
            .windows(15)
            .position(|w| w == b"20250409224613Z")
            .expect("genTime");
    let mut x = b.clone();
    x[gen + 3] = b'6';
    let (codes_, why, time) = time_stamp_failure(&x);
    assert_eq!(
        codes_,
        ["timeStamp.mismatch", "claimSignature.outsideValidity"]
    );
    assert!(why.contains("TSTInfo was changed"), "{why}");
    assert_eq!(time, None);
    // The messageImprint (SHA-256 OID, then a 32-byte OCTET STRING): the
    // stamp no longer belongs to this signature.
    let sha256 = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    let t = &b[token.clone()];
    let imprint = (0..t.len() - 13)
        .find(|&i| {
            t[i..].starts_with(&sha256)
                && (t[i + 11..].starts_with(&[0x04, 0x20])
                    || t[i + 11..].starts_with(&[0x05, 0x00, 0x04, 0x20]))
        })
        .expect("messageImprint");
    let hashed = token.start + imprint + if t[imprint + 11] == 0x05 { 15 } else { 13 };
    let mut x = b.clone();
    x[hashed] ^= 0x01;
    let (codes_, why, _) = time_stamp_failure(&x);
    assert_eq!(
        codes_,
        ["timeStamp.mismatch", "claimSignature.outsideValidity"]
    );
    assert!(why.contains("other bytes"), "{why}");
    // The last bytes of the token are the TSA's signature value.
    let mut x = b.clone();
    x[token.end - 3] ^= 0x01;
    let (codes_, why, _) = time_stamp_failure(&x);
    assert_eq!(
        codes_,
        ["timeStamp.untrusted", "claimSignature.outsideValidity"]
    );
    assert!(why.contains("signature does not verify"), "{why}");
}

fn codes(cc: &ContentCredentials) -> Vec<String> {
    cc.manifests
        .last()
        .unwrap()
        .validation
        .iter()
        .filter(|v| !v.success)
        .map(|v| v.code.to_string())
        .collect()
}

#[test]
fn changed_pixels_break_the_data_hash() {
    let mut b = fixture("signed.jpg");
    // A byte in the entropy-coded data, just before EOI: pixels, not metadata.
    let at = b.len() - 10;
    b[at] ^= 0x01;
    let cc = credentials(&b, Format::Jpeg);
    assert_eq!(codes(&cc), ["assertion.dataHash.mismatch"]);
    assert_eq!(cc.validation_state, "invalid");
}

#[test]
fn a_changed_claim_breaks_the_signature() {
    let mut b = fixture("signed.jpg");
    // The claim's dc:title, a 10-character CBOR text string.
    let at = b
        .windows(11)
        .position(|w| w == b"\x6Asigned.jpg")
        .expect("title in the claim");
    b[at + 10] = b'X';
    let cc = credentials(&b, Format::Jpeg);
    assert_eq!(codes(&cc), ["claimSignature.mismatch"]);
    assert_eq!(cc.manifests[0].title.as_deref(), Some("signed.jpX"));
}

#[test]
fn a_changed_assertion_breaks_its_hashed_uri() {
    let mut b = fixture("signed.png");
    let at = b
        .windows(19)
        .position(|w| w == b"ImageMagick convert")
        .expect("agent in the actions assertion");
    b[at] = b'J';
    let cc = credentials(&b, Format::Png);
    assert_eq!(codes(&cc), ["assertion.hashedURI.mismatch"]);
}

/// The store's bytes, as the container walker hands them over.
fn png_store(b: &[u8]) -> Vec<u8> {
    let at = b.windows(4).position(|w| w == b"caBX").unwrap();
    let len = u32::from_be_bytes(b[at - 4..at].try_into().unwrap()) as usize;
    b[at + 4..at + 4 + len].to_vec()
}

#[test]
fn truncated_and_corrupted_stores_never_panic() {
    let asset = fixture("signed.png");
    let store = png_store(&asset);
    let limits = Limits::default();
    let read = |bytes: Vec<u8>| {
        c2pa::read(
            &Store {
                carrier: c2pa::Carrier::PngCabx,
                bytes: bytes.into(),
            },
            &asset,
            &limits,
        )
    };
    assert_eq!(read(store.clone()).validation_state, "valid");
    let step = |n: usize| if n < 600 { 1 } else { 97 };
    let mut n = 0;
    while n < store.len() {
        let cc = read(store[..n].to_vec());
        assert_ne!(cc.validation_state, "valid", "prefix {n}");
        n += step(n);
    }
    // Seeded byte flips anywhere in the store.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut s = store.clone();
        let at = (x as usize) % s.len();
        s[at] ^= (x >> 32) as u8 | 1;
        let _ = read(s);
    }
}

// ISO BMFF (HEIF, AVIF): the store sits in a top-level C2PA `uuid` box and the
// hard binding is `c2pa.hash.bmff.v3`, which c2pa-rs checks with the offsets of
// the top-level boxes hashed in.

#[test]
fn signed_heic_agrees_with_c2pa_rs() {
    let cc = compare_with_reference("signed.heic", Format::Heif);
    assert_eq!(cc.carrier, "BMFF uuid");
    let codes: Vec<&str> = cc.manifests[0]
        .validation
        .iter()
        .map(|v| v.code.as_str())
        .collect();
    assert!(codes.contains(&"assertion.bmffHash.match"), "{codes:?}");
}

#[test]
fn signed_avif_agrees_with_c2pa_rs() {
    let cc = compare_with_reference("signed.avif", Format::Heif);
    assert_eq!(cc.carrier, "BMFF uuid");
}

/// Offset and size of the first top-level box of a kind.
fn top_box(b: &[u8], kind: &[u8; 4]) -> (usize, usize) {
    let mut at = 0;
    while at + 8 <= b.len() {
        let size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        if &b[at + 4..at + 8] == kind {
            return (at, size);
        }
        at += size;
    }
    panic!("no {} box", String::from_utf8_lossy(kind));
}

/// Each case flips one byte of `signed.heic`; the verdicts are c2pa-python
/// 0.38.1's on the same altered files (README): the coded picture (`mdat`)
/// and the item table (`meta`) are bound, the excluded `ftyp` is not.
#[test]
fn changed_heic_boxes_break_the_bmff_hash_and_excluded_ones_do_not() {
    let b = fixture("signed.heic");
    let (mdat, mdat_len) = top_box(&b, b"mdat");
    let (meta, _) = top_box(&b, b"meta");
    for (what, at, want) in [
        (
            "last mdat byte",
            mdat + mdat_len - 1,
            &["assertion.bmffHash.mismatch"][..],
        ),
        (
            "a meta byte",
            meta + 20,
            &["assertion.bmffHash.mismatch"][..],
        ),
        ("ftyp minor version", 12, &[][..]),
        ("an ftyp compatible brand", 20, &[][..]),
    ] {
        let mut x = b.clone();
        x[at] ^= 0x01;
        let cc = credentials(&x, Format::Heif);
        assert_eq!(codes(&cc), want, "{what}");
        let state = if want.is_empty() { "valid" } else { "invalid" };
        assert_eq!(cc.validation_state, state, "{what}");
    }
}

#[test]
fn moved_heic_boxes_break_the_bmff_hash() {
    // Eight bytes of `free` (an excluded box) before `meta` change no hashed
    // byte, only the offsets of `meta` and `mdat`, which v2 and v3 hash in.
    // c2pa-python 0.38.1 says `assertion.bmffHash.mismatch` too (README).
    let b = fixture("signed.heic");
    let (meta, _) = top_box(&b, b"meta");
    let mut x = b[..meta].to_vec();
    x.extend_from_slice(b"\0\0\0\x08free");
    x.extend_from_slice(&b[meta..]);
    let cc = credentials(&x, Format::Heif);
    assert_eq!(codes(&cc), ["assertion.bmffHash.mismatch"]);
}

#[test]
fn a_bmff_walk_over_its_limit_is_not_checked_rather_than_passed() {
    let b = fixture("signed.heic");
    let few = Limits {
        max_bmff_boxes: 3,
        ..Limits::default()
    };
    let cc = read_metadata(&b, Format::Heif, &few)
        .container
        .and_then(|c| c.c2pa)
        .unwrap();
    assert_eq!(cc.validation_state, "incomplete");
    assert!(
        cc.not_checked
            .iter()
            .any(|n| n.contains("more than 3 boxes")),
        "{:?}",
        cc.not_checked
    );
}

#[test]
fn hostile_bmff_files_never_panic() {
    let b = fixture("signed.heic");
    let limits = Limits::default();
    let read = |x: &[u8]| read_metadata(x, Format::Heif, &limits);
    let (uuid, _) = top_box(&b, b"uuid");
    let (meta, _) = top_box(&b, b"meta");
    let (mdat, _) = top_box(&b, b"mdat");
    // Sizes that lie: 4 GiB, largesize 2^63 and u64::MAX, 0 (to the end),
    // below the header, on the store's box and on the nested boxes.
    for at in [uuid, meta, mdat, meta + 12, uuid + 8 + 16 + 4 + 9 + 8] {
        for size in [
            &[0xFF, 0xFF, 0xFF, 0xFF][..],
            &[0, 0, 0, 0],
            &[0, 0, 0, 1],
            &[0, 0, 0, 3],
        ] {
            let mut x = b.clone();
            x[at..at + 4].copy_from_slice(size);
            let _ = read(&x);
            for large in [1u64 << 63, u64::MAX, 0, 7] {
                let mut y = x.clone();
                y[at + 8..at + 16].copy_from_slice(&large.to_be_bytes());
                let _ = read(&y);
            }
        }
    }
    // Boxes nested past any real file: a `meta` of 40 000 `moov`s.
    let mut deep = b[..meta].to_vec();
    let n = 40_000usize;
    for i in 0..n {
        let size = ((n - i) * 8) as u32;
        deep.extend_from_slice(&size.to_be_bytes());
        deep.extend_from_slice(b"moov");
    }
    let cc = read(&deep).container.unwrap().c2pa.unwrap();
    assert_ne!(cc.validation_state, "valid");
    // Every prefix near the store's header and the box boundaries, then a
    // stride through the rest: cut files are never valid.
    let mut cuts: Vec<usize> = (0..b.len()).step_by(61).collect();
    for edge in [uuid, meta, mdat] {
        cuts.extend(edge.saturating_sub(40)..(edge + 60).min(b.len()));
    }
    for cut in cuts {
        let m = read(&b[..cut]);
        if let Some(cc) = m.container.and_then(|c| c.c2pa) {
            assert_ne!(cc.validation_state, "valid", "prefix {cut}");
        }
    }
}
