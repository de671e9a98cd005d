//! [`Spanned<T>`]: a value with the span it was read from; [`Tree`]: any YAML
//! value with spans all the way down (for `map:`, `with:` and expressions).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::Span;

pub(super) const SPANNED_NAME: &str = "$__reqflow_private_Spanned";
pub(super) const SPANNED_FIELDS: &[&str] =
    &["$__reqflow_private_start", "$__reqflow_private_end", "$__reqflow_private_value"];

/// A value and the source span it was deserialized from.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    /// Where it is in the file.
    pub span: Span,
    /// What it is.
    pub value: T,
}

impl<T> Spanned<T> {
    /// A value at a span.
    pub fn new(span: Span, value: T) -> Self {
        Spanned { span, value }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value read by reqflow's YAML loader")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut start = 0u64;
                let mut end = 0u64;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == SPANNED_FIELDS[0] {
                        start = map.next_value()?;
                    } else if key == SPANNED_FIELDS[1] {
                        end = map.next_value()?;
                    } else {
                        let value = map.next_value()?;
                        return Ok(Spanned { span: Span::new(start as usize, end as usize), value });
                    }
                }
                Err(de::Error::custom("spanned value without a value"))
            }
        }
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, V(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// Any YAML value, spans kept on every element: what `map:`, `with:`,
/// connection settings and expression fields hold until they are compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum Tree {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (a literal, a JSONPath or a template: see [`crate::value`]).
    Str(String),
    /// A list.
    Seq(Vec<Spanned<Tree>>),
    /// A mapping, in source order.
    Map(Vec<(Spanned<String>, Spanned<Tree>)>),
}

impl Tree {
    /// A short name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Tree::Null => "null",
            Tree::Bool(_) => "a boolean",
            Tree::Int(_) => "an integer",
            Tree::Float(_) => "a number",
            Tree::Str(_) => "a string",
            Tree::Seq(_) => "a list",
            Tree::Map(_) => "a mapping",
        }
    }

    /// The entry of a mapping by key.
    pub fn get(&self, key: &str) -> Option<&Spanned<Tree>> {
        match self {
            Tree::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as plain JSON (expressions left as their source strings).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Tree::Null => serde_json::Value::Null,
            Tree::Bool(b) => (*b).into(),
            Tree::Int(i) => (*i).into(),
            Tree::Float(f) => serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or_default(),
            Tree::Str(s) => s.clone().into(),
            Tree::Seq(items) => items.iter().map(|i| i.value.to_json()).collect(),
            Tree::Map(entries) => entries.iter().map(|(k, v)| (k.value.clone(), v.value.to_json())).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tree;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_unit<E>(self) -> Result<Tree, E> {
                Ok(Tree::Null)
            }
            fn visit_none<E>(self) -> Result<Tree, E> {
                Ok(Tree::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
                Ok(Tree::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
                Ok(Tree::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tree, E> {
                i64::try_from(v).map(Tree::Int).map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
                Ok(Tree::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
                Ok(Tree::Str(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Tree>>()? {
                    items.push(item);
                }
                Ok(Tree::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<KeyString>>()? {
                    let value = map.next_value::<Spanned<Tree>>()?;
                    entries.push((Spanned::new(key.span, key.value.0), value));
                }
                Ok(Tree::Map(entries))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A mapping key: strings, and numbers or booleans read as their text.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".into()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for Tree {
    fn schema_name() -> Cow<'static, str> {
        "Value".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "description": "Any value. Strings are literals, JSONPath queries (`$.…`) or minijinja templates (`{{ … }}`)."
        })
    }
}
