//! XML ⇄ JSON for SOAP (the `soap` trigger and the `soap.call` action):
//! local names as keys, text as values, repeated elements as arrays,
//! attributes under `@name`, text beside attributes under `#text`.
//! DTDs and entity declarations are refused.
//!
//! Brief overview:
//! - [`parse`] / [`parse_with`]: a document → its root [`Element`] (namespaces
//!   resolved, prefixes dropped), within [`Limits`].
//! - [`Element::to_json`]: the JSON form described above. Values are always
//!   strings: XML has no types, and guessing (`"007"` → `7`) loses data.
//! - [`parse_soap`]: a SOAP 1.1 or 1.2 envelope → [`SoapMessage`] (operation
//!   name, body JSON, header JSON).
//! - [`write_json_children`] / [`write_json_element`]: JSON → elements in a
//!   namespace prefix, the inverse mapping, for building request bodies.
//!   Object keys keep their order, which is the order a schema's
//!   `xsd:sequence` needs.
//!
//! ```
//! use reqflow_engine::xml::parse_soap;
//!
//! let envelope = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
//!   <s:Body><Ping_Request xmlns="urn:x"><ID type="T">1</ID></Ping_Request></s:Body>
//! </s:Envelope>"#;
//! let msg = parse_soap(envelope).expect("valid");
//! assert_eq!(msg.operation, "Ping_Request");
//! assert_eq!(msg.body["ID"]["@type"], "T");
//! assert_eq!(msg.body["ID"]["#text"], "1");
//! ```

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use serde_json::{Map, Value};

/// The SOAP 1.1 envelope namespace.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// Bounds on what [`parse_with`] accepts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest document, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most elements in one document.
    pub max_elements: usize,
}

impl Default for Limits {
    /// 10 MiB, 64 levels, 200,000 elements: far above any Workday response
    /// page, far below what would hurt the process.
    fn default() -> Self {
        Limits { max_bytes: 10 * 1024 * 1024, max_depth: crate::limits::MAX_XML_DEPTH, max_elements: 200_000 }
    }
}

/// Why a document was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmlError {
    /// Bigger than [`Limits::max_bytes`].
    #[error("the XML document is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Deeper than [`Limits::max_depth`].
    #[error("XML elements nest deeper than {limit} levels (at byte {pos})")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Byte offset.
        pos: u64,
    },
    /// More elements than [`Limits::max_elements`].
    #[error("the XML document has more than {limit} elements")]
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// A `<!DOCTYPE …>`: DTDs can declare entities (XXE, "billion laughs"), so none is accepted.
    #[error("DTDs and entity declarations are not accepted (`<!DOCTYPE` at byte {pos})")]
    Doctype {
        /// Byte offset.
        pos: u64,
    },
    /// An entity reference other than the five predefined ones or a character reference.
    #[error(
        "unknown entity `&{name};` at byte {pos} (only &lt; &gt; &amp; &apos; &quot; and character references are accepted)"
    )]
    UnknownEntity {
        /// The entity name.
        name: String,
        /// Byte offset.
        pos: u64,
    },
    /// Not well-formed.
    #[error("malformed XML at byte {pos}: {message}")]
    Syntax {
        /// Byte offset.
        pos: u64,
        /// What the parser said.
        message: String,
    },
    /// No root element.
    #[error("the document has no root element")]
    Empty,
    /// A prefix used without a declaration.
    #[error("namespace prefix `{prefix}` is not declared (element or attribute `{name}`)")]
    UnboundPrefix {
        /// The prefix.
        prefix: String,
        /// The qualified name.
        name: String,
    },
    /// The root is not a SOAP `Envelope`.
    #[error("not a SOAP envelope: the root element is `{found}`{ns}", ns = namespace_note(.namespace))]
    NotEnvelope {
        /// The root's local name.
        found: String,
        /// Its namespace.
        namespace: Option<String>,
    },
    /// The envelope has no `Body`.
    #[error("the SOAP envelope has no Body")]
    NoBody,
    /// The `Body` has no element.
    #[error("the SOAP Body is empty: expected one operation element")]
    EmptyBody,
    /// The `Body` has more than one element.
    #[error("the SOAP Body has {count} elements (`{names}`); expected exactly one operation element")]
    SeveralOperations {
        /// How many.
        count: usize,
        /// Their names, comma-separated.
        names: String,
    },
    /// A JSON key that is no XML name.
    #[error("`{name}` is not a valid XML element or attribute name")]
    InvalidName {
        /// The key.
        name: String,
    },
    /// A JSON value that cannot become XML (e.g. an object as an attribute).
    #[error("cannot write {what} as XML at `{path}`")]
    Unrepresentable {
        /// What it was.
        what: String,
        /// Where (element path).
        path: String,
    },
}

