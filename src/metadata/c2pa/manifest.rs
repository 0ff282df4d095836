//! Reading and verifying a manifest store: the active manifest, its claim,
//! assertions and their hashes, and the `c2pa.hash.data` binding.

use super::*;

/// Read and verify a manifest store. `asset` is the whole file, for the
/// data-hash binding.
pub fn read(store: &Store<'_>, asset: &[u8], limits: &Limits) -> ContentCredentials {
    read_with(store, asset, None, limits)
}

/// [`read`] with the asset's top-level boxes already walked
/// ([`crate::input::layout::BmffLayout`]), which the BMFF hash check then
/// takes instead of walking the top level again.
pub fn read_with(
    store: &Store<'_>,
    asset: &[u8],
    boxes: Option<&crate::input::layout::BmffLayout>,
    limits: &Limits,
) -> ContentCredentials {
    let mut cc = ContentCredentials {
        carrier: store.carrier,
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
        cc.validation_state = ValidationState::Invalid;
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
        let man = read_manifest(m, active, asset, boxes, limits, &mut cc);
        cc.manifests.push(man);
    }
    cc.active_manifest = cc.manifests.last().map(|m| m.label.clone());
    let Some(active) = cc.manifests.last() else {
        cc.warnings.push("the store holds no manifest".into());
        cc.validation_state = ValidationState::Invalid;
        return cc;
    };
    let failed = active.validation.iter().any(|s| !s.success);
    let has = |code: StatusCode| active.validation.iter().any(|s| s.code == code);
    cc.validation_state = if failed {
        ValidationState::Invalid
    } else if has(StatusCode::ClaimSignatureValidated)
        && (has(StatusCode::AssertionDataHashMatch) || has(StatusCode::AssertionBmffHashMatch))
    {
        ValidationState::Valid
    } else {
        ValidationState::Incomplete
    };
    cc
}

/// The status of a hard binding once its hashed parts are gathered: `codes`
/// are the assertion's match and mismatch codes, `noun` what was hashed, in
/// words.
pub(super) fn hash_verdict(
    m: &mut Manifest,
    alg: &str,
    parts: &[&[u8]],
    expected: &[u8],
    url: Option<String>,
    codes: (StatusCode, StatusCode),
    noun: &str,
) {
    match hash_with(alg, parts) {
        None => status(
            m,
            StatusCode::AlgorithmUnsupported,
            false,
            url,
            format!("hash algorithm {alg:?}"),
        ),
        Some(h) if h == expected => status(
            m,
            codes.0,
            true,
            url,
            format!("the file's {noun} are those that were signed"),
        ),
        Some(_) => status(
            m,
            codes.1,
            false,
            url,
            format!("the file's {noun} differ from those that were signed: it was changed after signing"),
        ),
    }
}

pub(super) fn status(
    m: &mut Manifest,
    code: StatusCode,
    success: bool,
    url: Option<String>,
    why: String,
) {
    if m.validation.len() < MAX_LIST {
        m.validation.push(Status {
            code,
            success,
            url,
            explanation: why,
        });
    }
}

pub(super) fn read_manifest(
    jb: &JBox<'_>,
    active: bool,
    asset: &[u8],
    top: Option<&crate::input::layout::BmffLayout>,
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
                StatusCode::ClaimMissing,
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
            StatusCode::ClaimMalformed,
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
                StatusCode::ClaimMalformed,
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
                    check_bmff_hash(a, asset, top, version, &default_alg, limits, &mut m, cc)
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
            StatusCode::ClaimSignatureMissing,
            false,
            None,
            "the manifest has no signature".into(),
        ),
    }
    m
}

pub(super) fn hash_with(alg: &str, parts: &[&[u8]]) -> Option<Vec<u8>> {
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
pub(super) fn check_assertion(
    r: &Value,
    store: Option<&JBox<'_>>,
    manifest: &str,
    alg: &str,
    m: &mut Manifest,
) {
    let Some(url) = text(get(r, "url")) else {
        status(
            m,
            StatusCode::AssertionHashedUriMismatch,
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
            StatusCode::AssertionHashedUriMismatch,
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
                StatusCode::AssertionOutsideManifest,
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
            StatusCode::AssertionMissing,
            false,
            Some(url),
            "the claim names an assertion the store does not hold".into(),
        );
        return;
    };
    match hash_with(&alg, &[found.payload]) {
        None => status(
            m,
            StatusCode::AlgorithmUnsupported,
            false,
            Some(url),
            format!("hash algorithm {alg:?}"),
        ),
        Some(h) if h == *expected => status(
            m,
            StatusCode::AssertionHashedUriMatch,
            true,
            Some(url),
            "assertion hash matches".into(),
        ),
        Some(_) => status(
            m,
            StatusCode::AssertionHashedUriMismatch,
            false,
            Some(url),
            "the assertion was changed after signing".into(),
        ),
    }
}

pub(super) fn assertion_value(
    a: &JBox<'_>,
    limits: &Limits,
    cc: &mut ContentCredentials,
) -> Option<Value> {
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

pub(super) fn read_actions(
    a: &JBox<'_>,
    limits: &Limits,
    m: &mut Manifest,
    cc: &mut ContentCredentials,
) {
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

pub(super) fn read_ingredient(
    a: &JBox<'_>,
    limits: &Limits,
    m: &mut Manifest,
    cc: &mut ContentCredentials,
) {
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
pub(super) fn check_data_hash(
    a: &JBox<'_>,
    asset: &[u8],
    alg: &str,
    limits: &Limits,
    m: &mut Manifest,
) {
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
                StatusCode::AssertionDataHashMalformed,
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
            StatusCode::AssertionDataHashMalformed,
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
                StatusCode::AssertionDataHashMalformed,
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
                StatusCode::AssertionDataHashMismatch,
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
    let codes = (
        StatusCode::AssertionDataHashMatch,
        StatusCode::AssertionDataHashMismatch,
    );
    hash_verdict(m, &alg, &parts, expected, url, codes, "bytes");
}
