//! Durations as workflow authors write them: `30s`, `5m`, `1h30m`, `7d`.

use std::borrow::Cow;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};

/// A duration written as text (`500ms`, `30s`, `5m`, `2h`, `7d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationSpec(pub Duration);

impl DurationSpec {
    /// Parse `30s`, `5m`, `1h30m`, `7d`, `500ms`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("expected a duration such as `30s`, `5m` or `1h`, found an empty string".into());
        }
        humantime::parse_duration(t)
            .map(DurationSpec)
            .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. `500ms`, `30s`, `5m`, `1h` or `7d`"))
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as `30s`, `5m` or `1h`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationSpec, E> {
                DurationSpec::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationSpec, E> {
                Err(E::custom(format!("`{v}` has no unit; write e.g. `{v}s` or `{v}m`")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationSpec, E> {
                Err(E::custom(format!("`{v}` has no unit; write e.g. `{v}s` or `{v}m`")))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": r"^\s*([0-9]+\s*(ns|us|ms|s|sec|m|min|h|hr|d|w)\s*)+$",
            "description": "A duration: `500ms`, `30s`, `5m`, `1h`, `7d`.",
            "examples": ["30s", "5m"]
        })
    }
}