fn namespace_note(ns: &Option<String>) -> String {
    match ns {
        Some(ns) => format!(" in namespace `{ns}`"),
        None => " (no namespace)".into(),
    }
}

/// An element: local name, namespace, attributes and content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// The namespace URI, if bound.
    pub namespace: Option<String>,
    /// The local name (no prefix).
    pub name: String,
    /// Attributes by local name, in document order (namespace declarations left out).
    pub attributes: Vec<(String, String)>,
    /// Child elements and text, in document order.
    pub children: Vec<Node>,
}

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Text (entities resolved, CDATA included).
    Text(String),
}

impl Element {
    /// Child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// The attribute with this local name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All text directly inside this element, concatenated.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// This element as JSON (see the [module docs](self)): a string when it
    /// has only text, otherwise an object of `@attributes`, children by
    /// local name (arrays when repeated) and `#text`.
    pub fn to_json(&self) -> Value {
        let has_elements = self.elements().next().is_some();
        if self.attributes.is_empty() && !has_elements {
            return Value::String(self.text());
        }
        let mut obj = Map::new();
        for (k, v) in &self.attributes {
            obj.insert(format!("@{k}"), Value::String(v.clone()));
        }
        obj.extend(self.children_json());
        let text = self.text();
        let text = if has_elements { text.trim() } else { text.as_str() };
        if !text.is_empty() {
            obj.insert("#text".into(), Value::String(text.to_owned()));
        }
        Value::Object(obj)
    }

    /// The child elements as one JSON object (attributes and text left out):
    /// what a SOAP operation element becomes as `event.body`.
    pub fn children_json(&self) -> Map<String, Value> {
        let mut obj = Map::new();
        for child in self.elements() {
            let v = child.to_json();
            // `to_json` never yields an array, so an array here is one we made.
            match obj.get_mut(&child.name) {
                Some(Value::Array(items)) => items.push(v),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, v]);
                }
                None => {
                    obj.insert(child.name.clone(), v);
                }
            }
        }
        obj
    }
}

/// Parses a document within the default [`Limits`].
pub fn parse(xml: &str) -> Result<Element, XmlError> {
    parse_with(xml, &Limits::default())
}

/// Parses a document: its root element, with namespaces resolved.
pub fn parse_with(xml: &str, limits: &Limits) -> Result<Element, XmlError> {
    if xml.len() > limits.max_bytes {
        return Err(XmlError::TooLarge { size: xml.len(), limit: limits.max_bytes });
    }
    let mut reader = NsReader::from_str(xml);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let pos = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event() {
            Ok((ns, event)) => (namespace_of(ns), event),
            Err(e) => return Err(XmlError::Syntax { pos: reader.error_position(), message: e.to_string() }),
        };
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype { pos }),
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(XmlError::Syntax { pos, message: "content after the root element".into() });
            }
            Event::Start(start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements { limit: limits.max_elements });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep { limit: limits.max_depth, pos });
                }
                let el = element_of(&reader, ns, &start)?;
                stack.push(el);
            }
            Event::Empty(start) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements { limit: limits.max_elements });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep { limit: limits.max_depth, pos });
                }
                let el = element_of(&reader, ns, &start)?;
                attach(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(XmlError::Syntax { pos, message: "unexpected end tag".into() });
                };
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content(), pos)?,
            Event::CData(t) => {
                let s = t.into_inner().into_owned();
                push_text(&mut stack, &s, pos)?;
            }
            Event::GeneralRef(r) => {
                let ch = r.resolve_char_ref().map_err(|e| XmlError::Syntax { pos, message: e.to_string() })?;
                let s = match ch {
                    Some(c) => c.to_string(),
                    None => match predefined_entity(&r.xml10_content()) {
                        Some(s) => s.to_owned(),
                        None => {
                            return Err(XmlError::UnknownEntity { name: r.xml10_content().into_owned(), pos });
                        }
                    },
                };
                if stack.is_empty() {
                    return Err(XmlError::Syntax { pos, message: "text outside the root element".into() });
                }
                push_text(&mut stack, &s, pos)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax {
            pos: xml.len() as u64,
            message: format!("unclosed element `{}`", stack.last().map(|e| e.name.as_str()).unwrap_or("")),
        });
    }
    root.ok_or(XmlError::Empty)
}

