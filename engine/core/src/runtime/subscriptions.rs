//! Keeping vendor subscriptions in line with `subscribe:` on the served
//! webhook triggers (`serve --public-url`, `reqflow subscriptions sync`).
//!
//! One pass ([`sync`]):
//! - every `(workflow, event)` a trigger declares wants a subscription of
//!   `{public_url}/hooks/{path}?event={event}` (one target per event: a vendor
//!   such as Workable refuses a target that is already registered);
//! - a wanted one that is not recorded, or recorded but gone at the vendor,
//!   is created; a `Conflict` (already registered) is resolved by listing the
//!   account's subscriptions and adopting the one to that target;
//! - a recorded one whose `valid_until` is within `renew_before` is renewed
//!   (removed and created again: Workable has no renew call), as is one whose
//!   `args` changed;
//! - a recorded one that no served trigger declares any more is removed at the
//!   vendor (with any served connection to the same account) and forgotten.
//!
//! Only subscriptions the engine recorded are ever removed. The engine knows
//! no vendor: the [`SubscriptionProvider`] of the connection type talks to it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::Engine;
use super::clock::now_ms;
use crate::action::Connection;
use crate::compile::{CompiledTrigger, CompiledWorkflow};
use crate::store::SubscriptionRecord;
use crate::subscription::{Created, RemoteSubscription, SubscriptionProvider};

/// Default time before `valid_until` at which a subscription is renewed.
pub const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How to sync.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The public address the vendor reaches the engine at, e.g. `https://hooks.example.com`.
    pub public_url: String,
    /// Renew a subscription that expires within this.
    pub renew_before: Duration,
}

/// What happened to one subscription.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Created at the vendor.
    Created,
    /// Already registered at the vendor (a conflict): adopted.
    Adopted,
    /// Recorded and present: left as it is.
    Kept,
    /// Removed and created again (near `valid_until`, or its `args` changed).
    Renewed,
    /// No trigger declares it any more: removed at the vendor.
    Removed,
    /// Could not be brought in line (see `error`).
    Failed,
}

/// One line of a sync's report.
#[derive(Clone, Debug, Serialize)]
pub struct SyncItem {
    /// What happened.
    pub change: Change,
    /// The workflow that declares (or declared) it.
    pub workflow: String,
    /// The connection type (`workable`).
    pub provider: String,
    /// The event.
    pub event: String,
    /// The URL delivered to.
    pub target: String,
    /// The vendor's id, when there is one.
    pub remote_id: Option<String>,
    /// When it expires.
    #[serde(serialize_with = "super::clock::iso::opt_ms")]
    pub valid_until: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A sync's report, in the order things were done.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    /// Every subscription looked at.
    pub items: Vec<SyncItem>,
}

impl SyncReport {
    /// Whether anything failed.
    pub fn has_failures(&self) -> bool {
        self.items.iter().any(|i| i.change == Change::Failed)
    }

    /// How many items had this change.
    pub fn count(&self, change: Change) -> usize {
        self.items.iter().filter(|i| i.change == change).count()
    }
}

/// One wanted subscription.
struct Wanted {
    workflow: String,
    connection: Connection,
    event: String,
    args: Value,
}

/// An account of a provider, with a connection to reach it.
struct Account {
    provider: Arc<dyn SubscriptionProvider>,
    connection: Connection,
    /// Its subscriptions at the vendor, listed once per pass (None: listing failed).
    remote: Option<Vec<RemoteSubscription>>,
}

type Key = (String, String, String);

/// The target of `event` for a webhook at `path`.
pub fn target_url(public_url: &str, path: &str, event: &str) -> String {
    format!("{}/hooks/{}?event={event}", public_url.trim_end_matches('/'), path.trim_matches('/'))
}

