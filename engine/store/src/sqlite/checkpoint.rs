//! WAL checkpoints on their own thread, off the writer's path.
//!
//! With SQLite's automatic checkpoint, the commit that crosses 1,000 WAL
//! pages copies them into the database file itself, on the writer thread,
//! and every write queued behind it waits: about a tenth of the writer's
//! time on the seed path (`reqflow bench seed`, perf). Here the writer's
//! connection has `wal_autocheckpoint = 0` and nudges this thread after each
//! commit; it runs a `PASSIVE` checkpoint (which never blocks the writer) at
//! most every [`EVERY`], on a connection of its own. The writer then
//! restarts the WAL from its start once a checkpoint has copied all of it,
//! as before, so the WAL stays bounded.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use reqflow_engine::store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};

use crate::error::sql;

/// Least time between two checkpoints.
const EVERY: Duration = Duration::from_millis(250);

/// Checkpoint even without a nudge this often (a quiet store's last writes).
const IDLE: Duration = Duration::from_secs(1);

/// The writer's side: nudges after commits; the thread stops when it is dropped.
#[derive(Debug)]
pub(crate) struct Nudge(SyncSender<()>);

impl Nudge {
    /// Something was committed (never blocks).
    pub fn commit(&self) {
        let _ = self.0.try_send(());
    }
}

/// Starts the checkpoint thread on the database file `path`.
pub(crate) fn spawn(path: &Path, busy_timeout: Duration) -> StoreResult<Nudge> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    conn.busy_timeout(busy_timeout).map_err(sql)?;
    let (tx, rx) = sync_channel(1);
    std::thread::Builder::new()
        .name("reqflow-sqlite-checkpoint".to_owned())
        .spawn(move || run(&conn, &rx))
        .map_err(|e| StoreError::Database(format!("cannot start the SQLite checkpoint thread: {e}")))?;
    Ok(Nudge(tx))
}

fn run(conn: &Connection, rx: &Receiver<()>) {
    let mut last = Instant::now();
    loop {
        match rx.recv_timeout(IDLE) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let since = last.elapsed();
        if since < EVERY {
            std::thread::sleep(EVERY - since);
        }
        last = Instant::now();
        // Errors (e.g. SQLITE_BUSY while another process checkpoints) are
        // harmless: the next nudge tries again.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            eprintln!("reqflow: SQLite checkpoint failed (will retry): {e}");
        }
    }
}
