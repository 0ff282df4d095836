//! COSE_Sign1 and X.509: the claim signature and its certificate chain.

use super::*;

/// COSE algorithm id → (name as c2patool prints it, ring verifier).
pub(super) fn cose_alg(
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
pub(super) fn cbor_head(major: u8, len: usize, out: &mut Vec<u8>) {
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
pub(super) fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    sig_structure_for("Signature1", protected, payload)
}

/// The same structure under another context: C2PA time-stamps the
/// `CounterSignature` form of it (c2pa-rs `cose_countersign_data`).
pub(super) fn sig_structure_for(context: &str, protected: &[u8], payload: &[u8]) -> Vec<u8> {
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

pub(super) fn check_signature(sig: &[u8], claim: &[u8], limits: &Limits, m: &mut Manifest) {
    let url = Some(format!("self#jumbf=/c2pa/{}/c2pa.signature", m.label));
    let bad = |m: &mut Manifest, why: String| {
        status(
            m,
            StatusCode::ClaimSignatureMismatch,
            false,
            url.clone(),
            why,
        );
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
                StatusCode::TimeStampValidated,
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
                status(m, *code, false, url.clone(), format!("{why}{claimed}"));
            }
        }
        if *count > 1 {
            status(
                m,
                StatusCode::TimeStampMalformed,
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
            StatusCode::SigningCredentialInvalid,
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
            StatusCode::AlgorithmUnsupported,
            false,
            url.clone(),
            format!("COSE algorithm {alg_id:?}"),
        ),
        Some((name, None)) => status(
            m,
            StatusCode::AlgorithmUnsupported,
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
                Ok(()) => status(m, StatusCode::ClaimSignatureValidated, true, url.clone(), "the claim signature is valid for the signing certificate".into()),
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
                StatusCode::SigningCredentialInvalid,
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
            StatusCode::ClaimSignatureOutsideValidity,
            false,
            url,
            "the signing certificate was not valid at the signing time".into(),
        );
    } else {
        status(
            m,
            StatusCode::ClaimSignatureInsideValidity,
            true,
            url,
            "the signing certificate was valid at the signing time".into(),
        );
    }
}
