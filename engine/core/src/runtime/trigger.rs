//! Turning a trigger request into an event: authentication (HMAC over the
//! raw bytes, bearer, basic; constant-time compares), parsing (JSON, SOAP),
//! the `when:` filter and the `dedupe:` key. Transport-agnostic: the HTTP
//! server hands in headers, query and the raw body.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use super::clock::rfc3339;
use super::settings::Settings;
use crate::compile::{CompiledAuth, CompiledHmac, CompiledTrigger, CompiledWorkflow};
use crate::spec::{HmacAlgorithm, HmacEncoding};
use crate::store::{NewEvent, WorkflowVersion};
use crate::value::{CompiledValue, Scope, Templates};

/// A request to a trigger endpoint.
#[derive(Clone, Debug, Default)]
pub struct TriggerRequest {
    /// Header names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// The raw body, exactly as received.
    pub body: Vec<u8>,
    /// Arrival time, Unix ms.
    pub received_at: i64,
}

impl TriggerRequest {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why a trigger request's credentials were refused (401). Each message
/// says what was missing or wrong, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The request does not carry the credential the trigger requires.
    #[error("{0}")]
    Missing(String),
    /// The credential is there but cannot be read (bad base64, hex, timestamp).
    #[error("{0}")]
    Malformed(String),
    /// The credential does not match (wrong token, password or signature).
    #[error("{0}")]
    Mismatch(String),
    /// The signature's timestamp is outside the tolerance window (a replay?).
    #[error("{0}")]
    Stale(String),
    /// The endpoint's own credential is not configured (a secret it reads is unset).
    #[error("{0}")]
    NotConfigured(String),
}

/// Why a trigger request or an event was refused: nothing was stored.
/// Transports map each variant to their answer (HTTP status, SOAP fault);
/// the match is exhaustive, so no refusal can fall through to "accepted".
#[derive(Debug, Clone, thiserror::Error)]
pub enum TriggerError {
    /// No workflow serves this route, or no workflow has this id (404).
    #[error("{0}")]
    NotFound(String),
    /// The workflow is not started this way (a manual run of a webhook workflow) (409).
    #[error("{0}")]
    WrongTrigger(String),
    /// Authentication failed (401).
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] AuthError),
    /// The body cannot be parsed, or is past the limits ([`crate::limits`]) (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The event was not stored: overloaded, store unavailable, stopping (503).
    #[error(transparent)]
    NotStored(#[from] super::AcceptError),
}

/// A new time-ordered unique id (UUID v7).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Headers whose values are credentials: never stored, never shown.
pub fn is_credential_header(name: &str, extra: &[&str]) -> bool {
    matches!(name, "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key" | "api-key")
        || extra.contains(&name)
}

fn eval_secret(v: &CompiledValue, templates: &Templates, settings: &Settings) -> Result<String, AuthError> {
    match v.eval(templates, &settings.scope()) {
        Ok(Value::String(s)) if !s.is_empty() => Ok(s),
        Ok(_) => Err(AuthError::NotConfigured("the endpoint's credential is not configured".into())),
        Err(_) => Err(AuthError::NotConfigured(
            "the endpoint's credential is not configured (a secret or var it reads is not set)".into(),
        )),
    }
}

/// Whether a presented credential equals the configured one, in constant
/// time: both are hashed first (SHA-256), so neither the position of the
/// first difference nor the secret's length shows in the timing, and the
/// digests are compared with `subtle`.
fn credential_eq(got: &[u8], want: &[u8]) -> bool {
    ct_compared();
    let (got, want) = (sha2::Sha256::digest(got), sha2::Sha256::digest(want));
    bool::from(got.as_slice().ct_eq(want.as_slice()))
}

