//! Compressed stored values (SQLite): event bodies and payloads, attempt
//! inputs and outputs and step results are kept as zstd frames made with a
//! dictionary built into reqflow, when that is smaller than the text.
//!
//! The dictionary (`dictionaries/1.txt`) holds the shapes of the payloads
//! reqflow handles (a Workable webhook body, an event's headers, an HTTP
//! step's request and response) with every value blank: it is written in the
//! source, holds no one's data and is never stored in a database. Its bytes
//! must never change once released (stored values depend on them): a new
//! dictionary gets a new id.
//!
//! A packed JSON value is `[0x00, dictionary id, zstd frame…]`, the frame
//! without zstd's 4-byte magic number (put back on read), without checksum or
//! dictionary id, with its content size: JSON text
//! never starts with a NUL byte, so a reader tells a packed value from the
//! text stored before this form (or too short to gain) by its first byte.
//! A raw body can be any bytes: its row says whether it is packed
//! (`events.raw_packed`, migration 0021).

use std::cell::RefCell;

use reqflow_engine::store::{StoreError, StoreResult};

/// The first byte of a packed JSON value.
const TAG: u8 = 0;
/// The id of [`DICTIONARY_1`] in a packed value.
const DICTIONARY_ID: u8 = 1;
/// Dictionary 1: value-free shapes of the payloads reqflow handles.
pub const DICTIONARY_1: &[u8] = include_bytes!("../dictionaries/1.txt");
/// zstd level: small records gain little from higher levels.
const LEVEL: i32 = 3;
/// Values shorter than this are stored as they are (a frame's header costs
/// more than a dictionary saves on them).
const MIN_LEN: usize = 32;
/// zstd's frame magic number, left out of stored frames.
const MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The largest value a packed frame may claim to hold (a corrupt or forged
/// size must not make a reader allocate without bound).
const MAX_UNPACKED: u64 = 512 * 1024 * 1024;

thread_local! {
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compressor() -> std::io::Result<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::with_dictionary(LEVEL, DICTIONARY_1)?;
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(false))?;
    c.set_parameter(zstd::zstd_safe::CParameter::DictIdFlag(false))?;
    c.set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))?;
    Ok(c)
}

/// `bytes` as a zstd frame with dictionary 1, if compressing works (it
/// always should: a failure leaves the value as it is).
fn frame(bytes: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            match compressor() {
                Ok(c) => *slot = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "zstd compressor unavailable: storing values uncompressed");
                    return None;
                }
            }
        }
        let frame = slot.as_mut().and_then(|c| c.compress(bytes).ok())?;
        frame.strip_prefix(&MAGIC).map(<[u8]>::to_vec)
    })
}

/// A raw body packed, when that is smaller (`None`: store it as it is).
pub(crate) fn pack_raw(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < MIN_LEN {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    out.push(DICTIONARY_ID);
    out.extend(frame(bytes)?);
    (out.len() < bytes.len()).then_some(out)
}

/// A raw body stored by [`pack_raw`], unpacked.
pub(crate) fn unpack_raw(stored: &[u8]) -> StoreResult<Vec<u8>> {
    match stored.split_first() {
        Some((&DICTIONARY_ID, frame)) => unframe(frame),
        Some((id, _)) => Err(StoreError::Corrupt(format!("packed value: unknown dictionary {id}"))),
        None => Err(StoreError::Corrupt("packed value: empty".into())),
    }
}

fn unframe(stored: &[u8]) -> StoreResult<Vec<u8>> {
    let mut frame = Vec::with_capacity(MAGIC.len() + stored.len());
    frame.extend(MAGIC);
    frame.extend(stored);
    let frame = frame.as_slice();
    let size = match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n <= MAX_UNPACKED => n as usize,
        _ => return Err(StoreError::Corrupt("packed value: no valid frame size".into())),
    };
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let d = zstd::bulk::Decompressor::with_dictionary(DICTIONARY_1)
                .map_err(|e| StoreError::Corrupt(format!("packed value: {e}")))?;
            *slot = Some(d);
        }
        let d = slot.as_mut().ok_or_else(|| StoreError::Corrupt("packed value: no decompressor".into()))?;
        d.decompress(frame, size).map_err(|e| StoreError::Corrupt(format!("packed value: {e}")))
    })
}

/// A JSON text as stored: packed when that is smaller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoredJson {
    /// The text itself (short, or it did not compress).
    Text(String),
    /// `[0x00, dictionary id, frame…]`.
    Packed(Vec<u8>),
}

