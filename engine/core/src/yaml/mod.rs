//! YAML with positions: the only module that knows which YAML parser we use.
//!
//! We parse with [`saphyr_parser`] (the maintained YAML 1.2 parser of the saphyr
//! project) into a [`Node`] tree that keeps the byte span of every value, then
//! deserialize typed models from that tree with our own serde `Deserializer` (`yaml::de`)
//! so that every error points at the node it is about.
//!
//! Building the tree ourselves lets us bound what a hostile file can cost:
//! nesting depth, alias expansion ("billion laughs") and total node count are
//! all limited by [`Limits`], and duplicate mapping keys are errors rather
//! than silently overwritten.

mod de;
mod spanned;
mod tree;

pub use de::DeError;
pub use spanned::{Spanned, Tree};
pub use tree::{Limits, Node, NodeKind, ParseError, parse};

/// A byte range in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (byte offsets).
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end: end.max(start) }
    }

    /// The range form, for slicing and for diagnostics.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// Deserialize a typed value from a node; errors carry the span of the
/// innermost node that caused them.
pub fn from_node<'de, T: serde::Deserialize<'de>>(node: &'de Node) -> Result<T, DeError> {
    T::deserialize(node)
}
