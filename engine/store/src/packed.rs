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
//!
//! Dictionary 2 (migration 0023) is not stored anywhere either: it is
//! dictionary 1 followed by the run's own event body as received (its first
//! [`BODY_MAX`] bytes), which the store already holds (`events.raw_body`).
//! A run's attempt inputs and outputs and step results are packed with it
//! (`RunDictionary`): the candidate's name, e-mail address and job that
//! each step repeats from the webhook cost a few bytes of back-reference
//! each. The body is the run's own and is deleted with it (erasure and
//! retention delete a run's attempts and results with its event, in one
//! transaction), so this keeps no personal data in a new place; a reader
//! needs the body to read such a value back (`sqlite/steps.rs` fetches it
//! once per run).

use std::cell::RefCell;

use reqflow_engine::store::{StoreError, StoreResult};

/// The first byte of a packed JSON value.
const TAG: u8 = 0;
/// The id of [`DICTIONARY_1`] in a packed value.
const DICTIONARY_ID: u8 = 1;
/// Dictionary 1: value-free shapes of the payloads reqflow handles.
pub const DICTIONARY_1: &[u8] = include_bytes!("../dictionaries/1.txt");
/// The id of a run's dictionary ([`RunDictionary`]) in a packed value.
const RUN_DICTIONARY_ID: u8 = 2;
/// How much of a run's event body dictionary 2 holds: the start of a larger
/// body is where a webhook's candidate fields are, and a longer dictionary
/// costs every value packed with it more time (zstd reads it each time).
/// Never to change once released (stored values depend on it).
pub const BODY_MAX: usize = 16 * 1024;
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
    /// Contexts for dictionary 2 (given with each call: no digested
    /// dictionary is kept per run).
    static RUN_CCTX: RefCell<Option<zstd::zstd_safe::CCtx<'static>>> = const { RefCell::new(None) };
    static RUN_DCTX: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

/// The dictionary a run's values are packed and read with: dictionary 2
/// (dictionary 1, then the start of the run's event body as received) when
/// the run has a body, else none of its own (dictionary 1 is used).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunDictionary {
    /// Dictionary 1 followed by the body's first [`BODY_MAX`] bytes.
    bytes: Option<Vec<u8>>,
}

impl RunDictionary {
    /// For a run with this event body as received (`None` or empty: a run
    /// without a body, its values use dictionary 1).
    pub(crate) fn of_body(body: Option<&[u8]>) -> Self {
        let bytes = body.filter(|b| !b.is_empty()).map(|b| {
            let b = &b[..b.len().min(BODY_MAX)];
            let mut d = Vec::with_capacity(DICTIONARY_1.len() + b.len());
            d.extend_from_slice(DICTIONARY_1);
            d.extend_from_slice(b);
            d
        });
        RunDictionary { bytes }
    }
}

/// `bytes` as a zstd frame (without its magic number) made with `dict` as
/// raw content: no dictionary id and no checksum in the frame, its content
/// size in it, as for dictionary 1.
fn frame_with(bytes: &[u8], dict: &[u8]) -> Option<Vec<u8>> {
    RUN_CCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let cctx = match &mut *slot {
            Some(c) => c,
            None => match zstd::zstd_safe::CCtx::try_create() {
                Some(c) => slot.insert(c),
                None => {
                    tracing::warn!("zstd context unavailable: storing a run's values with dictionary 1");
                    return None;
                }
            },
        };
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(bytes.len()));
        cctx.compress_using_dict(&mut out, bytes, dict, LEVEL).ok()?;
        out.strip_prefix(&MAGIC).map(<[u8]>::to_vec)
    })
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
    unpack(stored, &RunDictionary::default())
}

/// `[dictionary id, frame…]` unpacked; `run` is the dictionary of the run
/// the value belongs to (needed for dictionary 2).
fn unpack(stored: &[u8], run: &RunDictionary) -> StoreResult<Vec<u8>> {
    match stored.split_first() {
        Some((&DICTIONARY_ID, frame)) => unframe(frame),
        Some((&RUN_DICTIONARY_ID, frame)) => match &run.bytes {
            Some(dict) => unframe_with(frame, dict),
            None => Err(StoreError::Corrupt(
                "packed value: dictionary 2 needs its run's event body, which is not available".into(),
            )),
        },
        Some((id, _)) => Err(StoreError::Corrupt(format!("packed value: unknown dictionary {id}"))),
        None => Err(StoreError::Corrupt("packed value: empty".into())),
    }
}

