//! Event stream → [`Node`] tree, with limits on depth, aliases and size.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YSpan};

use super::Span;

/// Bounds on what one YAML document may cost to load.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest nesting of sequences and mappings.
    pub max_depth: usize,
    /// Most nodes the document may expand to, aliases counted at their full size.
    pub max_nodes: usize,
    /// Most alias references in a document.
    pub max_aliases: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 64, max_nodes: 200_000, max_aliases: 1_000 }
    }
}

/// A YAML value with the span it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where this value is in the source (for a quoted string, the quotes included).
    pub span: Span,
    /// The value.
    pub kind: NodeKind,
}

/// The value of a [`Node`], resolved with the YAML 1.2 core schema.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string; `quoted` is true for single- or double-quoted and block scalars.
    Str {
        /// The text.
        value: String,
        /// Whether it was quoted (or a block scalar) in the source.
        quoted: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order; keys are unique.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short name of the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str { .. } => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str { value, .. } => Some(value),
            _ => None,
        }
    }

    fn size(&self) -> usize {
        match &self.kind {
            NodeKind::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            NodeKind::Map(entries) => 1 + entries.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>(),
            _ => 1,
        }
    }
}

/// Why a document could not be loaded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
}

impl ParseError {
    fn new(message: impl Into<String>, span: Span) -> Self {
        ParseError { message: message.into(), span }
    }
}

/// Maps the parser's character offsets to byte offsets.
struct Offsets<'a> {
    src: &'a str,
    ascii: bool,
    char_to_byte: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(src: &'a str) -> Self {
        let ascii = src.is_ascii();
        let char_to_byte = if ascii { Vec::new() } else { src.char_indices().map(|(b, _)| b).collect() };
        Offsets { src, ascii, char_to_byte }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.ascii {
            char_index.min(self.src.len())
        } else {
            self.char_to_byte.get(char_index).copied().unwrap_or(self.src.len())
        }
    }

    fn span(&self, s: &YSpan) -> Span {
        Span::new(self.byte(s.start.index()), self.byte(s.end.index()))
    }
}

enum Frame {
    Seq { start: Span, anchor: usize, items: Vec<Node> },
    Map { start: Span, anchor: usize, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// Parse one YAML document into a [`Node`], within `limits`.
///
/// An empty file and a file with more than one document are errors: a
/// workflow file holds exactly one workflow.
pub fn parse(src: &str, limits: &Limits) -> Result<Node, ParseError> {
    let offsets = Offsets::new(src);
    let mut parser = Parser::new_from_str(src);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;
    let mut aliases = 0usize;
    let mut documents = 0usize;

    while let Some(next) = parser.next_event() {
        let (event, yspan) = next.map_err(|e| {
            let at = offsets.byte(e.marker().index());
            let info = if e.info().contains("recursion limit") {
                format!("nesting is deeper than {} levels", limits.max_depth)
            } else {
                format!("invalid YAML: {}", e.info())
            };
            ParseError::new(info, Span::new(at, at + 1))
        })?;
        let span = offsets.span(&yspan);
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(ParseError::new(
                        "a workflow file holds one YAML document; found a second one (`---`)",
                        span,
                    ));
                }
                continue;
            }
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_deref(), span)?;
                if stack.len() >= limits.max_depth {
                    return Err(too_deep(limits, span));
                }
                stack.push(Frame::Seq { start: span, anchor, items: Vec::new() });
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_deref(), span)?;
                if stack.len() >= limits.max_depth {
                    return Err(too_deep(limits, span));
                }
                stack.push(Frame::Map { start: span, anchor, entries: Vec::new(), key: None });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { start, anchor, items }) => {
                    let node =
                        Node { span: Span::new(start.start, span.end.max(start.end)), kind: NodeKind::Seq(items) };
                    remember(&mut anchors, anchor, &node);
                    node
                }
                _ => return Err(ParseError::new("invalid YAML: unbalanced sequence", span)),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map { start, anchor, entries, .. }) => {
                    let node =
                        Node { span: Span::new(start.start, span.end.max(start.end)), kind: NodeKind::Map(entries) };
                    remember(&mut anchors, anchor, &node);
                    node
                }
                _ => return Err(ParseError::new("invalid YAML: unbalanced mapping", span)),
            },
            Event::Alias(id) => {
                aliases += 1;
                if aliases > limits.max_aliases {
                    return Err(ParseError::new(
                        format!("too many aliases (more than {}); refusing to expand the document", limits.max_aliases),
                        span,
                    ));
                }
                let Some(target) = anchors.get(&id) else {
                    return Err(ParseError::new("alias to an unknown anchor", span));
                };
                let size = target.size();
                if nodes.saturating_add(size) > limits.max_nodes {
                    return Err(alias_bomb(limits, span));
                }
                nodes += size;
                let mut copy = target.clone();
                copy.span = span;
                copy
            }
            Event::Scalar(value, style, anchor, tag) => {
                nodes += 1;
                let node = Node { span, kind: scalar(&value, style, tag.as_deref(), span)? };
                remember(&mut anchors, anchor, &node);
                node
            }
        };
        nodes += 1;
        if nodes > limits.max_nodes {
            return Err(alias_bomb(limits, span));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    if !matches!(
                        node.kind,
                        NodeKind::Str { .. } | NodeKind::Int(_) | NodeKind::Bool(_) | NodeKind::Null
                    ) {
                        return Err(ParseError::new("mapping keys must be plain strings", node.span));
                    }
                    if let Some((first, _)) = entries.iter().find(|(k, _)| same_key(k, &node)) {
                        let line = line_of(src, first.span.start);
                        return Err(ParseError::new(
                            format!("duplicate key `{}` (first defined on line {line})", key_text(&node)),
                            node.span,
                        ));
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
    }
    root.ok_or_else(|| ParseError::new("the file is empty: expected a workflow mapping", Span::new(0, 0)))
}

