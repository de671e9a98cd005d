//! API tokens of the admin plane: issued once, kept as a SHA-256 hash,
//! checked on every admin request.
//!
//! A token is `rft_` and 32 bytes from the operating system's CSPRNG in
//! unpadded base64url (256 bits: a plain SHA-256 is enough to keep it, no
//! slow password hash is needed, and the lookup by hash reveals nothing
//! about tokens that do not match).

use base64::Engine as _;

use crate::store::{NewToken, Scope, Store, StoreError, TokenRecord};

/// What every token starts with (lets secret scanners recognise one).
pub const TOKEN_PREFIX: &str = "rft_";

/// Why a token could not be issued or was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The request carried no `Authorization: Bearer` header.
    #[error("missing `Authorization: Bearer <token>` header (create a token with `reqflow tokens create`)")]
    Missing,
    /// The header is not a reqflow token, or no such token exists.
    #[error("unknown token")]
    Unknown,
    /// The token was revoked.
    #[error("the token `{0}` was revoked")]
    Revoked(String),
    /// The token expired.
    #[error("the token `{0}` has expired")]
    Expired(String),
    /// A token name that cannot be used.
    #[error("invalid token name `{0}`: use 1 to 64 letters, digits, `-`, `_` or `.`")]
    BadName(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The operating system's random source failed.
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
}

/// SHA-256 of a token, hex: what the store keeps.
pub fn hash_token(token: &str) -> String {
    crate::sha256_hex(token.as_bytes())
}

/// Whether `name` can name a token.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Issues a token: stores its hash and returns the token, which is shown
/// once and never again.
pub async fn issue(
    store: &dyn Store,
    name: &str,
    scope: Scope,
    subject_access: bool,
    expires_at: Option<i64>,
    now: i64,
) -> Result<String, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::BadName(name.to_owned()));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| TokenError::Random(e.to_string()))?;
    let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    store
        .create_token(NewToken {
            name: name.to_owned(),
            scope,
            hash: hash_token(&token),
            subject_access,
            created_at: now,
            expires_at,
        })
        .await?;
    Ok(token)
}

/// The token an `Authorization` header value presents, if it is active at `now`.
pub async fn verify(store: &dyn Store, authorization: Option<&str>, now: i64) -> Result<TokenRecord, TokenError> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(TokenError::Missing)?;
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(TokenError::Unknown);
    }
    verify_hash(store, &hash_token(token), now).await
}

/// The token whose SHA-256 ([`hash_token`]) is `hash`, if it is active at
/// `now`: how a console session, which keeps only the hash, is re-checked on
/// every request (a revoked or expired token ends its sessions at once).
pub async fn verify_hash(store: &dyn Store, hash: &str, now: i64) -> Result<TokenRecord, TokenError> {
    let record = store.token_by_hash(hash).await?.ok_or(TokenError::Unknown)?;
    if record.revoked_at.is_some() {
        return Err(TokenError::Revoked(record.name));
    }
    if !record.is_active(now) {
        return Err(TokenError::Expired(record.name));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("prometheus"));
        assert!(valid_name("ci-bot_2.x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
    }

    #[test]
    fn hash_is_stable_hex() {
        let h = hash_token("rft_abc");
        assert_eq!(h.len(), 64);
        assert_eq!(h, hash_token("rft_abc"));
        assert_ne!(h, hash_token("rft_abd"));
    }
}
