//! Security checks through the real `reqflow serve` on loopback:
//!
//! - a wrong or missing signature, bearer token or basic credential gets 401
//!   and stores nothing (checked through the API and in the database itself:
//!   no event row, on SQLite and on PostgreSQL). The plain missing/wrong bearer
//!   cases are in `serve::bad_requests_get_clear_answers_and_store_nothing`;
//! - an XML body with a DTD, an external entity or entity expansion (billion
//!   laughs) to `/soap/{path}` gets a SOAP `Client` fault: nothing stored,
//!   nothing expanded, nothing fetched;
//! - secret values never show in logs, the database (with its WAL), error
//!   messages, API answers or `/metrics`, also when the vendor fails.
//!
//! That the HMAC, bearer and basic compares are constant-time is asserted by
//! a unit test of the engine (`runtime::trigger::tests::every_verifier_compares_in_constant_time`),
//! not by timing (which would be flaky). The parsers these endpoints use are
//! also fuzzed: see `fuzz/README.md`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::harness::{PgDb, Serve, Vendor, http, post_json, postgres_url, temp_dir};

const HOOK_KEY: &str = "hmac-key-Qx81vN2p";
const HOOK_TOKEN: &str = "bearer-token-Zr7c4kLm";
const BASIC_PASSWORD: &str = "basic-pw-Hy3s9dTe";
const VENDOR_KEY: &str = "vendor-key-Wd5n0jUf";

/// HMAC-SHA256 (RFC 2104) over the engine's public SHA-256, as a sender computes it.
pub(crate) fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    fn sha256(parts: &[&[u8]]) -> Vec<u8> {
        let hex = reqflow_engine::sha256_hex(&parts.concat());
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
    }
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(&[key]));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = sha256(&[&ipad, msg]);
    sha256(&[&opad, &inner]).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn hmac_helper_matches_rfc_4231() {
    // RFC 4231, test case 2.
    assert_eq!(
        hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The SQLite file, its WAL and shared-memory file, as bytes.
fn sqlite_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["reqflow.db", "reqflow.db-wal", "reqflow.db-shm"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap_or_default()))
        .collect()
}

/// `SELECT count(*) FROM {table}` in the SQLite file: a second connection
/// beside the running server (the database is in WAL mode).
fn sqlite_count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open the SQLite file");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("a count")
}

fn pg_count(url: &str, table: &str) -> i64 {
    let out = Command::new("psql")
        .args([url, "-tAc", &format!("SELECT count(*) FROM {table}")])
        .output()
        .expect("psql (install postgresql-client)");
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a count")
}

const AUTH_WORKFLOWS: &[(&str, &str)] = &[
    (
        "signed.yaml",
        r#"id: signed
trigger:
  webhook:
    path: sec/signed
    auth:
      hmac: { header: X-Signature, secret: "{{ secrets.HOOK_KEY }}", algorithm: sha256, encoding: hex, prefix: "sha256=" }
steps:
  - id: echo
    map: { id: $.event.body.id }
"#,
    ),
    (
        "stamped.yaml",
        r#"id: stamped
trigger:
  webhook:
    path: sec/stamped
    auth:
      hmac: { header: X-Signature, secret: "{{ secrets.HOOK_KEY }}", timestamp_header: X-Timestamp, tolerance: 5m }
steps:
  - id: echo
    map: { id: $.event.body.id }
"#,
    ),
    (
        "token.yaml",
        r#"id: token
trigger:
  webhook:
    path: sec/token
    auth: { bearer: "{{ secrets.HOOK_TOKEN }}" }
steps:
  - id: echo
    map: { id: $.event.body.id }
"#,
    ),
    (
        "basic.yaml",
        r#"id: basic
trigger:
  webhook:
    path: sec/basic
    auth: { basic: { username: sender, password: "{{ secrets.BASIC_PASSWORD }}" } }
steps:
  - id: echo
    map: { id: $.event.body.id }
"#,
    ),
];

fn auth_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("REQFLOW_SECRET_HOOK_KEY", HOOK_KEY),
        ("REQFLOW_SECRET_HOOK_TOKEN", HOOK_TOKEN),
        ("REQFLOW_SECRET_BASIC_PASSWORD", BASIC_PASSWORD),
    ]
}