/// `text` in its stored form.
pub(crate) fn pack_json(text: String) -> StoredJson {
    if text.len() < MIN_LEN {
        return StoredJson::Text(text);
    }
    match frame(text.as_bytes()) {
        Some(f) if f.len() + 2 < text.len() => {
            let mut out = Vec::with_capacity(f.len() + 2);
            out.extend([TAG, DICTIONARY_ID]);
            out.extend(f);
            StoredJson::Packed(out)
        }
        _ => StoredJson::Text(text),
    }
}

/// The JSON text of a stored value, packed or not.
pub(crate) fn json_text(what: &str, stored: Vec<u8>) -> StoreResult<String> {
    let bytes = match stored.split_first() {
        Some((&TAG, rest)) => unpack_raw(rest)?,
        _ => stored,
    };
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt(format!("{what}: not UTF-8")))
}

/// [`json_text`] of an optional value.
pub(crate) fn json_text_opt(what: &str, stored: Option<Vec<u8>>) -> StoreResult<Option<String>> {
    stored.map(|s| json_text(what, s)).transpose()
}

/// The stored bytes of a value read back as text, for tools that look at a
/// database file (tests that check erasure left nothing): a packed value
/// unpacked, anything else as it is.
pub fn unpacked_bytes(stored: &[u8]) -> Vec<u8> {
    match stored.split_first() {
        Some((&TAG, rest)) => unpack_raw(rest).unwrap_or_else(|_| stored.to_vec()),
        _ => stored.to_vec(),
    }
}

/// A raw body column's bytes as received, for the same tools: `packed` is
/// the row's `raw_packed`.
pub fn unpacked_raw(stored: &[u8], packed: bool) -> Vec<u8> {
    if packed { unpack_raw(stored).unwrap_or_else(|_| stored.to_vec()) } else { stored.to_vec() }
}

/// The bytes of a text or blob column read with rusqlite (`None`: NULL or
/// a number).
#[cfg(feature = "sqlite")]
pub(crate) fn column_bytes(v: rusqlite::types::ValueRef<'_>) -> Option<Vec<u8>> {
    match v {
        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => Some(b.to_vec()),
        _ => None,
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::ToSql for StoredJson {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            StoredJson::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            StoredJson::Packed(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_packed_and_plain() {
        let long = r#"{"status":201,"headers":{"content-type":"application/json","content-length":"35"},"body":{"id":"vnd-16","status":"received"}}"#;
        let packed = pack_json(long.to_owned());
        let StoredJson::Packed(bytes) = &packed else { panic!("a long JSON text is packed: {packed:?}") };
        assert!(bytes.len() < long.len());
        assert_eq!(json_text("t", bytes.clone()).expect("unpack"), long);
        assert_eq!(pack_json(r#"{"id":"1"}"#.into()), StoredJson::Text(r#"{"id":"1"}"#.into()));
        assert_eq!(json_text("t", br#"{"id":"1"}"#.to_vec()).expect("text"), r#"{"id":"1"}"#);
    }

    #[test]
    fn raw_bodies_round_trip_whatever_their_bytes() {
        let body: Vec<u8> = (0..2000u32).map(|i| (i % 7) as u8).collect();
        let packed = pack_raw(&body).expect("compressible");
        assert_eq!(unpack_raw(&packed).expect("unpack"), body);
        assert_eq!(pack_raw(b"short"), None);
        assert!(unpack_raw(&[9, 1, 2, 3]).is_err(), "an unknown dictionary is an error, not a guess");
        assert!(json_text("t", vec![0, 1, 0xff, 0xff]).is_err());
    }

    #[test]
    fn packing_is_deterministic() {
        // A step result that repeats its attempt's output is found by
        // comparing the stored forms (steps.rs): equal texts pack equal.
        let t = r#"{"id":"27270003","name":"A Person","email":"a.person@example.com","job_title":"Engineer"}"#;
        assert_eq!(pack_json(t.to_owned()), pack_json(t.to_owned()));
    }

    #[test]
    fn the_dictionary_holds_no_values() {
        // Shapes only: no e-mail address, no name, no phone number.
        let text = std::str::from_utf8(DICTIONARY_1).expect("text");
        assert!(!text.contains('@'), "an e-mail address in the dictionary");
        assert_eq!(reqflow_engine::sha256_hex(DICTIONARY_1), DICTIONARY_1_SHA256, "dictionary 1 must never change");
    }

    const DICTIONARY_1_SHA256: &str = "795f00bb3254b33ae9fc1a1b2812033f283c95ce65a86e2571d970a5cf2505f4";
}
