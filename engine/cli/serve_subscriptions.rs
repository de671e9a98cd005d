//! `serve --public-url`: the managed subscriptions kept in line while
//! serving: once at start (printed), then whenever the served workflows
//! change (a deploy, a reload) and every hour (renewals).

use std::time::{Duration, Instant};

use reqflow_engine::runtime::Engine;
use reqflow_engine::runtime::subscriptions::{Change, SyncOptions, sync};

/// How often renewals are looked for when nothing else changed.
const EVERY: Duration = Duration::from_secs(3600);
/// How often the served workflows are compared with the last sync's.
const POLL: Duration = Duration::from_secs(2);

/// The served workflows' ids and versions: a change asks for a sync.
fn fingerprint(engine: &Engine) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = engine.workflows().iter().map(|w| (w.id.clone(), w.hash.clone())).collect();
    v.sort();
    v
}

/// The first sync, printed on stderr like the rest of the start banner.
pub(crate) async fn first(engine: &Engine, opts: &SyncOptions) {
    let done = sync(engine, opts).await;
    if done.items.is_empty() {
        eprintln!("reqflow: subscriptions: no workflow declares `subscribe:`");
        return;
    }
    eprintln!("reqflow: subscriptions (pointing at {}):", opts.public_url);
    let mut out = Vec::new();
    if crate::subscriptions_cmd::print_sync(&done, &mut out).is_ok() {
        for line in String::from_utf8_lossy(&out).lines() {
            eprintln!("  {line}");
        }
    }
}

/// Syncs again when the served workflows change, and every hour, until `stop`.
pub(crate) fn spawn(
    engine: Engine,
    opts: SyncOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = fingerprint(&engine);
        let mut at = Instant::now();
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(POLL) => {}
            }
            let now = fingerprint(&engine);
            if now == last && at.elapsed() < EVERY {
                continue;
            }
            let done = sync(&engine, &opts).await;
            tracing::info!(
                created = done.count(Change::Created) + done.count(Change::Adopted),
                renewed = done.count(Change::Renewed),
                removed = done.count(Change::Removed),
                failed = done.count(Change::Failed),
                "subscriptions synced"
            );
            last = now;
            at = Instant::now();
        }
    })
}
