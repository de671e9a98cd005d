//! JSON seen by templates without converting it first.
//!
//! A step's context holds the event and every upstream output; converting all
//! of it into minijinja values for each step costs more than the template
//! evaluation itself. A [`JsonView`] is a minijinja object over a shared JSON
//! root: a field is converted only when a template reads it.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde_json::Value as Json;

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A JSON array or object inside a shared root, as a minijinja object.
#[derive(Debug)]
pub(crate) struct JsonView {
    root: Arc<Json>,
    path: Vec<Seg>,
}

impl JsonView {
    fn node(&self) -> &Json {
        let mut n: &Json = &self.root;
        for s in &self.path {
            n = match (s, n) {
                (Seg::Key(k), Json::Object(m)) => m.get(k).unwrap_or(&Json::Null),
                (Seg::Index(i), Json::Array(a)) => a.get(*i).unwrap_or(&Json::Null),
                _ => &Json::Null,
            };
        }
        n
    }

    fn child(&self, seg: Seg, value: &Json) -> Value {
        match value {
            Json::Null => Value::from(()),
            Json::Bool(b) => Value::from(*b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::from(i)
                } else if let Some(u) = n.as_u64() {
                    Value::from(u)
                } else {
                    Value::from(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Json::String(s) => Value::from(s.as_str()),
            Json::Array(_) | Json::Object(_) => {
                let mut path = self.path.clone();
                path.push(seg);
                Value::from_object(JsonView { root: self.root.clone(), path })
            }
        }
    }
}

/// Whether `value` is a view of JSON that holds a binary value (see
/// [`super::binary`]) anywhere inside it.
pub(crate) fn holds_binary(value: &Value) -> bool {
    value.downcast_object_ref::<JsonView>().is_some_and(|v| super::binary::contains_binary(v.node()))
}

/// The root of a scope: a JSON object as a lazy minijinja map.
pub(crate) fn view(root: Arc<Json>) -> Value {
    Value::from_object(JsonView { root, path: Vec::new() })
}

impl Object for JsonView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.node() {
            Json::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.node() {
            Json::Object(m) => {
                let k = key.as_str()?;
                m.get(k).map(|v| self.child(Seg::Key(k.to_owned()), v))
            }
            Json::Array(a) => {
                let i = i64::try_from(key.clone()).ok()?;
                let i = if i < 0 { a.len().checked_sub(i.unsigned_abs() as usize)? } else { i as usize };
                a.get(i).map(|v| self.child(Seg::Index(i), v))
            }
            _ => None,
        }
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        match self.node() {
            Json::Object(m) => m.get(key).map(|v| self.child(Seg::Key(key.to_owned()), v)),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.node() {
            Json::Object(m) => {
                Enumerator::Iter(Box::new(m.keys().map(|k| Value::from(k.as_str())).collect::<Vec<_>>().into_iter()))
            }
            Json::Array(a) => Enumerator::Iter(Box::new(
                a.iter().enumerate().map(|(i, v)| self.child(Seg::Index(i), v)).collect::<Vec<_>>().into_iter(),
            )),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.node() {
            Json::Object(m) => Some(m.len()),
            Json::Array(a) => Some(a.len()),
            _ => Some(0),
        }
    }
}