fn write_workflows(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let wf = dir.join("workflows");
    std::fs::create_dir_all(&wf).expect("dir");
    for (name, text) in files {
        std::fs::write(wf.join(name), text).expect("write");
    }
    wf
}

fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A refused request: what it tries, the endpoint, its headers, its body.
type Case<'a> = (&'a str, &'a str, Vec<(String, String)>, &'a str);

/// Every refused request gets 401 and leaves no trace but a counter; then one
/// good request is stored, which shows that `count_events` does see rows.
fn refused_credentials_store_nothing(
    serve: &Serve,
    count_events: &dyn Fn() -> i64,
    db_files: &dyn Fn() -> Vec<Vec<u8>>,
) {
    let marker = "refused-marker-3d9f";
    let body = json!({ "id": marker, "stage": "Phone Screen" }).to_string();
    let other_body = json!({ "id": marker, "stage": "Offer" }).to_string();
    let good_sig = hmac_sha256_hex(HOOK_KEY.as_bytes(), body.as_bytes());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let stale = (now - 3600).to_string();
    let fresh = now.to_string();
    let stamped = |ts: &str, b: &str| hmac_sha256_hex(HOOK_KEY.as_bytes(), format!("{ts}.{b}").as_bytes());
    let signed = |sig: String| vec![("X-Signature".to_string(), sig)];
    let cases: Vec<Case> = vec![
        ("signed: no signature header", "/hooks/sec/signed", vec![], &body),
        ("signed: signature without its prefix", "/hooks/sec/signed", signed(good_sig.clone()), &body),
        ("signed: signature over another body", "/hooks/sec/signed", signed(format!("sha256={good_sig}")), &other_body),
        (
            "signed: signature with another key",
            "/hooks/sec/signed",
            signed(format!("sha256={}", hmac_sha256_hex(b"not-the-key", body.as_bytes()))),
            &body,
        ),
        ("signed: truncated signature", "/hooks/sec/signed", signed(format!("sha256={}", &good_sig[..32])), &body),
        ("signed: not hex", "/hooks/sec/signed", signed(format!("sha256={}", "zz".repeat(32))), &body),
        ("signed: empty", "/hooks/sec/signed", signed("sha256=".into()), &body),
        ("signed: the key itself as the signature", "/hooks/sec/signed", signed(format!("sha256={HOOK_KEY}")), &body),
        (
            "stamped: no timestamp",
            "/hooks/sec/stamped",
            signed(hmac_sha256_hex(HOOK_KEY.as_bytes(), body.as_bytes())),
            &body,
        ),
        (
            "stamped: a valid signature replayed an hour later",
            "/hooks/sec/stamped",
            vec![("X-Timestamp".into(), stale.clone()), ("X-Signature".into(), stamped(&stale, &body))],
            &body,
        ),
        (
            "stamped: a fresh timestamp on an old signature",
            "/hooks/sec/stamped",
            vec![("X-Timestamp".into(), fresh.clone()), ("X-Signature".into(), stamped(&stale, &body))],
            &body,
        ),
        (
            "stamped: a timestamp that overflows",
            "/hooks/sec/stamped",
            vec![
                ("X-Timestamp".into(), i64::MIN.to_string()),
                ("X-Signature".into(), stamped(&i64::MIN.to_string(), &body)),
            ],
            &body,
        ),
        (
            "token: the token as a prefix",
            "/hooks/sec/token",
            vec![("Authorization".into(), format!("Bearer {}", &HOOK_TOKEN[..HOOK_TOKEN.len() - 1]))],
            &body,
        ),
        (
            "token: the token and more",
            "/hooks/sec/token",
            vec![("Authorization".into(), format!("Bearer {HOOK_TOKEN}x"))],
            &body,
        ),
        (
            "token: the right token in another scheme",
            "/hooks/sec/token",
            vec![("Authorization".into(), format!("Token {HOOK_TOKEN}"))],
            &body,
        ),
        ("token: an empty token", "/hooks/sec/token", vec![("Authorization".into(), "Bearer ".into())], &body),
        (
            "token: the token in another header",
            "/hooks/sec/token",
            vec![("X-Api-Key".into(), HOOK_TOKEN.into())],
            &body,
        ),
        ("basic: no credentials", "/hooks/sec/basic", vec![], &body),
        (
            "basic: wrong password",
            "/hooks/sec/basic",
            vec![("Authorization".into(), format!("Basic {}", b64("sender:wrong")))],
            &body,
        ),
        (
            "basic: wrong user",
            "/hooks/sec/basic",
            vec![("Authorization".into(), format!("Basic {}", b64(&format!("someone:{BASIC_PASSWORD}"))))],
            &body,
        ),
        (
            "basic: not base64",
            "/hooks/sec/basic",
            vec![("Authorization".into(), format!("Basic sender:{BASIC_PASSWORD}"))],
            &body,
        ),
    ];
    let mut rejected = std::collections::BTreeMap::<&str, usize>::new();
    for (what, path, headers, body) in &cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = post_json(serve.port, path, &h, body);
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        for secret in [HOOK_KEY, HOOK_TOKEN, BASIC_PASSWORD] {
            assert!(!r.body.contains(secret), "{what}: the answer shows a secret: {}", r.body);
        }
        *rejected.entry(path.trim_start_matches("/hooks/sec/")).or_default() += 1;
    }
    assert_eq!(serve.api("/api/runs").json()["runs"], json!([]), "no run");
    assert_eq!(count_events(), 0, "no event row");
    for bytes in db_files() {
        assert!(!contains(&bytes, marker.as_bytes()), "the refused body is in the database files");
    }
    let metrics = serve.api("/metrics").body;
    for (wf, n) in &rejected {
        let line = format!("reqflow_events_total{{workflow=\"{wf}\",outcome=\"rejected\"}} {n}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    // The control: the same request, signed right, is stored.
    let sig = format!("sha256={good_sig}");
    let ok = post_json(serve.port, "/hooks/sec/signed", &[("X-Signature", &sig)], &body);
    assert_eq!(ok.status, 202, "{}", ok.body);
    let stamped_ok = post_json(
        serve.port,
        "/hooks/sec/stamped",
        &[("X-Timestamp", &fresh), ("X-Signature", &stamped(&fresh, &body))],
        &body,
    );
    assert_eq!(stamped_ok.status, 202, "{}", stamped_ok.body);
    assert_eq!(count_events(), 2, "the accepted events are rows");
}

#[test]
fn wrong_or_missing_credentials_get_401_and_store_nothing_sqlite() {
    let dir = temp_dir("sec-auth");
    let wf = write_workflows(&dir, AUTH_WORKFLOWS);
    let db = dir.join("reqflow.db");
    let serve = Serve::start(&wf, &format!("sqlite://{}", db.display()), &auth_env(), &dir);
    refused_credentials_store_nothing(&serve, &|| sqlite_count(&db, "events"), &|| {
        sqlite_bytes(&dir).into_iter().map(|(_, b)| b).collect()
    });
}

#[test]
fn wrong_or_missing_credentials_get_401_and_store_nothing_postgres() {
    let Some(admin) = postgres_url("wrong_or_missing_credentials_get_401_and_store_nothing_postgres") else { return };
    let pg = PgDb::create(&admin, "sec_auth");
    let dir = temp_dir("sec-auth-pg");
    let wf = write_workflows(&dir, AUTH_WORKFLOWS);
    let serve = Serve::start(&wf, &pg.url, &auth_env(), &dir);
    let url = pg.url.clone();
    refused_credentials_store_nothing(&serve, &|| pg_count(&url, "events"), &|| {
        // The rows themselves, as text: the refused marker must be in none.
        let out = Command::new("psql")
            .args([&url, "-tAc", "SELECT coalesce(string_agg(e::text, ''), '') FROM events e"])
            .output()
            .expect("psql");
        vec![out.stdout]
    });
}

const SOAP_WORKFLOW: &str = r#"id: listener
trigger:
  soap:
    path: sec/state
    operation: TriggerCandidateStateChange
    auth: { basic: { username: studio, password: "{{ secrets.BASIC_PASSWORD }}" } }
steps:
  - id: fields
    map: { stage: "{{ event.body.Job_Application.Stage }}" }
"#;

#[test]
fn xml_with_a_dtd_or_entities_is_refused_with_a_fault_and_not_expanded() {
    let dir = temp_dir("sec-xml");
    let wf = write_workflows(&dir, &[("listener.yaml", SOAP_WORKFLOW)]);
    let db = dir.join("reqflow.db");
    let serve = Serve::start(&wf, &format!("sqlite://{}", db.display()), &auth_env(), &dir);
    // A loopback listener an external entity points at: it must get no request.
    let fetched = Vendor::start();
    let auth = format!("Basic {}", b64(&format!("studio:{BASIC_PASSWORD}")));
    let env = |dtd: &str, content: &str| {
        format!(
            "<?xml version=\"1.0\"?>{dtd}<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><TriggerCandidateStateChange><Job_Application><Stage>{content}</Stage></Job_Application></TriggerCandidateStateChange></soapenv:Body></soapenv:Envelope>"
        )
    };
    let lol = "<!DOCTYPE lolz [<!ENTITY lol \"lol\">\
        <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
        <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\
        <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\
        <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\
        <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\
        <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\
        <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\
        <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]>";
    let quadratic = format!("<!DOCTYPE q [<!ENTITY a \"{}\">]>", "a".repeat(50_000));
    let external = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"http://127.0.0.1:{}/entity\">]>", fetched.port);
    let parameter = format!("<!DOCTYPE x [<!ENTITY % p SYSTEM \"http://127.0.0.1:{}/dtd\"> %p;]>", fetched.port);
    let cases: Vec<(&str, String)> = vec![
        ("a DTD alone", env("<!DOCTYPE soapenv:Envelope [<!ELEMENT Stage ANY>]>", "Interview")),
        ("an external DTD", env(&format!("<!DOCTYPE x SYSTEM \"http://127.0.0.1:{}/x.dtd\">", fetched.port), "x")),
        ("an external entity (file)", env("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>", "&e;")),
        ("an external entity (http)", env(&external, "&e;")),
        ("an external parameter entity", env(&parameter, "x")),
        ("billion laughs", env(lol, "&lol9;")),
        ("quadratic blowup", env(&quadratic, &"&a;".repeat(2_000))),
        ("an undeclared entity", env("", "&lol9;")),
        ("a DTD after the root", format!("{}<!DOCTYPE x [<!ENTITY e \"e\">]>", env("", "Interview"))),
    ];
    for (what, body) in &cases {
        for (ct, code) in
            [("text/xml", "<faultcode>soapenv:Client</faultcode>"), ("application/soap+xml", "soapenv:Sender")]
        {
            let r = http(
                serve.port,
                "POST",
                "/soap/sec/state",
                &[("Content-Type", ct), ("Authorization", &auth)],
                body.as_bytes(),
            );
            assert_eq!(r.status, 400, "{what} ({ct}): {}", r.body);
            assert!(r.body.contains("<soapenv:Fault>") && r.body.contains(code), "{what} ({ct}): {}", r.body);
            assert!(r.body.len() < 4096, "{what}: a short fault, not an expansion ({} bytes)", r.body.len());
            assert!(!r.body.contains("lollol") && !r.body.contains("root:"), "{what}: {}", r.body);
            if body.contains("<!DOCTYPE") {
                assert!(r.body.contains("DTD"), "{what}: the fault says why: {}", r.body);
            } else {
                assert!(r.body.contains("lol9"), "{what}: the fault names the entity: {}", r.body);
            }
        }
    }
    assert!(fetched.requests().is_empty(), "an external entity or DTD was fetched: {:?}", fetched.requests());
    assert_eq!(serve.api("/api/runs").json()["runs"], json!([]), "no run");
    assert_eq!(sqlite_count(&db, "events"), 0, "no event row");
    for (f, bytes) in sqlite_bytes(&dir) {
        assert!(!contains(&bytes, b"lollol") && !contains(&bytes, b"DOCTYPE"), "{f} holds a refused body");
    }
    let metrics = serve.api("/metrics").body;
    let line = format!("reqflow_events_total{{workflow=\"listener\",outcome=\"rejected\"}} {}", cases.len() * 2);
    assert!(metrics.contains(&line), "{line} in\n{metrics}");
    // The control: the fixture envelope is accepted and stored.
    let envelope =
        std::fs::read(crate::data("payloads/workday-studio-trigger-candidate-state-change.xml")).expect("fixture");
    let r = http(
        serve.port,
        "POST",
        "/soap/sec/state",
        &[("Content-Type", "text/xml"), ("Authorization", &auth)],
        &envelope,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(sqlite_count(&db, "events"), 1);
}

