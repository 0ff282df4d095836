use super::*;
use crate::input::layout::{BmffEnd, BmffLayout};

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
            carrier: Carrier::JpegApp11,
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
            carrier: Carrier::JpegApp11,
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
            carrier: Carrier::JpegApp11,
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
            carrier: Carrier::JpegApp11,
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

/// The box tree the BMFF hash check walks, from the top-level boxes walked
/// once, is the tree it found walking the file itself (an empty list that
/// says it was capped makes it walk), with the same error, under every box
/// budget, on the signed HEIF and AVIF fixtures, their prefixes, overwritten
/// bytes and a box that lies about its size.
#[test]
fn bmff_tree_from_the_top_level_walk_is_the_tree_walked_alone() {
    let own_walk = BmffLayout {
        boxes: Vec::new(),
        end: BmffEnd::Capped,
    };
    let show = |t: Result<Vec<BmffBox>, BmffWalkError>| match t {
        Ok(v) => Ok(v
            .into_iter()
            .map(|x| (x.path, x.start, x.size, x.version, x.flags))
            .collect::<Vec<_>>()),
        Err(BmffWalkError::Broken(e)) => Err(format!("broken: {e}")),
        Err(BmffWalkError::Limit(e)) => Err(format!("limit: {e}")),
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let (mut trees, mut errors) = (0, 0);
    for f in ["c2pa/signed.heic", "c2pa/signed.avif", "heif/rocket.heic"] {
        let b = std::fs::read(root.join(f)).unwrap();
        let mut inputs: Vec<Vec<u8>> = (0..b.len())
            .step_by(b.len() / 97 + 1)
            .map(|cut| b[..cut].to_vec())
            .collect();
        for i in (0..b.len().min(1200)).step_by(5) {
            for v in [0x00, 0x01, 0xFF] {
                let mut m = b.clone();
                m[i] = v;
                inputs.push(m);
            }
        }
        let mut t = b.clone();
        t.extend_from_slice(b"\0\0\0\x40moov");
        inputs.push(t);
        inputs.push(b);
        for input in &inputs {
            let once = BmffLayout::read(input);
            for max in [0, 1, 2, 5, 30, 100_000] {
                let limits = Limits {
                    max_bmff_boxes: max,
                    ..Limits::default()
                };
                let a = show(bmff_tree_with(input, &once, &limits));
                let alone = show(bmff_tree_with(input, &own_walk, &limits));
                assert_eq!(a, alone, "{f}, budget {max}");
                if a.is_ok() {
                    trees += 1;
                } else {
                    errors += 1;
                }
            }
        }
    }
    assert!(
        trees > 500 && errors > 500,
        "{trees} trees, {errors} errors"
    );
}