fn namespace_of(ns: ResolveResult<'_>) -> Result<Option<String>, String> {
    match ns {
        ResolveResult::Bound(n) => Ok(Some(n.0.to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(p) => Err(p),
    }
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

fn element_of(
    reader: &NsReader<&[u8]>,
    ns: Result<Option<String>, String>,
    start: &BytesStart<'_>,
) -> Result<Element, XmlError> {
    let qname = start.name().0.to_owned();
    let namespace = ns.map_err(|prefix| XmlError::UnboundPrefix { prefix, name: qname.clone() })?;
    let pos = reader.buffer_position();
    let mut attributes = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError::Syntax { pos, message: e.to_string() })?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attr.key);
        if let ResolveResult::Unknown(prefix) = resolved {
            return Err(XmlError::UnboundPrefix { prefix, name: attr.key.0.to_owned() });
        }
        let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| match e {
            quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => {
                XmlError::UnknownEntity { name, pos }
            }
            other => XmlError::Syntax { pos, message: other.to_string() },
        })?;
        attributes.push((local.as_ref().to_owned(), value.into_owned()));
    }
    Ok(Element { namespace, name: start.local_name().as_ref().to_owned(), attributes, children: Vec::new() })
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(el)),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], text: &str, pos: u64) -> Result<(), XmlError> {
    let Some(parent) = stack.last_mut() else {
        if text.trim().is_empty() {
            return Ok(());
        }
        return Err(XmlError::Syntax { pos, message: "text outside the root element".into() });
    };
    match parent.children.last_mut() {
        Some(Node::Text(t)) => t.push_str(text),
        _ => parent.children.push(Node::Text(text.to_owned())),
    }
    Ok(())
}

/// SOAP 1.1 or 1.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoapVersion {
    /// `http://schemas.xmlsoap.org/soap/envelope/`
    Soap11,
    /// `http://www.w3.org/2003/05/soap-envelope`
    Soap12,
}

/// A parsed SOAP envelope.
#[derive(Clone, Debug)]
pub struct SoapMessage {
    /// 1.1 or 1.2.
    pub version: SoapVersion,
    /// The local name of the Body's element (e.g. `Assess_Candidate_Response`, `Fault`).
    pub operation: String,
    /// The namespace of that element.
    pub operation_namespace: Option<String>,
    /// The operation element's children as JSON (see [`Element::children_json`]).
    pub body: Value,
    /// The Header's children as JSON (an empty object without a Header).
    pub header: Value,
    /// The operation element itself, for callers that need attributes or order.
    pub element: Element,
}

impl SoapMessage {
    /// Whether the Body is a SOAP `Fault`.
    pub fn is_fault(&self) -> bool {
        self.operation == "Fault" && matches!(self.operation_namespace.as_deref(), Some(SOAP11_NS) | Some(SOAP12_NS))
    }
}

/// Parses a SOAP envelope within the default [`Limits`].
pub fn parse_soap(xml: &str) -> Result<SoapMessage, XmlError> {
    parse_soap_with(xml, &Limits::default())
}

