//! Credentials at rest: every value of the shared state (OAuth access and
//! refresh tokens, cached by connections such as Workday's) is encrypted
//! before it reaches the store, and decrypted when read back.
//!
//! - **Cipher**: XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`), an
//!   AEAD: a value that was altered, or that was encrypted with another key,
//!   does not decrypt at all (it is never returned half-right).
//! - **Nonce**: 24 random bytes from the operating system, new for every write
//!   (random nonces are safe at this size: XChaCha's nonce is long enough
//!   that two writes never pick the same one in practice).
//! - **Associated data**: the shared-state key name (prefixed with the
//!   format's version), so a value copied to another key name in the
//!   database does not decrypt there.
//! - **Stored form**: a JSON string `"rfenc:v1:<base64 of nonce ‖ ciphertext>"`,
//!   where the plaintext is the value's JSON text.
//! - **The key** ([`StateKey`]): 32 bytes, given in base64 as the secret
//!   `KEY` (`REQFLOW_SECRET_KEY`, or `KEY=…` in the `--secrets` file). It is
//!   masked like every secret but is not one of the workflows' `secrets`
//!   (a workflow cannot read it, so it cannot be sent anywhere).
//! - **Without a key** nothing is stored: a write fails with an error saying
//!   how to set one ([`NO_KEY_MESSAGE`]). Reads still work for values
//!   stored in plaintext before this change.
//! - **Values written before encryption existed** (plaintext JSON) are read
//!   as they are; the next write of that key replaces them with an encrypted
//!   value (for a Workday connection, at the next token refresh, within the
//!   hour). Until then they stay in plaintext in the database.
//! - **Key rotation** is not built yet: changing the key makes the stored
//!   values unreadable (a step reading one fails with
//!   [`UNDECRYPTABLE_MESSAGE`]).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::Value;

use super::secrets::Secrets;
use crate::action::{ActionError, BoxFuture, SharedState};

/// The name of the secret holding the key (`REQFLOW_SECRET_KEY`, `KEY=…`).
pub const KEY_SECRET: &str = "KEY";
/// Bytes in a key.
pub const KEY_LEN: usize = 32;
/// Prefix of a stored encrypted value, with the format's version.
pub const SEALED_PREFIX: &str = "rfenc:v1:";
/// Prefix shared by every version of the format.
const ANY_VERSION_PREFIX: &str = "rfenc:";
/// Bytes in a nonce (XChaCha20).
const NONCE_LEN: usize = 24;

/// What a write without a key says (the step's error).
pub const NO_KEY_MESSAGE: &str = "reqflow keeps connection credentials encrypted and no key is set: \
     set REQFLOW_SECRET_KEY to 32 random bytes in base64 (`head -c 32 /dev/urandom | base64`) \
     or KEY=… in the --secrets file, then restart";
/// What a value that does not decrypt says.
pub const UNDECRYPTABLE_MESSAGE: &str = "a stored connection credential cannot be decrypted with the configured \
     key (REQFLOW_SECRET_KEY / KEY in the --secrets file): the key changed since it was stored, or the \
     stored value was altered";

/// The key the shared state is encrypted with: 32 bytes. Its `Debug` shows
/// nothing of it; it has no `Display`.
#[derive(Clone)]
pub struct StateKey([u8; KEY_LEN]);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey(***)")
    }
}

/// Why a key could not be made. Never contains the key or any part of it.
#[derive(Debug, thiserror::Error)]
pub enum StateKeyError {
    /// The text is not base64.
    #[error(
        "the secret KEY (REQFLOW_SECRET_KEY or KEY=… in the --secrets file) is not valid base64: \
         it must be 32 random bytes in base64 (`head -c 32 /dev/urandom | base64`)"
    )]
    NotBase64,
    /// The text is base64 of the wrong number of bytes.
    #[error(
        "the secret KEY (REQFLOW_SECRET_KEY or KEY=… in the --secrets file) decodes to {0} bytes: \
         it must be 32 random bytes in base64 (`head -c 32 /dev/urandom | base64`)"
    )]
    WrongLength(usize),
    /// The operating system gave no random bytes.
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

impl StateKey {
    /// A key from its base64 text (standard alphabet, padded; surrounding
    /// whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, StateKeyError> {
        // The decoder's own error names the offending character: not repeated.
        let bytes = STANDARD.decode(text.trim()).map_err(|_| StateKeyError::NotBase64)?;
        let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| StateKeyError::WrongLength(bytes.len()))?;
        Ok(StateKey(key))
    }

    /// A random key, for a process whose store does not outlive it
    /// (`reqflow test`): what it encrypts cannot be read by anyone later.
    pub fn random() -> Result<Self, StateKeyError> {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| StateKeyError::Random(e.to_string()))?;
        Ok(StateKey(key))
    }

    /// The key in the secret `KEY`, if it is set.
    pub fn from_secrets(secrets: &Secrets) -> Result<Option<Self>, StateKeyError> {
        secrets.reserved(KEY_SECRET).map(Self::from_base64).transpose()
    }

    /// A key for another purpose, derived from this one:
    /// HMAC-SHA256(this key, `label`). Knowing it tells nothing of this key.
    pub fn derive(&self, label: &str) -> [u8; KEY_LEN] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

