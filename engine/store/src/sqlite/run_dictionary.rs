//! A run's dictionary ([`RunDictionary`]: dictionary 1 and the run's event
//! body as received) on SQLite, for the values of its attempts and step
//! results (`steps`).
//!
//! The writer packs with it: the writer thread keeps the dictionaries of the
//! last [`KEPT`] runs it wrote values of, so a run's attempts pay one read of
//! its event for all of them. A run's body never changes; erasure and
//! retention empty the cache ([`forget_all`]) in their job, so no erased body
//! stays in memory. Readers fetch it once per read of a run, and only when
//! one of the values read needs it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use reqflow_engine::store::StoreResult;
use rusqlite::Connection;

use crate::error::{db, sql};
use crate::packed::{self, RunDictionary};

/// How many runs' dictionaries the writer thread keeps.
const KEPT: usize = 64;

thread_local! {
    /// The writer thread's recent runs (by id) and their dictionaries,
    /// newest last.
    static RECENT: RefCell<VecDeque<(String, Rc<RunDictionary>)>> = const { RefCell::new(VecDeque::new()) };
}

/// The event body as received of the run `run_id`, from its stored form
/// (`None`: no body, or the run is gone). A body that cannot be unpacked is
/// `None` with a warning: the run's new values then use dictionary 1, and
/// stay readable.
fn body(raw: Option<Vec<u8>>, raw_packed: bool) -> Option<Vec<u8>> {
    let raw = raw?;
    if !raw_packed {
        return Some(raw);
    }
    match packed::unpack_raw(&raw) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(error = %e, "a run's event body cannot be unpacked: its values use dictionary 1");
            None
        }
    }
}

/// The dictionary of the run `run_id`, in the writer (inside its
/// transaction).
pub(super) fn in_writer(c: &Connection, run_id: &str) -> StoreResult<Rc<RunDictionary>> {
    let kept = RECENT.with(|r| r.borrow().iter().rev().find(|(id, _)| id == run_id).map(|(_, d)| d.clone()));
    if let Some(d) = kept {
        return Ok(d);
    }
    let row = c
        .prepare_cached(
            "SELECT e.raw_body, e.raw_packed FROM runs AS r JOIN events AS e ON e.event_id = r.event_id
             WHERE r.run_id = ?",
        )
        .and_then(|mut s| s.query_row([run_id], |r| Ok((r.get::<_, Option<Vec<u8>>>(0)?, r.get::<_, bool>(1)?))));
    let (raw, raw_packed) = match row {
        Ok(r) => r,
        // No run (erased): nothing of it is written.
        Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(Rc::new(RunDictionary::default())),
        Err(e) => return Err(sql(e)),
    };
    let d = Rc::new(RunDictionary::of_body(body(raw, raw_packed).as_deref()));
    RECENT.with(|r| {
        let mut r = r.borrow_mut();
        if r.len() == KEPT {
            r.pop_front();
        }
        r.push_back((run_id.to_owned(), d.clone()));
    });
    Ok(d)
}

/// Empties the writer thread's cache (erasure, retention: in their job).
pub(super) fn forget_all() {
    RECENT.with(|r| r.borrow_mut().clear());
}

/// The dictionary of the run `run_id` for reading values of it: fetched
/// only when one of them needs it (`needed`: see
/// [`packed::needs_run_dictionary`]).
pub(super) async fn for_reading(
    c: &mut sqlx::SqliteConnection,
    run_id: &str,
    needed: bool,
) -> StoreResult<RunDictionary> {
    if !needed {
        return Ok(RunDictionary::default());
    }
    let row: Option<(Option<Vec<u8>>, bool)> = sqlx::query_as(
        "SELECT e.raw_body, e.raw_packed FROM runs AS r JOIN events AS e ON e.event_id = r.event_id
         WHERE r.run_id = ?",
    )
    .bind(run_id)
    .fetch_optional(c)
    .await
    .map_err(db)?;
    let raw = match row {
        Some((raw, raw_packed)) if raw_packed => raw.map(|r| packed::unpack_raw(&r)).transpose()?,
        Some((raw, _)) => raw,
        None => None,
    };
    Ok(RunDictionary::of_body(raw.as_deref()))
}
