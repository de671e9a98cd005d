//! A serde [`Deserializer`] over [`Node`]: typed models straight from the
//! span-carrying tree, with errors that carry the span of the offending node.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::Span;
use super::spanned::{SPANNED_FIELDS, SPANNED_NAME};
use super::tree::{Node, NodeKind};

/// A deserialization error: what is wrong and, when known, where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DeError {
    /// What is wrong, in serde's words refined by ours.
    pub message: String,
    /// The node the error is about.
    pub span: Option<Span>,
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { message: msg.to_string(), span: None }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let found = match unexp {
            de::Unexpected::Map => "a mapping".to_string(),
            de::Unexpected::Seq => "a list".to_string(),
            de::Unexpected::Unit => "null".to_string(),
            de::Unexpected::Str(s) => format!("the string {s:?}"),
            other => other.to_string(),
        };
        DeError { message: format!("expected {exp}, found {found}"), span: None }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut message = format!("unknown key `{field}`");
        if let Some(best) = crate::suggest::closest(field, expected.iter().copied()) {
            message.push_str(&format!("; did you mean `{best}`?"));
        } else if !expected.is_empty() {
            message.push_str(&format!("; expected one of {}", list(expected)));
        }
        DeError { message, span: None }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut message = format!("unknown value `{variant}`");
        if let Some(best) = crate::suggest::closest(variant, expected.iter().copied()) {
            message.push_str(&format!("; did you mean `{best}`?"));
        } else {
            message.push_str(&format!("; expected one of {}", list(expected)));
        }
        DeError { message, span: None }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError { message: format!("missing required key `{field}`"), span: None }
    }
}

fn list(items: &[&str]) -> String {
    items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

impl DeError {
    fn at(mut self, span: Span) -> Self {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }
}

type Result<T> = std::result::Result<T, DeError>;

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let r = match &self.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::Float(f) => visitor.visit_f64(*f),
            NodeKind::Str { value, .. } => visitor.visit_borrowed_str(value),
            NodeKind::Seq(items) => visitor.visit_seq(SeqAccess { items: items.iter(), len: items.len() }),
            NodeKind::Map(entries) => visitor.visit_map(MapAccess { entries: entries.iter(), value: None }),
        };
        r.map_err(|e| e.at(self.span))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.at(self.span))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match &self.kind {
            NodeKind::Str { value, .. } => visitor.visit_borrowed_str(value),
            _ => self.deserialize_any(visitor),
        }
        .map_err(|e| e.at(self.span))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match &self.kind {
            NodeKind::Str { .. } => visitor.visit_enum(EnumAccess { tag: self, value: None }),
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (k, v) = &entries[0];
                visitor.visit_enum(EnumAccess { tag: k, value: Some(v) })
            }
            NodeKind::Map(entries) if entries.len() > 1 => Err(DeError {
                message: format!(
                    "expected exactly one kind here, found {}: {}",
                    entries.len(),
                    entries
                        .iter()
                        .filter_map(|(k, _)| k.as_str())
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                span: None,
            }),
            _ => Err(DeError {
                message: format!("expected a mapping with one key, found {}", self.type_name()),
                span: None,
            }),
        }
        .map_err(|e| e.at(self.span))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if name == SPANNED_NAME && fields == SPANNED_FIELDS {
            return visitor.visit_map(SpannedAccess { node: self, state: 0 });
        }
        match &self.kind {
            NodeKind::Map(_) => self.deserialize_any(visitor),
            _ => Err(DeError {
                message: format!("expected a mapping, found {}", self.type_name()),
                span: Some(self.span),
            }),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value> {
        visitor.visit_newtype_struct(self).map_err(|e| e.at(self.span))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match &self.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Map(e) if e.is_empty() => visitor.visit_unit(),
            _ => Err(DeError { message: format!("expected nothing here, found {}", self.type_name()), span: None }),
        }
        .map_err(|e| e.at(self.span))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct SeqAccess<'de> {
    items: std::slice::Iter<'de, Node>,
    len: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.items.next() {
            Some(node) => seed.deserialize(node).map(Some).map_err(|e| e.at(node.span)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len)
    }
}

struct MapAccess<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k).map(Some).map_err(|e| e.at(k.span))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let node = self.value.take().ok_or_else(|| DeError { message: "value without a key".into(), span: None })?;
        seed.deserialize(node).map_err(|e| e.at(node.span))
    }
}

/// Feeds a `Spanned<T>`: `$start`, `$end`, then `$value` (the node itself).
struct SpannedAccess<'de> {
    node: &'de Node,
    state: u8,
}

impl<'de> de::MapAccess<'de> for SpannedAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(key) = SPANNED_FIELDS.get(self.state as usize) else { return Ok(None) };
        seed.deserialize((*key).into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let state = self.state;
        self.state += 1;
        match state {
            0 => seed.deserialize((self.node.span.start as u64).into_deserializer()),
            1 => seed.deserialize((self.node.span.end as u64).into_deserializer()),
            _ => seed.deserialize(self.node),
        }
    }
}

struct EnumAccess<'de> {
    tag: &'de Node,
    value: Option<&'de Node>,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = VariantAccess<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant)> {
        let v = seed.deserialize(self.tag).map_err(|e| e.at(self.tag.span))?;
        Ok((v, VariantAccess { tag: self.tag, value: self.value }))
    }
}

struct VariantAccess<'de> {
    tag: &'de Node,
    value: Option<&'de Node>,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'de> {
    type Error = DeError;

    fn unit_variant(self) -> Result<()> {
        match self.value {
            None => Ok(()),
            Some(v) if matches!(v.kind, NodeKind::Null) => Ok(()),
            Some(v) if matches!(&v.kind, NodeKind::Map(e) if e.is_empty()) => Ok(()),
            Some(v) => Err(DeError { message: "this kind takes no settings".into(), span: Some(v.span) }),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        match self.value {
            Some(v) => seed.deserialize(v).map_err(|e| e.at(v.span)),
            None => Err(DeError { message: "expected settings after this kind".into(), span: Some(self.tag.span) }),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        match self.value {
            Some(v) => de::Deserializer::deserialize_seq(v, visitor),
            None => Err(DeError { message: "expected a list".into(), span: Some(self.tag.span) }),
        }
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value> {
        match self.value {
            Some(v) => de::Deserializer::deserialize_struct(v, "", fields, visitor),
            None => Err(DeError { message: "expected a mapping".into(), span: Some(self.tag.span) }),
        }
    }
}