/// The associated data of a value stored at `name`.
fn aad(name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SEALED_PREFIX.len() + name.len());
    aad.extend_from_slice(SEALED_PREFIX.as_bytes());
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// `value`, encrypted for the key name `name`, as stored.
pub fn seal(key: &StateKey, name: &str, value: &Value) -> Result<Value, ActionError> {
    let plain = serde_json::to_vec(value)
        .map_err(|e| ActionError::permanent(format!("shared state `{name}`: {e}")).with_code("state.encode"))?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| {
        ActionError::retryable(format!("the operating system's random source failed: {e}")).with_code("state.random")
    })?;
    let sealed = key
        .cipher()
        .encrypt(&XNonce::from(nonce), Payload { msg: &plain, aad: &aad(name) })
        .map_err(|_| ActionError::permanent("encrypting a connection credential failed").with_code("state.encrypt"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(Value::String(format!("{SEALED_PREFIX}{}", STANDARD.encode(out))))
}

/// Whether a stored value is in the encrypted form (of any version).
pub fn is_sealed(stored: &Value) -> bool {
    stored.as_str().is_some_and(|s| s.starts_with(ANY_VERSION_PREFIX))
}

fn undecryptable() -> ActionError {
    ActionError::permanent(UNDECRYPTABLE_MESSAGE).with_code("state.undecryptable")
}

/// The value stored at `name`, decrypted. A value that is not in the
/// encrypted form (stored before encryption) is returned as it is.
pub fn open(key: &StateKey, name: &str, stored: Value) -> Result<Value, ActionError> {
    let Some(text) = stored.as_str().filter(|s| s.starts_with(ANY_VERSION_PREFIX)) else {
        return Ok(stored);
    };
    let Some(body) = text.strip_prefix(SEALED_PREFIX) else {
        return Err(ActionError::permanent(
            "a stored connection credential is in an encrypted format this version of reqflow does not know",
        )
        .with_code("state.undecryptable"));
    };
    let bytes = STANDARD.decode(body).map_err(|_| undecryptable())?;
    if bytes.len() < NONCE_LEN {
        return Err(undecryptable());
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| undecryptable())?;
    let plain = key
        .cipher()
        .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: &aad(name) })
        .map_err(|_| undecryptable())?;
    serde_json::from_slice(&plain).map_err(|_| undecryptable())
}

/// The engine's [`SharedState`]: the store's, with every value encrypted on
/// `put` and decrypted on `get` (see the module docs).
#[derive(Debug)]
pub struct SealedState {
    inner: Arc<dyn SharedState>,
    key: Option<StateKey>,
}

impl SealedState {
    /// `inner`'s values, sealed with `key`; with `None`, writes fail with
    /// [`NO_KEY_MESSAGE`].
    pub fn new(inner: Arc<dyn SharedState>, key: Option<StateKey>) -> Self {
        SealedState { inner, key }
    }
}

