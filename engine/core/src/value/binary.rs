//! Binary values: bytes (a PDF report, an image) carried from one step to the
//! next inside the JSON value model.
//!
//! A binary value is a tagged JSON object:
//!
//! ```json
//! { "$binary": true, "content_type": "application/pdf", "size": 1234,
//!   "sha256": "…64 hex…", "name": "report.pdf", "data": "…base64…" }
//! ```
//!
//! `name` is optional; `data` is the bytes in standard base64, byte-exact.
//! Stores keep the bytes once per hash and write the value without `data`
//! (a *reference*, see [`take_blobs`] and [`fill_blobs`]); run reports show
//! references only ([`redact`]). A binary value put into text by a template
//! is an error, never a garbled string (see `template.rs`).

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The key that marks a binary value.
pub const TAG: &str = "$binary";

/// Why a value is not a usable binary value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BinaryError {
    /// Not a binary object at all.
    #[error("not a binary value (an object with `\"$binary\": true`)")]
    NotBinary,
    /// A reference without its bytes (they were not loaded from the store).
    #[error("the binary value {sha256} has no `data` (its bytes were not loaded)")]
    Missing {
        /// The hash it refers to.
        sha256: String,
    },
    /// `data` is not base64.
    #[error("the binary value's `data` is not base64: {0}")]
    Base64(String),
    /// The bytes do not match `size` or `sha256`.
    #[error("the binary value's bytes do not match its {0}")]
    Mismatch(&'static str),
}

/// Bytes with their content type (and a file name when known).
#[derive(Clone, PartialEq, Eq)]
pub struct Binary {
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// A file name, when the source gave one.
    pub name: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binary")
            .field("content_type", &self.content_type)
            .field("name", &self.name)
            .field("size", &self.bytes.len())
            .finish()
    }
}

impl Binary {
    /// A binary value of these bytes.
    pub fn new(content_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Binary { content_type: content_type.into(), name: None, bytes }
    }

    /// With a file name.
    pub fn named(mut self, name: Option<String>) -> Self {
        self.name = name;
        self
    }

    /// Hex SHA-256 of the bytes.
    pub fn sha256(&self) -> String {
        crate::sha256_hex(&self.bytes)
    }

    /// The bytes in standard base64.
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    /// The tagged JSON object, with `data`.
    pub fn to_value(&self) -> Value {
        let mut v = json!({
            TAG: true,
            "content_type": self.content_type,
            "size": self.bytes.len(),
            "sha256": self.sha256(),
            "data": self.base64(),
        });
        if let (Some(name), Some(obj)) = (&self.name, v.as_object_mut()) {
            obj.insert("name".into(), Value::String(name.clone()));
        }
        v
    }

    /// Reads a tagged object with its `data`, checking size and hash.
    pub fn from_value(v: &Value) -> Result<Binary, BinaryError> {
        let obj = v.as_object().filter(|o| is_tagged(o)).ok_or(BinaryError::NotBinary)?;
        let text = |k: &str| obj.get(k).and_then(Value::as_str);
        let Some(data) = text("data") else {
            return Err(BinaryError::Missing { sha256: text("sha256").unwrap_or("?").to_owned() });
        };
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| BinaryError::Base64(e.to_string()))?;
        if let Some(size) = obj.get("size").and_then(Value::as_u64)
            && size != bytes.len() as u64
        {
            return Err(BinaryError::Mismatch("size"));
        }
        let b = Binary {
            content_type: text("content_type").unwrap_or("application/octet-stream").to_owned(),
            name: text("name").map(str::to_owned),
            bytes,
        };
        if let Some(sha) = text("sha256")
            && !sha.eq_ignore_ascii_case(&b.sha256())
        {
            return Err(BinaryError::Mismatch("sha256"));
        }
        Ok(b)
    }
}

/// A binary value as a step's parameter (`with:`): what actions declare for a
/// field that takes one. Deserializes from the tagged object only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryParam(pub Binary);

impl<'de> Deserialize<'de> for BinaryParam {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Binary::from_value(&v).map(BinaryParam).map_err(serde::de::Error::custom)
    }
}

impl Serialize for BinaryParam {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.to_value().serialize(s)
    }
}

impl JsonSchema for BinaryParam {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Binary".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A binary value: `{\"$binary\": true, content_type, size, sha256, name?, data (base64)}`, e.g. the `body` of an `http.request` that fetched a file.",
            "type": "object",
            "required": ["$binary", "data"],
            "properties": {
                "$binary": { "const": true },
                "content_type": { "type": "string" },
                "size": { "type": "integer", "minimum": 0 },
                "sha256": { "type": "string" },
                "name": { "type": "string" },
                "data": { "type": "string" }
            }
        })
    }
}

fn is_tagged(obj: &Map<String, Value>) -> bool {
    obj.get(TAG) == Some(&Value::Bool(true))
}

