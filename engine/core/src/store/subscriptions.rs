//! What the engine subscribed at vendors (`subscribe:` on webhook triggers):
//! one record per subscription it created, so that it removes only its own
//! and renews them before they expire.

use serde::Serialize;

use crate::action::BoxFuture;

use super::StoreResult;

/// A subscription the engine created (or adopted after a conflict).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscriptionRecord {
    /// The connection type whose provider created it (`workable`).
    pub provider: String,
    /// The vendor account (the provider's account key, e.g. the API root).
    pub account: String,
    /// The URL the vendor delivers to. With `provider` and `account`, the key.
    pub target: String,
    /// The event delivered.
    pub event: String,
    /// The workflow whose trigger declared it.
    pub workflow_id: String,
    /// The connection (in that workflow) it was created with.
    pub connection: String,
    /// The vendor's id.
    pub remote_id: String,
    /// The `args` it was created with (JSON; null for none).
    pub args: serde_json::Value,
    /// When the vendor says it expires (Unix ms), if it does.
    #[serde(serialize_with = "crate::runtime::clock::iso::opt_ms")]
    pub valid_until: Option<i64>,
    /// When it was created (Unix ms).
    #[serde(serialize_with = "crate::runtime::clock::iso::ms")]
    pub created_at: i64,
}

/// The records of managed subscriptions.
pub trait SubscriptionStore: Send + Sync {
    /// Every record, by provider, account and target.
    fn subscriptions(&self) -> BoxFuture<'_, StoreResult<Vec<SubscriptionRecord>>>;

    /// Records one, replacing the record with the same provider, account and target.
    fn put_subscription(&self, record: SubscriptionRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// Forgets one; `false` when there was none.
    fn delete_subscription(&self, provider: &str, account: &str, target: &str) -> BoxFuture<'_, StoreResult<bool>>;
}