/// Parses a SOAP 1.1 or 1.2 envelope: the Body must hold exactly one element.
pub fn parse_soap_with(xml: &str, limits: &Limits) -> Result<SoapMessage, XmlError> {
    let root = parse_with(xml, limits)?;
    let version = match root.namespace.as_deref() {
        Some(SOAP11_NS) if root.name == "Envelope" => SoapVersion::Soap11,
        Some(SOAP12_NS) if root.name == "Envelope" => SoapVersion::Soap12,
        _ => return Err(XmlError::NotEnvelope { found: root.name, namespace: root.namespace }),
    };
    let env_ns = root.namespace.clone();
    let in_env = |e: &&Element| e.namespace == env_ns;
    let header = root
        .elements()
        .filter(in_env)
        .find(|e| e.name == "Header")
        .map(|h| Value::Object(h.children_json()))
        .unwrap_or_else(|| Value::Object(Map::new()));
    let body = root.elements().filter(in_env).find(|e| e.name == "Body").ok_or(XmlError::NoBody)?;
    let ops: Vec<&Element> = body.elements().collect();
    let op = match ops.as_slice() {
        [] => return Err(XmlError::EmptyBody),
        [op] => (*op).clone(),
        many => {
            return Err(XmlError::SeveralOperations {
                count: many.len(),
                names: many.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
    };
    Ok(SoapMessage {
        version,
        operation: op.name.clone(),
        operation_namespace: op.namespace.clone(),
        body: Value::Object(op.children_json()),
        header,
        element: op,
    })
}

/// Escapes text for element content or attribute values.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

fn check_name(name: &str) -> Result<(), XmlError> {
    let ok = !name.is_empty()
        && name.split(':').count() <= 2
        && name.split(':').all(|part| {
            let mut chars = part.chars();
            matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        });
    if ok { Ok(()) } else { Err(XmlError::InvalidName { name: name.to_owned() }) }
}

fn qualify(prefix: Option<&str>, name: &str) -> String {
    match prefix {
        Some(p) if !p.is_empty() && !name.contains(':') => format!("{p}:{name}"),
        _ => name.to_owned(),
    }
}

/// Writes each key of a JSON object as an element, prefixed with `prefix`
/// (e.g. `wd`): the inverse of [`Element::children_json`]. Keys keep their
/// order. Arrays repeat the element; `@name` keys become attributes (also
/// prefixed: Workday qualifies attributes); `#text` is text; `null` leaves
/// the element out; numbers and booleans are written as text.
pub fn write_json_children(out: &mut String, prefix: Option<&str>, value: &Value) -> Result<(), XmlError> {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k.starts_with('@') || k == "#text" {
                    return Err(XmlError::Unrepresentable {
                        what: format!("`{k}` outside an element"),
                        path: k.clone(),
                    });
                }
                write_json_element(out, prefix, k, v)?;
            }
            Ok(())
        }
        Value::Null => Ok(()),
        other => Err(XmlError::Unrepresentable { what: json_kind(other).into(), path: "/".into() }),
    }
}