/// A stored frame with its magic number put back, and the size it claims.
fn with_magic(stored: &[u8]) -> StoreResult<(Vec<u8>, usize)> {
    let mut frame = Vec::with_capacity(MAGIC.len() + stored.len());
    frame.extend(MAGIC);
    frame.extend(stored);
    match zstd::zstd_safe::get_frame_content_size(&frame) {
        Ok(Some(n)) if n <= MAX_UNPACKED => Ok((frame, n as usize)),
        _ => Err(StoreError::Corrupt("packed value: no valid frame size".into())),
    }
}

fn unframe_with(stored: &[u8], dict: &[u8]) -> StoreResult<Vec<u8>> {
    let (frame, size) = with_magic(stored)?;
    RUN_DCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let dctx = match &mut *slot {
            Some(d) => d,
            None => slot.insert(
                zstd::zstd_safe::DCtx::try_create()
                    .ok_or_else(|| StoreError::Corrupt("packed value: no decompressor".into()))?,
            ),
        };
        let mut out = Vec::with_capacity(size);
        let n = dctx
            .decompress_using_dict(&mut out, &frame, dict)
            .map_err(|e| StoreError::Corrupt(format!("packed value: {}", zstd::zstd_safe::get_error_name(e))))?;
        if n != size {
            return Err(StoreError::Corrupt("packed value: shorter than its frame says".into()));
        }
        Ok(out)
    })
}

fn unframe(stored: &[u8]) -> StoreResult<Vec<u8>> {
    let (frame, size) = with_magic(stored)?;
    let frame = frame.as_slice();
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

/// `text` in its stored form, with dictionary 1.
pub(crate) fn pack_json(text: String) -> StoredJson {
    pack_json_of_run(text, &RunDictionary::default())
}

/// `text` (a value of the run whose dictionary is `run`) in its stored
/// form, when packing makes it smaller: with the run's dictionary when it
/// has one and that gives fewer bytes than dictionary 1 (a value that
/// repeats nothing of the body, such as an HTTP response, can come out a few
/// bytes larger with it: dictionary 1's shapes are then further back), else
/// with dictionary 1. Equal texts of one run pack equal.
pub(crate) fn pack_json_of_run(text: String, run: &RunDictionary) -> StoredJson {
    if text.len() < MIN_LEN {
        return StoredJson::Text(text);
    }
    let mut best: Option<(u8, Vec<u8>)> = frame(text.as_bytes()).map(|f| (DICTIONARY_ID, f));
    if let Some(f) = run.bytes.as_ref().and_then(|dict| frame_with(text.as_bytes(), dict))
        && best.as_ref().is_none_or(|(_, b)| f.len() < b.len())
    {
        best = Some((RUN_DICTIONARY_ID, f));
    }
    match best {
        Some((id, f)) if f.len() + 2 < text.len() => {
            let mut out = Vec::with_capacity(f.len() + 2);
            out.extend([TAG, id]);
            out.extend(f);
            StoredJson::Packed(out)
        }
        _ => StoredJson::Text(text),
    }
}

/// Whether a stored value needs its run's dictionary to be read.
pub(crate) fn needs_run_dictionary(stored: &[u8]) -> bool {
    stored.starts_with(&[TAG, RUN_DICTIONARY_ID])
}

/// The JSON text of a stored value, packed (with dictionary 1) or not.
pub(crate) fn json_text(what: &str, stored: Vec<u8>) -> StoreResult<String> {
    json_text_of_run(what, stored, &RunDictionary::default())
}

/// The JSON text of a stored value of the run whose dictionary is `run`.
pub(crate) fn json_text_of_run(what: &str, stored: Vec<u8>, run: &RunDictionary) -> StoreResult<String> {
    let bytes = match stored.split_first() {
        Some((&TAG, rest)) => unpack(rest, run).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))?,
        _ => stored,
    };
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt(format!("{what}: not UTF-8")))
}

