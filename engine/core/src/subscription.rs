//! Subscription providers: a connection type whose vendor delivers events to
//! a URL it was told about (Workable's `POST /subscriptions`). A webhook
//! trigger's `subscribe:` names a connection of such a type; the engine
//! keeps the vendor's subscriptions in line with what the served workflows
//! declare ([`crate::runtime::subscriptions`]) without knowing the vendor:
//! the provider, registered by the connector crate, does the talking.

use std::fmt;

use serde_json::Value;

use crate::action::{ActionError, BoxFuture, Connection};
use crate::spec::{HmacAlgorithm, HmacEncoding};

/// How the vendor signs what it delivers to a subscription, so that a trigger
/// with `subscribe:` and no `auth:` checks it without the user writing the key
/// again.
#[derive(Clone, Debug)]
pub struct DeliverySignature {
    /// The header with the signature, e.g. `X-Workable-Signature`.
    pub header: String,
    /// The hash function.
    pub algorithm: HmacAlgorithm,
    /// Hex or base64.
    pub encoding: HmacEncoding,
    /// The connection setting holding the key (Workable: `token`, the token
    /// that creates the subscription signs its deliveries).
    pub key_setting: String,
}

/// A subscription as the vendor lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSubscription {
    /// The vendor's id.
    pub id: String,
    /// The event delivered.
    pub event: String,
    /// Where it is delivered.
    pub target: String,
    /// When it expires (Unix ms), if it does.
    pub valid_until: Option<i64>,
}

/// What creating a subscription gave.
#[derive(Clone, Debug)]
pub enum Created {
    /// Created: the vendor's id and when it expires, if known.
    New {
        /// The vendor's id.
        id: String,
        /// Unix ms.
        valid_until: Option<i64>,
    },
    /// The vendor already has a subscription to this target (Workable's 409).
    Conflict,
}

/// A connection type whose vendor delivers events to subscribed URLs.
pub trait SubscriptionProvider: Send + Sync {
    /// The connection type it serves (`type:` in `connections:`).
    fn connection_type(&self) -> &str;

    /// The events a trigger may subscribe to.
    fn events(&self) -> &[&str];

    /// How deliveries are signed.
    fn signature(&self) -> DeliverySignature;

    /// Which vendor account the connection reaches (e.g. its API root): the
    /// subscriptions of one account are listed together, and a subscription
    /// recorded for an account is removed with any connection to it.
    fn account(&self, connection: &Connection) -> Result<String, ActionError>;

    /// Every subscription of the account.
    fn list<'a>(&'a self, connection: &'a Connection) -> BoxFuture<'a, Result<Vec<RemoteSubscription>, ActionError>>;

    /// Subscribes `target` to `event`, with the trigger's `args` (an object, or null).
    fn create<'a>(
        &'a self,
        connection: &'a Connection,
        event: &'a str,
        target: &'a str,
        args: &'a Value,
    ) -> BoxFuture<'a, Result<Created, ActionError>>;

    /// Removes a subscription; `Ok(false)` when the vendor no longer had it.
    fn delete<'a>(&'a self, connection: &'a Connection, id: &'a str) -> BoxFuture<'a, Result<bool, ActionError>>;
}

impl fmt::Debug for dyn SubscriptionProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionProvider").field("connection_type", &self.connection_type()).finish()
    }
}
