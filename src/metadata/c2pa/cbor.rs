//! CBOR helpers: bounded decoding of claims and assertions, and reading
//! values out of them.

use super::*;

pub(super) fn cbor(bytes: &[u8], limits: &Limits) -> Result<Value, String> {
    // Clamped: the recursion is on the stack, whatever a caller's Limits say.
    let depth = limits.max_cbor_depth.min(crate::limits::MAX_NESTING);
    ciborium::de::from_reader_with_recursion_limit(bytes, depth).map_err(|e| cap(&e.to_string()))
}

pub(super) fn get<'v>(map: &'v Value, key: &str) -> Option<&'v Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

pub(super) fn get_int(map: &Value, key: i64) -> Option<&Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key))
        .map(|(_, v)| v)
}

/// A text value, also when tagged (claim v2 writes `when` as tag 0, an RFC 3339 date-time).
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Tag(_, inner) => inner.as_text().map(cap),
        t => t.as_text().map(cap),
    }
}

pub(super) fn list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// `name version` from a claim generator info map (or a plain string).
pub(super) fn generator_info(v: &Value) -> Option<String> {
    if let Some(t) = v.as_text() {
        return Some(cap(t));
    }
    let name = text(get(v, "name"))?;
    Some(match text(get(v, "version")) {
        Some(ver) => format!("{name} {ver}"),
        None => name,
    })
}