/// Writes `<prefix:name>…</prefix:name>` for one JSON value (see [`write_json_children`]).
pub fn write_json_element(out: &mut String, prefix: Option<&str>, name: &str, value: &Value) -> Result<(), XmlError> {
    check_name(name)?;
    let q = qualify(prefix, name);
    match value {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                if item.is_array() {
                    return Err(XmlError::Unrepresentable {
                        what: "an array inside an array".into(),
                        path: name.into(),
                    });
                }
                write_json_element(out, prefix, name, item)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            out.push('<');
            out.push_str(&q);
            for (k, v) in map {
                if let Some(attr) = k.strip_prefix('@') {
                    check_name(attr)?;
                    let text = scalar_text(v).ok_or_else(|| XmlError::Unrepresentable {
                        what: format!("{} as attribute `{k}`", json_kind(v)),
                        path: name.into(),
                    })?;
                    out.push(' ');
                    out.push_str(&qualify(prefix, attr));
                    out.push_str("=\"");
                    out.push_str(&escape(&text));
                    out.push('"');
                }
            }
            out.push('>');
            for (k, v) in map {
                if k.starts_with('@') {
                    continue;
                }
                if k == "#text" {
                    let text = scalar_text(v).ok_or_else(|| XmlError::Unrepresentable {
                        what: format!("{} as `#text`", json_kind(v)),
                        path: name.into(),
                    })?;
                    out.push_str(&escape(&text));
                } else {
                    write_json_element(out, prefix, k, v)?;
                }
            }
            out.push_str("</");
            out.push_str(&q);
            out.push('>');
            Ok(())
        }
        scalar => {
            let text = scalar_text(scalar).unwrap_or_default();
            out.push('<');
            out.push_str(&q);
            out.push('>');
            out.push_str(&escape(&text));
            out.push_str("</");
            out.push_str(&q);
            out.push('>');
            Ok(())
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A copy of `shared/fixtures/workday-studio-trigger-candidate-state-change.xml`.
    const STUDIO_TRIGGER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Header/>
  <soapenv:Body>
    <TriggerCandidateStateChange_Request xmlns="http://your-company.com/workday/webhooks">
      <Job_Application>
        <Job_Application_ID>WAPPLIC12345</Job_Application_ID>
        <Candidate_Reference>
          <ID type="Candidate_ID">W12345</ID>
        </Candidate_Reference>
        <Requisition_Reference>
          <ID type="Requisition_ID">REQ678</ID>
        </Requisition_Reference>
        <Stage>Interview</Stage>
        <Step>Phone Screen</Step>
        <Current_Status>Screening</Current_Status>
      </Job_Application>
    </TriggerCandidateStateChange_Request>
  </soapenv:Body>
</soapenv:Envelope>
"#;

    #[test]
    fn studio_trigger_fixture_becomes_the_documented_json() {
        let msg = parse_soap(STUDIO_TRIGGER).unwrap();
        assert_eq!(msg.version, SoapVersion::Soap11);
        assert_eq!(msg.operation, "TriggerCandidateStateChange_Request");
        assert_eq!(msg.operation_namespace.as_deref(), Some("http://your-company.com/workday/webhooks"));
        assert_eq!(msg.body["Job_Application"]["Stage"], "Interview");
        assert_eq!(
            msg.body["Job_Application"]["Candidate_Reference"]["ID"],
            json!({"@type": "Candidate_ID", "#text": "W12345"})
        );
        assert_eq!(msg.body["Job_Application"]["Job_Application_ID"], "WAPPLIC12345");
        assert_eq!(msg.header, json!({}));
        assert!(!msg.is_fault());
    }

    #[test]
    fn the_shared_fixture_file_matches_the_copy_when_present() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/workday-studio-trigger-candidate-state-change.xml"
        );
        if let Ok(text) = std::fs::read_to_string(path) {
            let a = parse_soap(&text).unwrap();
            let b = parse_soap(STUDIO_TRIGGER).unwrap();
            assert_eq!(a.body, b.body);
        }
    }

    #[test]
    fn soap12_repeated_elements_prefixes_entities_and_cdata() {
        let xml = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wd="urn:com.workday/bsvc">
  <env:Header><wd:Trace wd:id="t1"/></env:Header>
  <env:Body>
    <wd:Get_Candidates_Response wd:version="v26.1">
      <wd:Candidate><wd:Name>A &amp; B &#x263A;</wd:Name></wd:Candidate>
      <wd:Candidate><wd:Name><![CDATA[<C>]]></wd:Name></wd:Candidate>
      <wd:Candidate><wd:Name>D</wd:Name></wd:Candidate>
      <wd:Empty/>
    </wd:Get_Candidates_Response>
  </env:Body>
</env:Envelope>"#;
        let msg = parse_soap(xml).unwrap();
        assert_eq!(msg.version, SoapVersion::Soap12);
        assert_eq!(msg.operation, "Get_Candidates_Response");
        assert_eq!(msg.element.attribute("version"), Some("v26.1"));
        assert_eq!(
            msg.body,
            json!({"Candidate": [{"Name": "A & B \u{263A}"}, {"Name": "<C>"}, {"Name": "D"}], "Empty": ""})
        );
        assert_eq!(msg.header, json!({"Trace": {"@id": "t1"}}));
    }

    #[test]
    fn refuses_xxe() {
        let xml = r#"<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><Op>&xxe;</Op></s:Body></s:Envelope>"#;
        let err = parse_soap(xml).unwrap_err();
        assert!(matches!(err, XmlError::Doctype { .. }), "{err:?}");
        assert!(err.to_string().contains("DTDs and entity declarations are not accepted"));
    }

    #[test]
    fn refuses_billion_laughs() {
        let xml = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"#;
        assert!(matches!(parse(xml), Err(XmlError::Doctype { .. })));
    }

    #[test]
    fn refuses_undeclared_entities_even_without_a_dtd() {
        let err = parse("<a>&lol;</a>").unwrap_err();
        assert!(matches!(&err, XmlError::UnknownEntity { name, .. } if name == "lol"), "{err:?}");
        let err = parse(r#"<a b="&lol;"/>"#).unwrap_err();
        assert!(matches!(&err, XmlError::UnknownEntity { .. } | XmlError::Syntax { .. }), "{err:?}");
    }

    #[test]
    fn bounds_depth_and_size() {
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(matches!(parse(&deep), Err(XmlError::TooDeep { limit: 64, .. })));
        let limits = Limits { max_bytes: 10, ..Limits::default() };
        assert!(matches!(parse_with("<a>0123456789</a>", &limits), Err(XmlError::TooLarge { .. })));
        let limits = Limits { max_elements: 3, ..Limits::default() };
        assert!(matches!(parse_with("<a><b/><b/><b/></a>", &limits), Err(XmlError::TooManyElements { .. })));
    }

    #[test]
    fn says_what_is_wrong_with_bad_envelopes() {
        let e = parse_soap("<a><b></a>").unwrap_err();
        assert!(matches!(e, XmlError::Syntax { .. }), "{e:?}");
        let e = parse_soap("<Envelope/>").unwrap_err();
        assert_eq!(e.to_string(), "not a SOAP envelope: the root element is `Envelope` (no namespace)");
        let e = parse_soap(r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>"#).unwrap_err();
        assert_eq!(e, XmlError::NoBody);
        let e = parse_soap(r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#)
            .unwrap_err();
        assert_eq!(e, XmlError::EmptyBody);
        let e = parse_soap(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a/><b/></s:Body></s:Envelope>"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("`a, b`"), "{e}");
        let e = parse("<x:a/>").unwrap_err();
        assert!(matches!(e, XmlError::UnboundPrefix { .. }), "{e:?}");
        assert!(matches!(parse(""), Err(XmlError::Empty)));
    }

    #[test]
    fn fault_is_recognised() {
        let xml = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
 <SOAP-ENV:Body><SOAP-ENV:Fault xmlns:wd="urn:com.workday/bsvc">
   <faultcode>SOAP-ENV:Client.validationError</faultcode><faultstring>bad</faultstring>
   <detail><wd:Validation_Fault><wd:Validation_Error><wd:Message>m</wd:Message></wd:Validation_Error></wd:Validation_Fault></detail>
 </SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        let msg = parse_soap(xml).unwrap();
        assert!(msg.is_fault());
        assert_eq!(msg.body["faultcode"], "SOAP-ENV:Client.validationError");
        assert_eq!(msg.body["detail"]["Validation_Fault"]["Validation_Error"]["Message"], "m");
    }

    #[test]
    fn json_to_xml_round_trips_and_escapes() {
        let v = json!({
            "Candidate_Reference": {"ID": {"@type": "Candidate_ID", "#text": "C-1"}},
            "Name": "A & <B>",
            "Tag": ["x", "y"],
            "Score": 7,
            "Skipped": null,
        });
        let mut out = String::new();
        write_json_children(&mut out, Some("wd"), &v).unwrap();
        assert_eq!(
            out,
            "<wd:Candidate_Reference><wd:ID wd:type=\"Candidate_ID\">C-1</wd:ID></wd:Candidate_Reference>\
             <wd:Name>A &amp; &lt;B&gt;</wd:Name><wd:Tag>x</wd:Tag><wd:Tag>y</wd:Tag><wd:Score>7</wd:Score>"
        );
        let doc = format!("<wd:R xmlns:wd=\"urn:com.workday/bsvc\">{out}</wd:R>");
        let back = parse(&doc).unwrap();
        assert_eq!(
            Value::Object(back.children_json()),
            json!({"Candidate_Reference": {"ID": {"@type": "Candidate_ID", "#text": "C-1"}},
                   "Name": "A & <B>", "Tag": ["x", "y"], "Score": "7"})
        );
    }

    #[test]
    fn json_to_xml_refuses_bad_names() {
        let mut out = String::new();
        let e = write_json_children(&mut out, None, &json!({"a><script": 1})).unwrap_err();
        assert!(matches!(e, XmlError::InvalidName { .. }));
        let e = write_json_children(&mut out, None, &json!({"a": {"@b": {"c": 1}}})).unwrap_err();
        assert!(matches!(e, XmlError::Unrepresentable { .. }));
    }
}
