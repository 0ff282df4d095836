//! RFC 3161 time-stamp tokens (CMS SignedData), checked offline.

use super::*;

/// One DER element: its tag, the whole element, and its content.
#[derive(Clone, Copy)]
pub(super) struct Der<'a> {
    pub(super) tag: u8,
    pub(super) raw: &'a [u8],
    pub(super) body: &'a [u8],
}

/// The DER element at the start of `b`, and what follows it. Definite
/// lengths only (DER); a length past the input is `None`.
pub(super) fn der(b: &[u8]) -> Option<(Der<'_>, &[u8])> {
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
pub(super) fn der_items(body: &[u8]) -> Option<Vec<Der<'_>>> {
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
pub(super) const OID_SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
pub(super) const OID_TST_INFO: &[u8] = &[
    0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x01, 0x04,
];
pub(super) const OID_MESSAGE_DIGEST: &[u8] =
    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x04];
pub(super) const OID_RSASSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A];

/// A digest algorithm OID → the name `hash_with` knows; SHA-1 as `sha1`.
pub(super) fn digest_name(oid: &[u8]) -> Option<&'static str> {
    const SHA2: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
    match oid {
        [0x2B, 0x0E, 0x03, 0x02, 0x1A] => Some("sha1"),
        [head @ .., 1] if head == SHA2 => Some("sha256"),
        [head @ .., 2] if head == SHA2 => Some("sha384"),
        [head @ .., 3] if head == SHA2 => Some("sha512"),
        _ => None,
    }
}

pub(super) fn digest(alg: &str, parts: &[&[u8]]) -> Option<Vec<u8>> {
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
pub(super) fn alg_oid<'a>(alg: &Der<'a>) -> Option<&'a [u8]> {
    let (oid, _) = der(alg.body)?;
    (oid.tag == 0x06).then_some(oid.body)
}

/// What the token says, and what was wrong with it.
pub(super) struct TimeStamp {
    /// TSTInfo's genTime, read whether or not the checks pass.
    pub(super) time: Option<chrono::DateTime<chrono::Utc>>,
    /// `Ok` when the token is whole and signed, else the C2PA code and why.
    pub(super) verdict: Result<(), (StatusCode, String)>,
}

/// Check a time-stamp token against the bytes C2PA says it stamps: its
/// messageImprint, the TSA's signature over the signed attributes and the
/// messageDigest attribute over TSTInfo, and the TSA certificate's validity
/// at genTime. Trust in the TSA is not checked (offline).
pub(super) fn check_time_stamp(token: &[u8], stamped: &[u8]) -> TimeStamp {
    let mut ts = TimeStamp {
        time: None,
        verdict: Ok(()),
    };
    let malformed = |why: &str| Err((StatusCode::TimeStampMalformed, why.to_string()));
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
            StatusCode::AlgorithmUnsupported,
            "the time-stamp's messageImprint uses an unknown hash".into(),
        ));
        return ts;
    };
    if digest(imprint_alg, &[stamped]).as_deref() != Some(hashed.body) {
        ts.verdict = Err((
            StatusCode::TimeStampMismatch,
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
pub(super) fn token_signed_data(b: &[u8]) -> Option<Der<'_>> {
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
pub(super) fn check_signer_info(
    s: &[Der<'_>],
    certs: &[x509_parser::certificate::X509Certificate<'_>],
    e_content: &[u8],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), (StatusCode, String)> {
    let malformed = |why: &str| Err((StatusCode::TimeStampMalformed, why.to_string()));
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
            StatusCode::AlgorithmUnsupported,
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
            StatusCode::TimeStampUntrusted,
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
                    StatusCode::TimeStampMismatch,
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
            StatusCode::AlgorithmUnsupported,
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
            StatusCode::TimeStampUntrusted,
            "the time-stamp authority's signature does not verify: the token was changed".into(),
        ));
    }
    let t = at.timestamp();
    if t < cert.validity().not_before.timestamp() || t > cert.validity().not_after.timestamp() {
        return Err((
            StatusCode::TimeStampOutsideValidity,
            "the time-stamp authority's certificate was not valid at the stamped time".into(),
        ));
    }
    Ok(())
}

/// The ring verifier for a TSA key (from its certificate), digest and CMS
/// signature algorithm.
pub(super) fn tsa_verifier(
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
pub(super) fn generalized_time(b: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = std::str::from_utf8(b).ok()?;
    let core = t.get(..14)?;
    let naive = chrono::NaiveDateTime::parse_from_str(core, "%Y%m%d%H%M%S").ok()?;
    Some(naive.and_utc())
}