/// Brings the vendors' subscriptions in line with the served workflows (see the module doc).
pub async fn sync(engine: &Engine, opts: &SyncOptions) -> SyncReport {
    let mut report = SyncReport::default();
    let mut accounts: BTreeMap<(String, String), Account> = BTreeMap::new();
    let mut wanted: BTreeMap<Key, Wanted> = BTreeMap::new();
    for wf in engine.workflows() {
        collect(engine, &wf, opts, &mut accounts, &mut wanted, &mut report);
    }
    let recorded = match engine.store().subscriptions().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "subscriptions: cannot read the records");
            report.items.push(failed("", "", "", "", format!("cannot read the recorded subscriptions: {e}")));
            return report;
        }
    };
    for acc in accounts.values_mut() {
        acc.remote = match acc.provider.list(&acc.connection).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(connection = %acc.connection.name, error = %engine.settings().mask_str(&e.to_string()), "subscriptions: cannot list");
                None
            }
        };
    }
    let records: HashMap<Key, SubscriptionRecord> =
        recorded.into_iter().map(|r| ((r.provider.clone(), r.account.clone(), r.target.clone()), r)).collect();

    // Removed: recorded, no longer wanted.
    for (key, rec) in &records {
        if wanted.contains_key(key) {
            continue;
        }
        let (provider, account, target) = key;
        let Some(acc) = accounts.get(&(provider.clone(), account.clone())) else {
            report.items.push(failed(
                &rec.workflow_id,
                provider,
                &rec.event,
                target,
                format!(
                    "no longer declared, but no served workflow has a `{provider}` connection to {account} to remove it \
                     with; kept in the records"
                ),
            ));
            continue;
        };
        match acc.provider.delete(&acc.connection, &rec.remote_id).await {
            Ok(_) => {
                if let Err(e) = engine.store().delete_subscription(provider, account, target).await {
                    report.items.push(failed(&rec.workflow_id, provider, &rec.event, target, e.to_string()));
                    continue;
                }
                tracing::info!(workflow = %rec.workflow_id, event = %rec.event, target = %target, "subscription removed");
                report.items.push(item(Change::Removed, rec, None));
            }
            Err(e) => report.items.push(failed(
                &rec.workflow_id,
                provider,
                &rec.event,
                target,
                engine.settings().mask_str(&e.to_string()),
            )),
        }
    }

    // Wanted: kept, renewed, created or adopted.
    let now = now_ms();
    // Report items created without a known expiry, by account; and their records, by item.
    let mut unexpiring: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    let mut created: HashMap<usize, SubscriptionRecord> = HashMap::new();
    let renew_ms = i64::try_from(opts.renew_before.as_millis()).unwrap_or(i64::MAX);
    for (key, w) in &wanted {
        let (provider, account, target) = key;
        let Some(acc) = accounts.get(&(provider.clone(), account.clone())) else { continue };
        let rec = records.get(key);
        let present = |id: &str| acc.remote.as_ref().is_none_or(|l| l.iter().any(|r| r.id == id));
        let mut change = Change::Created;
        if let Some(rec) = rec {
            let same = rec.event == w.event && rec.args == w.args;
            let expiring = rec.valid_until.is_some_and(|v| v - now <= renew_ms);
            if same && !expiring && present(&rec.remote_id) {
                report.items.push(item(Change::Kept, rec, None));
                continue;
            }
            if present(&rec.remote_id) {
                if let Err(e) = acc.provider.delete(&acc.connection, &rec.remote_id).await {
                    let msg = engine.settings().mask_str(&e.to_string());
                    report.items.push(failed(&w.workflow, provider, &w.event, target, format!("renewing: {msg}")));
                    continue;
                }
                change = Change::Renewed;
            }
        }
        let (id, valid_until, change) = match acc.provider.create(&w.connection, &w.event, target, &w.args).await {
            Ok(Created::New { id, valid_until }) => (id, valid_until, change),
            Ok(Created::Conflict) => {
                // Already registered: list, and adopt the one to this target.
                let listed = acc.provider.list(&acc.connection).await;
                match listed.map(|l| l.into_iter().find(|r| r.target == *target)) {
                    Ok(Some(r)) if r.event == w.event => (r.id, r.valid_until, Change::Adopted),
                    Ok(Some(r)) => {
                        report.items.push(failed(
                            &w.workflow,
                            provider,
                            &w.event,
                            target,
                            format!(
                                "the target is already subscribed to `{}` (id {}), not created by reqflow",
                                r.event, r.id
                            ),
                        ));
                        continue;
                    }
                    Ok(None) => {
                        report.items.push(failed(
                            &w.workflow,
                            provider,
                            &w.event,
                            target,
                            "the vendor answered that the target is registered, but does not list it".into(),
                        ));
                        continue;
                    }
                    Err(e) => {
                        let msg = engine.settings().mask_str(&e.to_string());
                        report.items.push(failed(&w.workflow, provider, &w.event, target, msg));
                        continue;
                    }
                }
            }
            Err(e) => {
                let msg = engine.settings().mask_str(&e.to_string());
                report.items.push(failed(&w.workflow, provider, &w.event, target, msg));
                continue;
            }
        };
        let record = SubscriptionRecord {
            provider: provider.clone(),
            account: account.clone(),
            target: target.clone(),
            event: w.event.clone(),
            workflow_id: w.workflow.clone(),
            connection: w.connection.name.clone(),
            remote_id: id,
            args: w.args.clone(),
            valid_until,
            created_at: now_ms(),
        };
        if let Err(e) = engine.store().put_subscription(record.clone()).await {
            report.items.push(failed(
                &w.workflow,
                provider,
                &w.event,
                target,
                format!("created, but not recorded: {e}"),
            ));
            continue;
        }
        tracing::info!(workflow = %w.workflow, event = %w.event, target = %target, remote_id = %record.remote_id, change = ?change, "subscription");
        if record.valid_until.is_none() {
            unexpiring.entry((provider.clone(), account.clone())).or_default().push(report.items.len());
        }
        report.items.push(item(change, &record, None));
        created.insert(report.items.len() - 1, record);
    }

    // Workable answers a creation with its id only: the expiry is in the list, read once per account.
    for (acc_key, indices) in unexpiring {
        let Some(acc) = accounts.get(&acc_key) else { continue };
        let Ok(listed) = acc.provider.list(&acc.connection).await else { continue };
        for i in indices {
            let Some(mut record) = created.remove(&i) else { continue };
            record.valid_until = listed.iter().find(|r| r.id == record.remote_id).and_then(|r| r.valid_until);
            if record.valid_until.is_some() && engine.store().put_subscription(record.clone()).await.is_ok() {
                report.items[i].valid_until = record.valid_until;
            }
        }
    }
    report
}