impl SharedState for SealedState {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Value>, ActionError>> {
        Box::pin(async move {
            let Some(stored) = self.inner.get(key).await? else { return Ok(None) };
            match &self.key {
                Some(k) => {
                    if !is_sealed(&stored) {
                        tracing::warn!(
                            state_key = key,
                            "shared state value stored in plaintext (before encryption): used as is, \
                             encrypted at its next write"
                        );
                    }
                    open(k, key, stored).map(Some)
                }
                None if is_sealed(&stored) => Err(ActionError::permanent(format!(
                    "a stored connection credential is encrypted but no key is configured: {NO_KEY_MESSAGE}"
                ))
                .with_code("state.no_key")),
                None => Ok(Some(stored)),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: Value) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move {
            let Some(k) = &self.key else {
                return Err(ActionError::permanent(NO_KEY_MESSAGE).with_code("state.no_key"));
            };
            let sealed = seal(k, key, &value)?;
            self.inner.put(key, sealed).await
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::action::MemoryState;

    fn key() -> StateKey {
        StateKey::from_base64(&STANDARD.encode([7u8; KEY_LEN])).expect("key")
    }

    fn token() -> Value {
        json!({"access_token": "wd-access-000042", "refresh_token": "refresh-secret-1", "expires_at": 1})
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_value() {
        let k = key();
        let sealed = seal(&k, "workday.oauth.a", &token()).expect("seal");
        let text = sealed.as_str().expect("a string");
        assert!(text.starts_with("rfenc:v1:"), "{text}");
        assert!(!text.contains("wd-access") && !text.contains("refresh-secret"), "{text}");
        // A new nonce each time: the same value never looks the same twice.
        assert_ne!(seal(&k, "workday.oauth.a", &token()).expect("seal"), sealed);
        assert_eq!(open(&k, "workday.oauth.a", sealed).expect("open"), token());
    }

    #[test]
    fn another_key_does_not_open_it() {
        let sealed = seal(&key(), "workday.oauth.a", &token()).expect("seal");
        let other = StateKey::random().expect("random key");
        let e = open(&other, "workday.oauth.a", sealed).expect_err("wrong key");
        assert_eq!(e.code.as_deref(), Some("state.undecryptable"));
        assert!(e.message.contains("cannot be decrypted with the configured key"), "{}", e.message);
        assert!(!e.message.contains("wd-access"), "{}", e.message);
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let k = key();
        let sealed = seal(&k, "workday.oauth.a", &token()).expect("seal");
        let text = sealed.as_str().expect("string");
        let mut bytes = STANDARD.decode(&text[SEALED_PREFIX.len()..]).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = Value::String(format!("{SEALED_PREFIX}{}", STANDARD.encode(&bytes)));
        let e = open(&k, "workday.oauth.a", tampered).expect_err("tampered");
        assert_eq!(e.code.as_deref(), Some("state.undecryptable"));
        // Truncated, not base64, unknown version: refused too, never panics.
        for bad in ["rfenc:v1:", "rfenc:v1:AAAA", "rfenc:v1:not base64!", "rfenc:v2:AAAA"] {
            let e = open(&k, "workday.oauth.a", json!(bad)).expect_err(bad);
            assert_eq!(e.code.as_deref(), Some("state.undecryptable"), "{bad}");
        }
    }

    #[test]
    fn a_value_moved_to_another_key_name_does_not_open() {
        let k = key();
        let sealed = seal(&k, "workday.oauth.a", &token()).expect("seal");
        let e = open(&k, "workday.oauth.b", sealed).expect_err("moved");
        assert_eq!(e.code.as_deref(), Some("state.undecryptable"));
    }

    #[tokio::test]
    async fn legacy_plaintext_is_read_as_is_then_encrypted_at_the_next_put() {
        let store = Arc::new(MemoryState::default());
        store.put("workday.oauth.a", token()).await.expect("legacy write");
        let sealed = SealedState::new(store.clone(), Some(key()));
        assert_eq!(sealed.get("workday.oauth.a").await.expect("get"), Some(token()));
        sealed.put("workday.oauth.a", token()).await.expect("put");
        let raw = store.get("workday.oauth.a").await.expect("raw").expect("stored");
        assert!(is_sealed(&raw), "{raw}");
        assert_eq!(sealed.get("workday.oauth.a").await.expect("get"), Some(token()));
        assert_eq!(sealed.get("missing").await.expect("get"), None);
    }

    #[tokio::test]
    async fn without_a_key_nothing_is_stored() {
        let store = Arc::new(MemoryState::default());
        let sealed = SealedState::new(store.clone(), None);
        let e = sealed.put("workday.oauth.a", token()).await.expect_err("no key");
        assert_eq!(e.code.as_deref(), Some("state.no_key"));
        assert!(e.message.contains("set REQFLOW_SECRET_KEY"), "{}", e.message);
        assert_eq!(store.get("workday.oauth.a").await.expect("raw"), None);
        // An encrypted value cannot be read without the key either.
        store.put("x", seal(&key(), "x", &token()).expect("seal")).await.expect("raw put");
        assert_eq!(sealed.get("x").await.expect_err("no key").code.as_deref(), Some("state.no_key"));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64_and_never_show() {
        assert!(matches!(StateKey::from_base64("not base64 at all!"), Err(StateKeyError::NotBase64)));
        let short = STANDARD.encode([1u8; 16]);
        let e = StateKey::from_base64(&short).expect_err("16 bytes");
        assert!(matches!(e, StateKeyError::WrongLength(16)), "{e}");
        assert!(e.to_string().contains("32 random bytes in base64"), "{e}");
        assert!(!e.to_string().contains(&short), "{e}");
        let text = format!(" {}\n", STANDARD.encode([9u8; KEY_LEN]));
        let k = StateKey::from_base64(&text).expect("32 bytes, whitespace trimmed");
        assert_eq!(format!("{k:?}"), "StateKey(***)");
    }

    #[test]
    fn the_key_secret_is_masked_but_not_a_workflow_secret() {
        let text = STANDARD.encode([3u8; KEY_LEN]);
        let mut s = Secrets::new();
        s.insert(KEY_SECRET, text.clone());
        s.insert("OTHER", "other-secret".into());
        assert!(StateKey::from_secrets(&s).expect("valid").is_some());
        assert_eq!(s.to_json(), json!({"OTHER": "other-secret"}));
        assert_eq!(s.mask_str(&format!("k={text}")), "k=***");
        assert!(StateKey::from_secrets(&Secrets::new()).expect("none").is_none());
    }
}