fn secrets_workflow(vendor_port: u16, closed_port: u16) -> String {
    format!(
        r#"id: leaky
trigger:
  webhook:
    path: sec/leaky
    auth: {{ bearer: "{{{{ secrets.HOOK_TOKEN }}}}" }}
connections:
  vendor: {{ type: http, base_url: "http://127.0.0.1:{vendor_port}", auth: {{ bearer: "{{{{ secrets.VENDOR_KEY }}}}" }} }}
steps:
  - id: fields
    map: {{ id: $.event.body.id }}
  - id: invite
    action: http.request
    connection: vendor
    with:
      method: POST
      path: /invites
      headers: {{ X-Api-Key: "{{{{ secrets.VENDOR_KEY }}}}" }}
      json: {{ candidate: "{{{{ steps.fields.output.id }}}}", key: "{{{{ secrets.VENDOR_KEY }}}}" }}
    retry: {{ attempts: 2, initial: 50ms, max: 100ms, jitter: 0 }}
  - id: unreachable
    needs: [fields]
    action: http.request
    with:
      method: GET
      url: "http://127.0.0.1:{closed_port}/down?key={{{{ secrets.VENDOR_KEY }}}}"
      headers: {{ Authorization: "Bearer {{{{ secrets.VENDOR_KEY }}}}" }}
    on_error: continue
on_failure:
  - id: alert
    map: {{ error: "{{{{ run.error }}}}", key_length: "{{{{ secrets.VENDOR_KEY | length }}}}" }}
"#
    )
}

