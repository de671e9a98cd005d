//! Workable SPI v3: the `workable` connection type (`connection`), the
//! client with per-token rate limiting ([`client`], [`ratelimit`]), and the
//! `workable.*` actions ([`actions`]), and the provider of managed
//! webhook subscriptions ([`subscriptions`]).

pub mod actions;
pub mod check;
pub mod client;
mod connection;
mod params;
pub mod ratelimit;
pub mod subscriptions;

use std::sync::Arc;

use reqflow_engine::action::{ConnectionType, Registry};

pub use connection::{RateLimit, TokenType, WorkableConnection};
pub use params::*;

/// Registers the `workable` connection type, the `workable.*` actions and the
/// subscription provider (`subscribe:` on webhook triggers).
pub fn register(registry: &mut Registry) {
    use actions::*;
    registry.register_connection_type(
        ConnectionType::of::<WorkableConnection>(
            "workable",
            "Workable SPI v3: account subdomain (or base URL) and token",
        )
        .with_hooks(std::sync::Arc::new(check::WorkableHooks)),
    );
    registry
        .register(JobsList)
        .register(JobsGet)
        .register(JobsStages)
        .register(CandidatesList)
        .register(CandidatesGet)
        .register(CandidatesCreate)
        .register(CandidatesUpdate)
        .register(CandidatesActivities)
        .register(CandidatesComment)
        .register(CandidatesRate)
        .register(CandidatesMove)
        .register(CandidatesDisqualify)
        .register(MembersList)
        .register(SubscriptionsCreate)
        .register(SubscriptionsList)
        .register(SubscriptionsDelete);
    registry.register_subscription_provider(Arc::new(subscriptions::WorkableSubscriptions));
}