fn remember(anchors: &mut HashMap<usize, Node>, anchor: usize, node: &Node) {
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
}

fn too_deep(limits: &Limits, span: Span) -> ParseError {
    ParseError::new(format!("nesting is deeper than {} levels", limits.max_depth), span)
}

fn alias_bomb(limits: &Limits, span: Span) -> ParseError {
    ParseError::new(
        format!(
            "the document expands to more than {} values (alias expansion?); refusing to load it",
            limits.max_nodes
        ),
        span,
    )
}

fn check_tag(tag: Option<&saphyr_parser::Tag>, span: Span) -> Result<(), ParseError> {
    match tag {
        None => Ok(()),
        Some(t) if t.is_yaml_core_schema() => Ok(()),
        Some(t) => Err(ParseError::new(format!("unsupported YAML tag `{}{}`", t.handle, t.suffix), span)),
    }
}

fn key_text(node: &Node) -> String {
    match &node.kind {
        NodeKind::Str { value, .. } => value.clone(),
        NodeKind::Int(i) => i.to_string(),
        NodeKind::Bool(b) => b.to_string(),
        _ => "null".into(),
    }
}

fn same_key(a: &Node, b: &Node) -> bool {
    key_text(a) == key_text(b)
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

fn scalar(
    value: &str,
    style: ScalarStyle,
    tag: Option<&saphyr_parser::Tag>,
    span: Span,
) -> Result<NodeKind, ParseError> {
    let quoted = !matches!(style, ScalarStyle::Plain);
    if let Some(tag) = tag {
        if !tag.is_yaml_core_schema() {
            return Err(ParseError::new(format!("unsupported YAML tag `{}{}`", tag.handle, tag.suffix), span));
        }
        return match tag.suffix.as_str() {
            "str" => Ok(NodeKind::Str { value: value.to_owned(), quoted: true }),
            "null" => Ok(NodeKind::Null),
            "bool" | "int" | "float" => resolve_plain(value)
                .filter(|k| !matches!(k, NodeKind::Str { .. } | NodeKind::Null))
                .ok_or_else(|| ParseError::new(format!("`{value}` is not a valid !!{}", tag.suffix), span)),
            other => Err(ParseError::new(format!("unsupported YAML tag `!!{other}`"), span)),
        };
    }
    if quoted {
        return Ok(NodeKind::Str { value: value.to_owned(), quoted: true });
    }
    Ok(resolve_plain(value).unwrap_or_else(|| NodeKind::Str { value: value.to_owned(), quoted: false }))
}

/// YAML 1.2 core schema resolution of a plain scalar (`None`: a string).
fn resolve_plain(v: &str) -> Option<NodeKind> {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Some(NodeKind::Null),
        "true" | "True" | "TRUE" => return Some(NodeKind::Bool(true)),
        "false" | "False" | "FALSE" => return Some(NodeKind::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(NodeKind::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return Some(NodeKind::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(NodeKind::Float(f64::NAN)),
        _ => {}
    }
    let bytes = v.as_bytes();
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits_only(unsigned) {
        return v.parse::<i64>().ok().map(NodeKind::Int).or_else(|| v.parse::<f64>().ok().map(NodeKind::Float));
    }
    if let Some(hex) = v.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(NodeKind::Int);
    }
    if let Some(oct) = v.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(NodeKind::Int);
    }
    let looks_numeric = bytes.first().is_some_and(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
        && v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && v.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric {
        return v.parse::<f64>().ok().map(NodeKind::Float);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Result<Node, ParseError> {
        parse(src, &Limits::default())
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let n = p("a: 1\nb: true\nc: '1'\nd: 1.5\ne: ~\nf: hello\n").expect("valid");
        let NodeKind::Map(entries) = n.kind else { panic!("map expected") };
        let kinds: Vec<_> = entries.into_iter().map(|(_, v)| v.kind).collect();
        assert_eq!(kinds[0], NodeKind::Int(1));
        assert_eq!(kinds[1], NodeKind::Bool(true));
        assert_eq!(kinds[2], NodeKind::Str { value: "1".into(), quoted: true });
        assert_eq!(kinds[3], NodeKind::Float(1.5));
        assert_eq!(kinds[4], NodeKind::Null);
        assert_eq!(kinds[5], NodeKind::Str { value: "hello".into(), quoted: false });
    }

    #[test]
    fn spans_are_byte_offsets_even_after_multibyte_text() {
        let src = "name: \"héllo wörld\"\nnext: value\n";
        let n = p(src).expect("valid");
        let NodeKind::Map(entries) = n.kind else { panic!("map expected") };
        let v = &entries[1].1;
        assert_eq!(&src[v.span.range()], "value");
    }

    #[test]
    fn duplicate_keys_are_errors_with_the_first_line() {
        let e = p("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(e.message, "duplicate key `a` (first defined on line 1)");
        assert_eq!(e.span.start, 10);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            src.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = p(&src).expect_err("bomb");
        assert!(e.message.contains("refusing"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let src = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = p(&src).expect_err("too deep");
        assert_eq!(e.message, "nesting is deeper than 64 levels");
        let block: String = (0..10_000).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        let e = p(&block).expect_err("too deep");
        assert_eq!(e.message, "nesting is deeper than 64 levels");
    }

    #[test]
    fn second_document_is_an_error() {
        let e = p("a: 1\n---\nb: 2\n").expect_err("two docs");
        assert!(e.message.contains("one YAML document"));
    }
}