/// [`json_text_of_run`] of an optional value.
pub(crate) fn json_text_of_run_opt(
    what: &str,
    stored: Option<Vec<u8>>,
    run: &RunDictionary,
) -> StoreResult<Option<String>> {
    stored.map(|s| json_text_of_run(what, s, run)).transpose()
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

/// The same for a value of a run whose event body as received is `body`
/// (attempt inputs and outputs, step results: they may be packed with
/// dictionary 2): an error when it cannot be read, so a tool that must see
/// every value (the erasure test) cannot skip one.
pub fn unpacked_bytes_of_run(stored: &[u8], body: Option<&[u8]>) -> StoreResult<Vec<u8>> {
    match stored.split_first() {
        Some((&TAG, rest)) => unpack(rest, &RunDictionary::of_body(body)),
        _ => Ok(stored.to_vec()),
    }
}

/// A JSON text packed as values were before dictionary 2 (dictionary 1, or
/// the text itself when that is not smaller), for tools and tests that
/// build a database as an older reqflow wrote it.
pub fn packed_with_dictionary_1(text: &str) -> Vec<u8> {
    match pack_json(text.to_owned()) {
        StoredJson::Text(t) => t.into_bytes(),
        StoredJson::Packed(p) => p,
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

    const BODY: &str = r#"{"action":"candidate_created","data":{"id":"27270063","name":"Alan Perlman","email":"bench.1@example.com","job":{"shortcode":"GROOV001","title":"Software Engineer"}}}"#;
    const INVITE: &str = r#"{"method":"POST","path":"/invites","json":{"external_id":"27270063","name":"Alan Perlman","email":"bench.1@example.com","role":"Software Engineer","source":"workable"}}"#;

    #[test]
    fn a_runs_values_pack_smaller_with_its_body_and_read_back_only_with_it() {
        let run = RunDictionary::of_body(Some(BODY.as_bytes()));
        assert!(run.bytes.is_some());
        let StoredJson::Packed(with_body) = pack_json_of_run(INVITE.to_owned(), &run) else { panic!("packed") };
        let StoredJson::Packed(without) = pack_json(INVITE.to_owned()) else { panic!("packed") };
        assert_eq!(&with_body[..2], &[TAG, RUN_DICTIONARY_ID]);
        assert!(needs_run_dictionary(&with_body) && !needs_run_dictionary(&without));
        assert!(with_body.len() + 20 < without.len(), "{} vs {}", with_body.len(), without.len());
        assert_eq!(json_text_of_run("t", with_body.clone(), &run).expect("unpack"), INVITE);
        assert_eq!(pack_json_of_run(INVITE.to_owned(), &run), StoredJson::Packed(with_body.clone()), "deterministic");
        // Without the body, or with another run's, it is an error, never a guess.
        assert!(json_text("t", with_body.clone()).is_err());
        let other = RunDictionary::of_body(Some(BODY.replace("Alan", "Ada ").as_bytes()));
        assert!(json_text_of_run("t", with_body.clone(), &other).map_or(true, |t| t != INVITE));
        // Values packed with dictionary 1 (before) read back with a run's dictionary too.
        assert_eq!(json_text_of_run("t", without.clone(), &run).expect("dict 1"), INVITE);
        assert_eq!(unpacked_bytes_of_run(&with_body, Some(BODY.as_bytes())).expect("tool"), INVITE.as_bytes());
        assert!(unpacked_bytes_of_run(&with_body, None).is_err());
    }

    #[test]
    fn a_run_without_a_body_packs_with_dictionary_1() {
        for run in [RunDictionary::of_body(None), RunDictionary::of_body(Some(b""))] {
            assert!(run.bytes.is_none());
            assert_eq!(pack_json_of_run(INVITE.to_owned(), &run), pack_json(INVITE.to_owned()));
        }
    }

    #[test]
    fn only_the_start_of_a_long_body_is_in_the_dictionary() {
        let long = format!("{BODY}{}", " ".repeat(3 * BODY_MAX));
        let run = RunDictionary::of_body(Some(long.as_bytes()));
        assert_eq!(run.bytes.as_ref().map(Vec::len), Some(DICTIONARY_1.len() + BODY_MAX));
        let StoredJson::Packed(p) = pack_json_of_run(INVITE.to_owned(), &run) else { panic!("packed") };
        assert_eq!(json_text_of_run("t", p, &run).expect("unpack"), INVITE);
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