#[cfg(test)]
thread_local! {
    /// How many credential compares went through the constant-time paths
    /// ([`credential_eq`], [`verify_mac`]) on this thread: the tests assert
    /// that every verifier uses them.
    static CT_COMPARES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts a constant-time compare (tests only; nothing in other builds).
fn ct_compared() {
    #[cfg(test)]
    CT_COMPARES.with(|c| c.set(c.get() + 1));
}

/// Check a request's credentials against the trigger's `auth:`.
pub fn authenticate(
    auth: &CompiledAuth,
    req: &TriggerRequest,
    templates: &Templates,
    settings: &Settings,
) -> Result<(), AuthError> {
    match auth {
        CompiledAuth::Bearer(token) => {
            let want = eval_secret(token, templates, settings)?;
            let got = req
                .header("authorization")
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .ok_or_else(|| AuthError::Missing("missing `Authorization: Bearer` header".into()))?;
            if credential_eq(got.trim().as_bytes(), want.as_bytes()) {
                Ok(())
            } else {
                Err(AuthError::Mismatch("wrong bearer token".into()))
            }
        }
        CompiledAuth::Basic { username, password } => {
            let want = format!(
                "{}:{}",
                eval_secret(username, templates, settings)?,
                eval_secret(password, templates, settings)?
            );
            let got = req
                .header("authorization")
                .and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")))
                .ok_or_else(|| AuthError::Missing("missing `Authorization: Basic` header".into()))?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(got.trim())
                .map_err(|_| AuthError::Malformed("malformed basic credentials".into()))?;
            if credential_eq(&decoded, want.as_bytes()) {
                Ok(())
            } else {
                Err(AuthError::Mismatch("wrong user name or password".into()))
            }
        }
        CompiledAuth::Hmac(h) => verify_hmac(h, req, templates, settings),
    }
}

/// Whether `given` is the HMAC of `parts` under `key`, checked with
/// [`Mac::verify_slice`]: a constant-time compare (`subtle`) of the full tag.
fn verify_mac(alg: HmacAlgorithm, key: &[u8], parts: &[&[u8]], given: &[u8]) -> bool {
    macro_rules! run {
        ($d:ty) => {{
            let mut m = <Hmac<$d> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            for p in parts {
                m.update(p);
            }
            ct_compared();
            m.verify_slice(given).is_ok()
        }};
    }
    match alg {
        HmacAlgorithm::Sha256 => run!(sha2::Sha256),
        HmacAlgorithm::Sha512 => run!(sha2::Sha512),
        HmacAlgorithm::Sha1 => run!(sha1::Sha1),
    }
}

fn verify_hmac(
    h: &CompiledHmac,
    req: &TriggerRequest,
    templates: &Templates,
    settings: &Settings,
) -> Result<(), AuthError> {
    let key = eval_secret(&h.secret, templates, settings)?;
    let header =
        req.header(&h.header).ok_or_else(|| AuthError::Missing(format!("missing signature header `{}`", h.header)))?;
    let sig_text = match &h.prefix {
        Some(p) => header
            .trim()
            .strip_prefix(p.as_str())
            .ok_or_else(|| AuthError::Malformed(format!("signature does not start with `{p}`")))?,
        None => header.trim(),
    };
    let given = match h.encoding {
        HmacEncoding::Hex => hex_decode(sig_text),
        HmacEncoding::Base64 => base64::engine::general_purpose::STANDARD.decode(sig_text).ok(),
    }
    .ok_or_else(|| AuthError::Malformed("malformed signature".into()))?;
    let matches = match &h.timestamp_header {
        None => verify_mac(h.algorithm, key.as_bytes(), &[&req.body], &given),
        Some(th) => {
            let ts = req.header(th).ok_or_else(|| AuthError::Missing(format!("missing timestamp header `{th}`")))?;
            let secs: i64 = ts.trim().parse().map_err(|_| AuthError::Malformed("malformed timestamp".into()))?;
            // `abs_diff`: a timestamp far from now (e.g. i64::MIN) must not overflow.
            let age = (req.received_at / 1000).abs_diff(secs);
            if Duration::from_secs(age) > h.tolerance {
                return Err(AuthError::Stale("timestamp outside the tolerance window (replay?)".into()));
            }
            verify_mac(h.algorithm, key.as_bytes(), &[ts.trim().as_bytes(), b".", &req.body], &given)
        }
    };
    if matches { Ok(()) } else { Err(AuthError::Mismatch("signature does not match the body".into())) }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The `event` a webhook run sees, from a request whose body is JSON.
pub fn webhook_event(req: &TriggerRequest, signature_headers: &[&str]) -> Result<Value, TriggerError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(TriggerError::BadRequest("the body is empty; expected JSON".into()));
    }
    // The nesting limit by a scan of the bytes: a body too deep is not parsed.
    crate::limits::check_text_depth("the JSON body", &req.body).map_err(TriggerError::BadRequest)?;
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| TriggerError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    Ok(json!({
        "body": body,
        "headers": headers_json(req, signature_headers),
        "query": Value::Object(req.query.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
        "received_at": rfc3339(req.received_at),
    }))
}

/// Headers as the run sees and the store keeps them: credentials removed.
pub fn headers_json(req: &TriggerRequest, signature_headers: &[&str]) -> Value {
    let mut m = Map::new();
    for (k, v) in &req.headers {
        if !is_credential_header(k, signature_headers) {
            m.insert(k.clone(), Value::String(v.clone()));
        }
    }
    Value::Object(m)
}

/// Header names of a trigger's auth that carry credentials (kept out of storage).
pub fn signature_headers(trigger: &CompiledTrigger) -> Vec<&str> {
    let auth = match trigger {
        CompiledTrigger::Webhook { auth, .. } | CompiledTrigger::Soap { auth, .. } => auth.as_ref(),
        _ => None,
    };
    match auth {
        Some(CompiledAuth::Hmac(h)) => vec![h.header.as_str()],
        _ => Vec::new(),
    }
}

/// Apply `when:` and `dedupe:` to an event and make the [`NewEvent`] (its
/// `raw_body` is `None`: a transport that has the bytes sets it).
///
/// Never fails: an event whose `when:` or `dedupe:` cannot be evaluated
/// (say the dedupe field is missing) is still made, with the reason in
/// [`NewEvent::invalid`]: it is stored as `invalid`, starts no run, and the
/// sender is told (an authenticated event is never dropped).
pub fn new_event(wf: &CompiledWorkflow, payload: Value, received_at: i64, settings: &Settings) -> NewEvent {
    let (when, dedupe, ttl) = match &wf.trigger {
        CompiledTrigger::Webhook { when, dedupe, dedupe_ttl, .. }
        | CompiledTrigger::Soap { when, dedupe, dedupe_ttl, .. } => (when.as_ref(), dedupe.as_ref(), *dedupe_ttl),
        _ => (None, None, Duration::ZERO),
    };
    let mut event = NewEvent {
        event_id: new_id(),
        run_id: new_id(),
        workflow: WorkflowVersion { workflow_id: wf.id.clone(), version: wf.version, hash: wf.hash.clone() },
        trigger: wf.trigger.kind().to_owned(),
        received_at,
        payload,
        raw_body: None,
        dedupe: None,
        start_run: true,
        invalid: None,
        subjects: Vec::new(),
    };
    if when.is_none() && dedupe.is_none() {
        return event;
    }
    // The payload is moved into the scope and back out (not copied).
    let mut root = serde_json::Map::with_capacity(3);
    root.insert("event".into(), std::mem::take(&mut event.payload));
    settings.add_to(&mut root);
    let scope = Scope::new(Value::Object(root));
    let mut problems = Vec::new();
    if let Some(w) = when {
        match w.eval(&wf.templates, &scope) {
            Ok(v) => event.start_run = super::executor_truthy(&v),
            Err(e) => problems.push(format!("`when:` {}", settings.mask_str(&e.to_string()))),
        }
    }
    if let Some(d) = dedupe {
        let expires = received_at.saturating_add(ttl.as_millis() as i64);
        match d.eval(&wf.templates, &scope) {
            Ok(Value::Null) => {}
            Ok(Value::String(s)) => event.dedupe = Some((s, expires)),
            Ok(other) => event.dedupe = Some((other.to_string(), expires)),
            Err(e) => problems.push(format!("`dedupe:` {}", settings.mask_str(&e.to_string()))),
        }
    }
    if !problems.is_empty() {
        event.invalid = Some(problems.join("; "));
        event.start_run = false;
        event.dedupe = None;
    }
    event.payload = match scope.into_root() {
        Value::Object(mut root) => root.remove("event").unwrap_or_default(),
        _ => Value::Null,
    };
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)], body: &str) -> TriggerRequest {
        TriggerRequest {
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
            received_at: 1_700_000_000_000,
            ..Default::default()
        }
    }

    fn hmac_auth(prefix: Option<&str>, ts: Option<&str>) -> CompiledAuth {
        CompiledAuth::Hmac(CompiledHmac {
            header: "x-sig".into(),
            secret: CompiledValue::Literal(json!("key-123")),
            algorithm: HmacAlgorithm::Sha256,
            encoding: HmacEncoding::Hex,
            prefix: prefix.map(str::to_owned),
            timestamp_header: ts.map(str::to_owned),
            tolerance: Duration::from_secs(300),
        })
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The HMAC a sender computes.
    fn mac(alg: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        macro_rules! run {
            ($d:ty) => {{
                let mut m = <Hmac<$d> as Mac>::new_from_slice(key).expect("any key length");
                parts.iter().for_each(|p| m.update(p));
                m.finalize().into_bytes().to_vec()
            }};
        }
        match alg {
            HmacAlgorithm::Sha256 => run!(sha2::Sha256),
            HmacAlgorithm::Sha512 => run!(sha2::Sha512),
            HmacAlgorithm::Sha1 => run!(sha1::Sha1),
        }
    }

    /// Runs `f` and says how many constant-time compares it made.
    fn ct_compares(f: impl FnOnce()) -> u32 {
        CT_COMPARES.with(|c| c.set(0));
        f();
        CT_COMPARES.with(|c| c.get())
    }

    #[test]
    fn every_verifier_compares_in_constant_time() {
        // No timing test (flaky): instead, every verifier must decide through
        // the constant-time paths (`Mac::verify_slice`, or `subtle` over
        // SHA-256 digests), whether the credential is right or wrong. A
        // verifier that compares with `==` makes no counted compare.
        let t = Templates::new();
        let s = Settings::default();
        let body = "{\"id\":1}";
        let good = hex(&mac(HmacAlgorithm::Sha256, b"key-123", &[body.as_bytes()]));
        let mut bad = good.clone();
        bad.replace_range(0..2, if good.starts_with("00") { "01" } else { "00" });
        for sig in [&good, &bad] {
            let n = ct_compares(|| {
                let _ = authenticate(&hmac_auth(None, None), &req(&[("x-sig", sig)], body), &t, &s);
            });
            assert_eq!(n, 1, "HMAC verification must go through Mac::verify_slice");
        }
        // A shorter (truncated) tag is compared the same way, and refused.
        let n = ct_compares(|| {
            let r = authenticate(&hmac_auth(None, None), &req(&[("x-sig", &good[..32])], body), &t, &s);
            assert!(r.is_err(), "a truncated tag is refused");
        });
        assert_eq!(n, 1);
        let ts = "1700000000";
        let sig = hex(&mac(HmacAlgorithm::Sha256, b"key-123", &[ts.as_bytes(), b".", body.as_bytes()]));
        let n = ct_compares(|| {
            let r = authenticate(&hmac_auth(None, Some("x-ts")), &req(&[("x-sig", &sig), ("x-ts", ts)], body), &t, &s);
            assert_eq!(r, Ok(()));
        });
        assert_eq!(n, 1, "timestamped HMAC too");

        let bearer = CompiledAuth::Bearer(CompiledValue::Literal(json!("tok-1")));
        for (header, ok) in [("Bearer tok-1", true), ("Bearer tok-2", false), ("Bearer tok-1-longer", false)] {
            let n = ct_compares(|| {
                assert_eq!(authenticate(&bearer, &req(&[("authorization", header)], ""), &t, &s).is_ok(), ok);
            });
            assert_eq!(n, 1, "bearer tokens are compared in constant time ({header})");
        }
        let basic = CompiledAuth::Basic {
            username: CompiledValue::Literal(json!("u")),
            password: CompiledValue::Literal(json!("p4ss")),
        };
        for (creds, ok) in [("u:p4ss", true), ("u:p4sS", false), ("u:", false)] {
            let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(creds));
            let n = ct_compares(|| {
                assert_eq!(authenticate(&basic, &req(&[("authorization", &header)], ""), &t, &s).is_ok(), ok);
            });
            assert_eq!(n, 1, "basic credentials are compared in constant time ({creds})");
        }
    }

    #[test]
    fn credential_eq_is_plain_equality() {
        assert!(credential_eq(b"abc", b"abc"));
        assert!(!credential_eq(b"abc", b"abd"));
        assert!(!credential_eq(b"abc", b"abcd"));
        assert!(!credential_eq(b"", b"a"));
        assert!(credential_eq(b"", b""));
    }

    #[test]
    fn a_timestamp_far_from_now_is_refused_without_overflow() {
        // Found by the `webhook_signature` fuzz target: `(now - i64::MIN).abs()`
        // overflowed (a panic in debug builds) before the tolerance check.
        let t = Templates::new();
        let s = Settings::default();
        let auth = hmac_auth(None, Some("x-ts"));
        for ts in ["-9223372036854775808", "9223372036854775807", "-1"] {
            let sig = hex(&mac(HmacAlgorithm::Sha256, b"key-123", &[ts.as_bytes(), b".{}"]));
            let e = authenticate(&auth, &req(&[("x-sig", &sig), ("x-ts", ts)], "{}"), &t, &s).expect_err(ts);
            assert!(e.to_string().contains("tolerance"), "{e}");
        }
    }

    #[test]
    fn hmac_over_the_raw_bytes() {
        let t = Templates::new();
        let s = Settings::default();
        // Whitespace and key order matter: the signature is over the bytes sent.
        let body = "{\"b\": 1,  \"a\":2}";
        let sig = hex(&mac(HmacAlgorithm::Sha256, b"key-123", &[body.as_bytes()]));
        assert_eq!(authenticate(&hmac_auth(None, None), &req(&[("x-sig", &sig)], body), &t, &s), Ok(()));
        let reserialised = "{\"a\":2,\"b\":1}";
        assert!(authenticate(&hmac_auth(None, None), &req(&[("x-sig", &sig)], reserialised), &t, &s).is_err());
        let prefixed = format!("sha256={sig}");
        assert_eq!(
            authenticate(&hmac_auth(Some("sha256="), None), &req(&[("x-sig", &prefixed)], body), &t, &s),
            Ok(())
        );
        assert!(authenticate(&hmac_auth(None, None), &req(&[], body), &t, &s).is_err());
    }

    #[test]
    fn hmac_timestamp_window_refuses_replays() {
        let t = Templates::new();
        let s = Settings::default();
        let body = "{}";
        let fresh = "1700000000";
        let sig = hex(&mac(HmacAlgorithm::Sha256, b"key-123", &[fresh.as_bytes(), b".", body.as_bytes()]));
        let auth = hmac_auth(None, Some("x-ts"));
        assert_eq!(authenticate(&auth, &req(&[("x-sig", &sig), ("x-ts", fresh)], body), &t, &s), Ok(()));
        let old = "1699990000";
        let sig = hex(&mac(HmacAlgorithm::Sha256, b"key-123", &[old.as_bytes(), b".", body.as_bytes()]));
        let e = authenticate(&auth, &req(&[("x-sig", &sig), ("x-ts", old)], body), &t, &s).expect_err("replay");
        assert!(e.to_string().contains("tolerance"));
    }

    #[test]
    fn bearer_and_basic() {
        let t = Templates::new();
        let s = Settings::default();
        let bearer = CompiledAuth::Bearer(CompiledValue::Literal(json!("tok-1")));
        assert_eq!(authenticate(&bearer, &req(&[("authorization", "Bearer tok-1")], ""), &t, &s), Ok(()));
        assert!(authenticate(&bearer, &req(&[("authorization", "Bearer tok-2")], ""), &t, &s).is_err());
        let basic = CompiledAuth::Basic {
            username: CompiledValue::Literal(json!("u")),
            password: CompiledValue::Literal(json!("p4ss")),
        };
        let good = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p4ss"));
        assert_eq!(authenticate(&basic, &req(&[("authorization", &good)], ""), &t, &s), Ok(()));
        assert!(authenticate(&basic, &req(&[("authorization", "Basic dTp4")], ""), &t, &s).is_err());
    }

    #[test]
    fn credentials_are_not_kept_in_event_headers() {
        let r =
            req(&[("authorization", "Bearer x"), ("x-sig", "abc"), ("content-type", "application/json")], "{\"a\":1}");
        let ev = webhook_event(&r, &["x-sig"]).expect("event");
        assert_eq!(ev["headers"], json!({ "content-type": "application/json" }));
        assert_eq!(ev["body"], json!({ "a": 1 }));
    }

    #[test]
    fn bad_json_says_where() {
        let e = webhook_event(&req(&[], "{\"a\": }"), &[]).expect_err("bad");
        assert!(e.to_string().contains("line 1 column 7"), "{e}");
    }
}