/// Whether `v` is a binary value (with or without its `data`).
pub fn is_binary(v: &Value) -> bool {
    v.as_object().is_some_and(is_tagged)
}

/// A short description for messages: `application/pdf, 1234 bytes`.
pub fn describe(v: &Value) -> String {
    let ct = v.get("content_type").and_then(Value::as_str).unwrap_or("application/octet-stream");
    let size = v.get("size").and_then(Value::as_u64).unwrap_or(0);
    format!("{ct}, {size} bytes")
}

/// Every binary value in `v` (depth first), mutably.
fn visit(v: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    match v {
        Value::Object(obj) if is_tagged(obj) => f(obj),
        Value::Object(obj) => obj.values_mut().for_each(|c| visit(c, f)),
        Value::Array(items) => items.iter_mut().for_each(|c| visit(c, f)),
        _ => {}
    }
}

/// Whether `v` holds a binary value anywhere (cheap when it holds none of the tag's text).
pub fn contains_binary(v: &Value) -> bool {
    match v {
        Value::Object(obj) => is_tagged(obj) || obj.values().any(contains_binary),
        Value::Array(items) => items.iter().any(contains_binary),
        _ => false,
    }
}

/// Removes `data` from every binary value in `v`: what reports and the API show.
pub fn redact(v: &mut Value) {
    visit(v, &mut |obj| {
        obj.remove("data");
    });
}

/// A blob to keep once: its hash, content type and bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("sha256", &self.sha256)
            .field("content_type", &self.content_type)
            .field("size", &self.bytes.len())
            .finish()
    }
}

/// Takes the bytes out of every binary value in `v` (leaving references:
/// the value without `data`) and returns them, one per distinct hash, for a
/// store to keep once. A value whose `data` does not decode or match is left
/// as it is (it is stored inline, never lost).
pub fn take_blobs(v: &mut Value) -> Vec<Blob> {
    let mut out: Vec<Blob> = Vec::new();
    if !contains_binary(v) {
        return out;
    }
    visit(v, &mut |obj| {
        let Ok(b) = Binary::from_value(&Value::Object(obj.clone())) else { return };
        let sha = b.sha256();
        obj.remove("data");
        obj.insert("sha256".into(), Value::String(sha.clone()));
        if !out.iter().any(|x| x.sha256 == sha) {
            out.push(Blob { sha256: sha, content_type: b.content_type, bytes: b.bytes });
        }
    });
    out
}

/// Hashes of the references in `v` (binary values without `data`).
pub fn references(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(obj) if is_tagged(obj) => {
                if !obj.contains_key("data")
                    && let Some(sha) = obj.get("sha256").and_then(Value::as_str)
                    && !out.iter().any(|s| s == sha)
                {
                    out.push(sha.to_owned());
                }
            }
            Value::Object(obj) => obj.values().for_each(|c| walk(c, out)),
            Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

/// Puts the bytes back into every reference in `v` that `lookup` knows.
pub fn fill_blobs(v: &mut Value, lookup: &dyn Fn(&str) -> Option<Vec<u8>>) {
    visit(v, &mut |obj| {
        if obj.contains_key("data") {
            return;
        }
        if let Some(bytes) = obj.get("sha256").and_then(Value::as_str).and_then(lookup) {
            obj.insert("data".into(), Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)));
        }
    });
}

/// The first binary value in `v` (itself, or depth first inside it).
pub fn first(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(obj) if is_tagged(obj) => Some(v),
        Value::Object(obj) => obj.values().find_map(first),
        Value::Array(items) => items.iter().find_map(first),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_byte_exact_and_refuses_a_tampered_value() {
        let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, 0x80]).collect();
        let b = Binary::new("application/pdf", bytes.clone()).named(Some("r.pdf".into()));
        let v = b.to_value();
        assert!(is_binary(&v));
        assert_eq!(v["size"], json!(bytes.len()));
        assert_eq!(Binary::from_value(&v).expect("reads back").bytes, bytes);
        let mut bad = v.clone();
        bad["size"] = json!(3);
        assert_eq!(Binary::from_value(&bad), Err(BinaryError::Mismatch("size")));
    }

    #[test]
    fn blobs_are_taken_once_per_hash_and_filled_back() {
        let b = Binary::new("image/png", vec![1, 2, 3, 250]);
        let mut v = json!({ "a": b.to_value(), "list": [b.to_value(), 7], "s": "text" });
        let original = v.clone();
        let blobs = take_blobs(&mut v);
        assert_eq!(blobs.len(), 1, "one blob for two copies");
        assert!(v["a"].get("data").is_none() && v["list"][0].get("data").is_none());
        assert_eq!(references(&v), vec![b.sha256()]);
        let bytes = blobs[0].bytes.clone();
        fill_blobs(&mut v, &|_| Some(bytes.clone()));
        assert_eq!(v, original);
        redact(&mut v);
        assert_eq!(v["a"], json!({ TAG: true, "content_type": "image/png", "size": 4, "sha256": b.sha256() }));
    }
}
