//! What the admin plane persists: API tokens (by hash only) and the audit
//! trail of state-changing calls.

use serde::Serialize;

use crate::action::BoxFuture;

use super::StoreResult;

/// What a token may do. Ordered: each scope includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every `GET` of the API, and `/metrics`.
    Read,
    /// Also operator actions: retries, manual runs.
    Operate,
    /// Also tokens, the audit trail, deploys and erasure.
    Admin,
}

impl Scope {
    /// The name stored and shown.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
        }
    }

    /// Parses `read`, `operate` or `admin`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "read" => Scope::Read,
            "operate" => Scope::Operate,
            "admin" => Scope::Admin,
            _ => return None,
        })
    }

    /// Whether a token of this scope may do what `needed` requires.
    pub fn allows(&self, needed: Scope) -> bool {
        *self >= needed
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A token to store. The token itself is never stored: only its hash.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// Unique among tokens that are not revoked.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Whether a `read` or `operate` token may also export everything held
    /// about one person (`GET /api/subjects/{value}`); `admin` always may.
    pub subject_access: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; `None`: never.
    pub expires_at: Option<i64>,
}

/// A stored token, as listed (no hash, no secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// Whether it may export a subject's data below `admin` scope
    /// (see [`NewToken::subject_access`]).
    pub subject_access: bool,
    /// Unix ms.
    #[serde(serialize_with = "crate::runtime::clock::iso::ms")]
    pub created_at: i64,
    /// Unix ms, if it expires.
    #[serde(serialize_with = "crate::runtime::clock::iso::opt_ms")]
    pub expires_at: Option<i64>,
    /// Unix ms, if revoked.
    #[serde(serialize_with = "crate::runtime::clock::iso::opt_ms")]
    pub revoked_at: Option<i64>,
}

impl TokenRecord {
    /// Whether it may export a subject's data: `admin`, or a smaller scope
    /// issued with subject access.
    pub fn may_access_subjects(&self) -> bool {
        self.subject_access || self.scope == Scope::Admin
    }

    /// Whether it authenticates a request at `now`.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// How a state-changing call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// It did what was asked.
    Ok,
    /// The token's scope was too small: nothing changed.
    Denied,
    /// It was refused or failed (the detail says why): nothing changed, or
    /// only what the detail lists.
    Failed,
}

impl AuditOutcome {
    /// The name stored and shown.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ok" => AuditOutcome::Ok,
            "denied" => AuditOutcome::Denied,
            "failed" => AuditOutcome::Failed,
            _ => return None,
        })
    }
}

/// One state-changing call, to record.
#[derive(Clone, Debug)]
pub struct NewAudit {
    /// Unix ms.
    pub at: i64,
    /// Who: `token:NAME`, or `cli` for a command run on the store directly.
    pub actor: String,
    /// What, e.g. `run.retry`, `token.create` (see `docs/security.md`).
    pub action: String,
    /// On which objects (run ids, token names, workflow ids).
    pub objects: Vec<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Details: the answer's status, an error message, parameters.
    pub detail: serde_json::Value,
}

/// A recorded call.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord {
    /// Increasing with time.
    pub id: i64,
    /// Unix ms.
    #[serde(serialize_with = "crate::runtime::clock::iso::ms")]
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On which objects.
    pub objects: Vec<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Details.
    pub detail: serde_json::Value,
}

/// Which audit records to list: newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// At or after (Unix ms).
    pub since: Option<i64>,
    /// Before (Unix ms).
    pub until: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
    /// Older than this id (paging).
    pub before: Option<i64>,
}

/// API tokens.
pub trait TokenStore: Send + Sync {
    /// Stores a token. A token of the same name that is not revoked but has
    /// expired is revoked first; one that is active → `Conflict`.
    fn create_token(&self, token: NewToken) -> BoxFuture<'_, StoreResult<()>>;

    /// The token with this hash (active or not).
    fn token_by_hash(&self, hash: &str) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>>;

    /// Every token, newest first.
    fn tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>>;

    /// Revokes the token of this name that is not revoked; `false` when there is none.
    fn revoke_token(&self, name: &str, now: i64) -> BoxFuture<'_, StoreResult<bool>>;
}

/// The audit trail.
pub trait AuditStore: Send + Sync {
    /// Records a call.
    fn audit(&self, entry: NewAudit) -> BoxFuture<'_, StoreResult<()>>;

    /// Recorded calls, newest first.
    fn audit_log(&self, filter: AuditFilter) -> BoxFuture<'_, StoreResult<Vec<AuditRecord>>>;
}
