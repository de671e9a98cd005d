//! A file's bytes as a step's parameter: base64 text, or a binary value
//! (see the workflow format, "Binary values"), so a report fetched by one
//! step can be attached by the next (Workday attachments, Workable comments).

use reqflow_engine::value::binary::{Binary, BinaryParam, is_binary};
use schemars::JsonSchema;
use serde::Deserialize;

/// A file's bytes: base64 text, or a binary value (e.g. the `body` of an
/// `http.request` that fetched the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileContent {
    /// Base64 text.
    Base64(String),
    /// A binary value (see the workflow format, "Binary values").
    Binary(Binary),
}

impl<'de> Deserialize<'de> for FileContent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(FileContent::Base64(s)),
            v if is_binary(&v) => Binary::from_value(&v).map(FileContent::Binary).map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom("expected base64 text or a binary value")),
        }
    }
}

impl JsonSchema for FileContent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FileContent".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let binary = generator.subschema_for::<BinaryParam>();
        schemars::json_schema!({
            "description": "The file's bytes: base64 text, or a binary value.",
            "anyOf": [ { "type": "string" }, binary ]
        })
    }
}