/// What one workflow wants.
fn collect(
    engine: &Engine,
    wf: &CompiledWorkflow,
    opts: &SyncOptions,
    accounts: &mut BTreeMap<(String, String), Account>,
    wanted: &mut BTreeMap<Key, Wanted>,
    report: &mut SyncReport,
) {
    let CompiledTrigger::Webhook { path, subscribe: Some(sub), .. } = &wf.trigger else { return };
    let fail = |report: &mut SyncReport, event: &str, why: String| {
        let target = target_url(&opts.public_url, path, event);
        report.items.push(failed(&wf.id, &sub.connection_type, event, &target, why));
    };
    let Some(provider) = engine.registry().subscription_provider(&sub.connection_type).cloned() else {
        for e in &sub.events {
            fail(report, e, format!("no subscription provider for connection type `{}`", sub.connection_type));
        }
        return;
    };
    let scope = engine.settings().scope();
    let Some(c) = wf.connections.get(&sub.connection) else { return };
    let connection = match c.settings.eval(&wf.templates, &scope) {
        Ok(settings) => Connection { name: sub.connection.clone(), kind: c.kind.clone(), settings },
        Err(e) => {
            let why = format!("connection `{}`: {}", sub.connection, engine.settings().mask_str(&e.to_string()));
            for ev in &sub.events {
                fail(report, ev, why.clone());
            }
            return;
        }
    };
    let args = match sub.args.eval(&wf.templates, &scope) {
        Ok(a) => a,
        Err(e) => {
            let why = format!("`subscribe.args`: {}", engine.settings().mask_str(&e.to_string()));
            for ev in &sub.events {
                fail(report, ev, why.clone());
            }
            return;
        }
    };
    let account = match provider.account(&connection) {
        Ok(a) => a,
        Err(e) => {
            let why = engine.settings().mask_str(&e.to_string());
            for ev in &sub.events {
                fail(report, ev, why.clone());
            }
            return;
        }
    };
    accounts.entry((sub.connection_type.clone(), account.clone())).or_insert_with(|| Account {
        provider: provider.clone(),
        connection: connection.clone(),
        remote: None,
    });
    for event in &sub.events {
        let target = target_url(&opts.public_url, path, event);
        wanted.insert(
            (sub.connection_type.clone(), account.clone(), target),
            Wanted {
                workflow: wf.id.clone(),
                connection: connection.clone(),
                event: event.clone(),
                args: args.clone(),
            },
        );
    }
}

fn item(change: Change, r: &SubscriptionRecord, error: Option<String>) -> SyncItem {
    SyncItem {
        change,
        workflow: r.workflow_id.clone(),
        provider: r.provider.clone(),
        event: r.event.clone(),
        target: r.target.clone(),
        remote_id: Some(r.remote_id.clone()),
        valid_until: r.valid_until,
        error,
    }
}

fn failed(workflow: &str, provider: &str, event: &str, target: &str, error: String) -> SyncItem {
    tracing::warn!(workflow, event, target, error = %error, "subscription not in line");
    SyncItem {
        change: Change::Failed,
        workflow: workflow.to_owned(),
        provider: provider.to_owned(),
        event: event.to_owned(),
        target: target.to_owned(),
        remote_id: None,
        valid_until: None,
        error: Some(error),
    }
}