/// Moved here from `serve.rs` and extended: a vendor that fails (its error
/// body echoes the key), a request to a closed port with the secret in its
/// URL and header, `on_failure` seeing `run.error`, and `/metrics`.
#[test]
fn secrets_never_reach_logs_database_errors_answers_or_metrics() {
    let dir = temp_dir("sec-secrets");
    let vendor = Vendor::start();
    let closed = crate::harness::free_port();
    let wf = write_workflows(&dir, &[("leaky.yaml", &secrets_workflow(vendor.port, closed))]);
    let db = dir.join("reqflow.db");
    let env = [("REQFLOW_SECRET_HOOK_TOKEN", HOOK_TOKEN), ("REQFLOW_SECRET_VENDOR_KEY", VENDOR_KEY)];
    let serve = Serve::start(&wf, &format!("sqlite://{}", db.display()), &env, &dir);
    // The vendor echoes the key it was sent, in successes and in errors.
    vendor.behaviour.lock().expect("lock").body =
        format!("{{\"error\":\"bad key {VENDOR_KEY}\",\"echo\":\"{VENDOR_KEY}\"}}");
    let auth = format!("Bearer {HOOK_TOKEN}");
    let post = |id: &str| {
        let r =
            post_json(serve.port, "/hooks/sec/leaky", &[("Authorization", &auth)], &json!({ "id": id }).to_string());
        assert_eq!(r.status, 202, "{}", r.body);
        r.json()["run_id"].as_str().expect("run id").to_string()
    };

    // 1. The vendor succeeds (201) and echoes the key.
    vendor.script(vec![], (201, Duration::ZERO));
    let ok = post("c-ok");
    let ok_detail = serve.wait_run(&ok, Duration::from_secs(30));
    assert_eq!(ok_detail["run"]["status"], "succeeded", "{ok_detail:#}");
    // 2. The vendor fails: 503 (retried), then 401 with the key in its error body.
    vendor.script(vec![(503, Duration::ZERO)], (401, Duration::ZERO));
    let failed = post("c-fail");
    let failed_detail = serve.wait_run(&failed, Duration::from_secs(30));
    assert_eq!(failed_detail["run"]["status"], "failed", "{failed_detail:#}");
    assert_eq!(failed_detail["run"]["error"]["step"], "invite", "{failed_detail:#}");
    let alert = failed_detail["steps"].as_array().and_then(|s| s.iter().find(|x| x["id"] == "alert")).cloned();
    assert!(alert.is_some_and(|a| a["status"] == "succeeded"), "on_failure ran: {failed_detail:#}");

    let sent = vendor.requests();
    assert!(sent.len() >= 3, "{sent:?}");
    assert!(
        sent.iter().all(|r| r.body.contains(VENDOR_KEY)
            && r.headers.iter().any(|(k, v)| k == "x-api-key" && v == VENDOR_KEY)
            && r.headers.iter().any(|(k, v)| k == "authorization" && v == &format!("Bearer {VENDOR_KEY}"))),
        "the vendor did get the real values: {sent:?}"
    );
    // The errors were recorded, masked: the vendor's error body, the input
    // (URL, headers, JSON) of every attempt, `on_failure`'s view of `run.error`.
    let masked_body = "{\"error\":\"bad key ***\",\"echo\":\"***\"}";
    assert_eq!(failed_detail["run"]["error"]["details"]["body"], masked_body, "{failed_detail:#}");
    let step = |id: &str| {
        failed_detail["steps"].as_array().and_then(|s| s.iter().find(|x| x["id"] == id)).cloned().unwrap_or_default()
    };
    assert_eq!(step("invite")["attempts"][0]["error"]["details"]["body"], masked_body, "{failed_detail:#}");
    assert_eq!(step("invite")["attempts"][0]["input"]["headers"]["X-Api-Key"], "***");
    assert_eq!(step("invite")["attempts"][0]["input"]["json"]["key"], "***");
    let unreachable = step("unreachable");
    assert!(unreachable["error"]["message"].as_str().is_some_and(|m| m.contains("cannot connect")), "{unreachable:#}");
    assert_eq!(unreachable["attempts"][0]["input"]["url"], format!("http://127.0.0.1:{closed}/down?key=***"));
    assert_eq!(unreachable["attempts"][0]["input"]["headers"]["Authorization"], "Bearer ***");
    assert_eq!(step("alert")["output"]["error"]["details"]["body"], masked_body, "{failed_detail:#}");
    assert_eq!(step("alert")["output"]["key_length"], VENDOR_KEY.len());

    // A bad request's error answer: a 401 with a near-miss token.
    let near = format!("Bearer {HOOK_TOKEN}0");
    let refused = post_json(serve.port, "/hooks/sec/leaky", &[("Authorization", &near)], "{}");
    assert_eq!(refused.status, 401);

    let answers = [
        serve.api(&format!("/api/runs/{ok}")).body,
        serve.api(&format!("/api/runs/{failed}")).body,
        serve.api("/api/runs").body,
        serve.api("/api/runs?status=failed").body,
        serve.api("/api/workflows").body,
        serve.api("/metrics").body,
        refused.body,
    ];
    let api = answers.join("\n");
    assert!(api.contains("***"), "masked values are shown as ***");
    // The on_failure step could compute on the secret (its length), but not see it.
    for secret in [HOOK_TOKEN, VENDOR_KEY] {
        for (i, a) in answers.iter().enumerate() {
            assert!(!a.contains(secret), "answer {i} leaks {secret}: {a}");
        }
        assert!(!serve.log_text().contains(secret), "the log leaks {secret}:\n{}", serve.log_text());
        for (f, bytes) in sqlite_bytes(&dir) {
            assert!(!contains(&bytes, secret.as_bytes()), "{f} leaks {secret}");
        }
    }
    drop(serve);
    // And once the process is gone (whatever the WAL held is in the files).
    for secret in [HOOK_TOKEN, VENDOR_KEY] {
        for (f, bytes) in sqlite_bytes(&dir) {
            assert!(!contains(&bytes, secret.as_bytes()), "{f} leaks {secret} after the stop");
        }
    }
}
