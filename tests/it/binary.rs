//! Binary payloads end to end (`reqflow serve` + `reqflow sandbox`): a PDF
//! report and a random 1 MiB file fetched by `http.request` arrive byte for
//! byte in the sandbox's Workday (`Put_Candidate_Attachment`) and Workable
//! (comment attachment), on SQLite and PostgreSQL; the run shows
//! `{content_type, size, sha256}` and serves the bytes at
//! `/api/runs/{id}/steps/{step}/output/raw`; the v26.1 body with a binary
//! `File_Content` validates against the XSD; a binary put into text is a
//! load error (E0115) or a run error that says so; a run with a 1 MiB
//! report stores about 1 MiB, not a multiple of it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{PgDb, Sandbox, Serve, get, get_bytes, postgres_url, sandbox, temp_dir};

fn sha(bytes: &[u8]) -> String {
    reqflow_engine::sha256_hex(bytes)
}

/// A manual workflow: fetch `event.url` → attach it to a Workday job
/// application and to a Workable comment, and keep it in a `map:` step too.
fn attach_workflow(version: &str) -> String {
    format!(
        r#"id: attach-report
trigger: {{ manual: {{}} }}
connections:
  workday:
    type: workday
    host: "{{{{ vars.WORKDAY_HOST }}}}"
    tenant: acme
    version: {version}
    auth:
      oauth:
        client_id: "{{{{ secrets.WORKDAY_CLIENT_ID }}}}"
        client_secret: "{{{{ secrets.WORKDAY_CLIENT_SECRET }}}}"
        refresh_token: "{{{{ secrets.WORKDAY_REFRESH_TOKEN }}}}"
  workable: {{ type: workable, base_url: "{{{{ vars.WORKDAY_HOST }}}}", token: "{{{{ secrets.WORKABLE_TOKEN }}}}" }}
steps:
  - id: fetch
    action: http.request
    with: {{ url: $.event.url, max_body_bytes: 4194304 }}
    retry: {{ attempts: 1 }}
  - id: keep
    map: {{ report: "{{{{ steps.fetch.output.body }}}}", hash: "{{{{ steps.fetch.output.body.sha256 }}}}" }}
  - id: workday
    needs: [fetch]
    action: workday.candidates.attach
    connection: workday
    with:
      candidate: CAND-1182
      job_application: JOB_APPLICATION-6-248
      content: "{{{{ steps.fetch.output.body }}}}"
      comment: AI interview report
    retry: {{ attempts: 1 }}
  - id: workable
    needs: [fetch]
    action: workable.candidates.comment
    connection: workable
    with:
      id: "27270003"
      member_id: "1f395d"
      body: "AI interview report ({{{{ steps.fetch.output.body.size }}}} bytes)"
      attachment: {{ data: "{{{{ steps.fetch.output.body }}}}" }}
    retry: {{ attempts: 1 }}
"#
    )
}

fn env(sb: &Sandbox) -> Vec<(&'static str, String)> {
    let base = format!("http://127.0.0.1:{}", sb.1);
    vec![
        ("REQFLOW_VAR_WORKDAY_HOST", base),
        ("REQFLOW_SECRET_WORKDAY_CLIENT_ID", reqflow_sandbox::workday::seed::CLIENT_ID.to_owned()),
        ("REQFLOW_SECRET_WORKDAY_CLIENT_SECRET", reqflow_sandbox::workday::seed::CLIENT_SECRET.to_owned()),
        ("REQFLOW_SECRET_WORKDAY_REFRESH_TOKEN", reqflow_sandbox::workday::seed::REFRESH_TOKEN.to_owned()),
        ("REQFLOW_SECRET_WORKABLE_TOKEN", "binary-test-token".to_owned()),
    ]
}

fn start(tag: &str, yaml: &str, db: &str, sb: &Sandbox) -> (Serve, std::path::PathBuf) {
    let dir = temp_dir(tag);
    std::fs::create_dir_all(dir.join("wf")).expect("dir");
    std::fs::write(dir.join("wf/attach-report.yaml"), yaml).expect("write workflow");
    let env = env(sb);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let serve = Serve::start(&dir.join("wf"), db, &env, &dir);
    (serve, dir)
}

/// Runs the workflow on `url` and returns the finished run's detail.
fn run(serve: &Serve, url: &str) -> Value {
    let r = serve.api_post("/api/workflows/attach-report/runs", &json!({ "url": url }).to_string());
    assert_eq!(r.status, 202, "manual run: {}", r.body);
    let run_id = r.json()["run_id"].as_str().expect("run id").to_owned();
    let detail = serve.wait_run(&run_id, Duration::from_secs(60));
    assert_eq!(detail["run"]["status"], "succeeded", "run: {detail:#}\n{}", serve.log_text());
    detail
}

fn step<'a>(detail: &'a Value, id: &str) -> &'a Value {
    detail["steps"].as_array().and_then(|s| s.iter().find(|s| s["id"] == id)).expect("step")
}

/// What the sandbox's Workday and Workable hold for the file of this hash: both byte-identical.
fn assert_arrived(sb: &Sandbox, bytes: &[u8], file_name: &str) {
    let hash = sha(bytes);
    let wd = get(sb.1, "/_sandbox/workday/attachments").json();
    let att = wd["attachments"]
        .as_array()
        .and_then(|l| l.iter().rev().find(|a| a["sha256"] == hash.as_str()))
        .unwrap_or_else(|| panic!("no Workday attachment with the hash {hash}: {wd:#}"));
    assert_eq!(att["filename"], file_name, "the file name came from the fetched file");
    assert_eq!(att["size"], bytes.len());
    let file_id = att["file_id"].as_str().expect("file id");
    let got = get_bytes(sb.1, &format!("/_sandbox/workday/attachments/{file_id}"));
    assert!(got == bytes, "Workday kept other bytes ({} vs {})", got.len(), bytes.len());

    let wb = get(sb.1, "/_sandbox/workable/attachments").json();
    let att = wb["attachments"]
        .as_array()
        .and_then(|l| l.iter().rev().find(|a| a["sha256"] == hash.as_str()))
        .unwrap_or_else(|| panic!("no Workable comment attachment with the hash {hash}: {wb:#}"));
    assert_eq!(att["name"], file_name);
    let comment = att["comment_id"].as_str().expect("comment id");
    let got = get_bytes(sb.1, &format!("/_sandbox/workable/comments/{comment}/attachment"));
    assert!(got == bytes, "Workable kept other bytes ({} vs {})", got.len(), bytes.len());
}

/// The same with the admin token, returning the bytes and the content type.
fn api_bytes(serve: &Serve, path: &str) -> (Vec<u8>, String) {
    let dir = temp_dir("binary-headers");
    let headers = dir.join("h.txt");
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "30", "-D"])
        .arg(&headers)
        .args([
            "-H",
            &format!("Authorization: Bearer {}", serve.token),
            &format!("http://127.0.0.1:{}{path}", serve.admin),
        ])
        .output()
        .expect("curl");
    assert!(out.status.success(), "GET {path} failed");
    let h = std::fs::read_to_string(&headers).unwrap_or_default();
    let ct = h
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    (out.stdout, ct)
}

fn pdf_and_megabyte_arrive_byte_identical(db: &str, tag: &str) {
    let sb = sandbox();
    let (serve, _dir) = start(tag, &attach_workflow("v44.0"), db, &sb);
    let base = format!("http://127.0.0.1:{}", sb.1);

    // A PDF report: application/pdf, read as bytes without `response: binary`.
    let pdf = get_bytes(sb.1, "/vendor/reports/iv-501.pdf");
    assert!(pdf.starts_with(b"%PDF-") && pdf.ends_with(b"%%EOF\n"), "the vendor serves a PDF");
    let detail = run(&serve, &format!("{base}/vendor/reports/iv-501.pdf"));
    let body = &step(&detail, "fetch")["output"]["body"];
    assert_eq!(body["content_type"], "application/pdf");
    assert_eq!(body["size"], pdf.len());
    assert_eq!(body["sha256"], sha(&pdf));
    assert!(body.get("data").is_none(), "the run shows no bytes: {body}");
    let shown = detail.to_string();
    assert!(!shown.contains("JVBERi0"), "no base64 of the PDF anywhere in the run detail");
    assert_eq!(step(&detail, "keep")["output"]["hash"], sha(&pdf));
    assert_arrived(&sb, &pdf, "iv-501.pdf");
    let run_id = detail["run"]["run_id"].as_str().expect("id");
    let (raw, ct) = api_bytes(&serve, &format!("/api/runs/{run_id}/steps/fetch/output/raw"));
    assert!(raw == pdf, "the raw output is the PDF");
    assert_eq!(ct, "application/pdf");
    let (raw, _) = api_bytes(&serve, &format!("/api/runs/{run_id}/steps/keep/output/raw"));
    assert!(raw == pdf, "a map step's binary output is served too");
    let r = serve.api(&format!("/api/runs/{run_id}/steps/workday/output/raw"));
    assert_eq!(r.status, 404, "no binary in that output: {}", r.body);
    assert!(r.body.contains("holds no binary value"), "{}", r.body);

    // A random 1 MiB file.
    let big = get_bytes(sb.1, "/vendor/reports/noise.bin?size=1048576");
    assert_eq!(big.len(), 1 << 20);
    let detail = run(&serve, &format!("{base}/vendor/reports/noise.bin?size=1048576"));
    assert_eq!(step(&detail, "fetch")["output"]["body"]["content_type"], "application/octet-stream");
    assert_arrived(&sb, &big, "noise.bin");
    let run_id = detail["run"]["run_id"].as_str().expect("id");
    let (raw, _) = api_bytes(&serve, &format!("/api/runs/{run_id}/steps/fetch/output/raw"));
    assert!(raw == big, "the raw output is the 1 MiB file");
}

#[test]
fn a_pdf_and_a_random_megabyte_arrive_byte_identical_in_workday_and_workable_sqlite() {
    let dir = temp_dir("binary-sqlite");
    std::fs::create_dir_all(&dir).expect("dir");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    pdf_and_megabyte_arrive_byte_identical(&db, "binary-sqlite-run");
}

#[test]
fn a_pdf_and_a_random_megabyte_arrive_byte_identical_in_workday_and_workable_postgres() {
    let Some(admin) = postgres_url("binary postgres") else { return };
    let pg = PgDb::create(&admin, "binary");
    pdf_and_megabyte_arrive_byte_identical(&pg.url, "binary-pg-run");
}

#[test]
fn the_v26_1_attachment_body_with_a_binary_file_validates_against_the_xsd() {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("actions/tests/data/workday-recruiting-v26.1.xsd");
    if Command::new("xmllint").arg("--version").output().is_err() {
        assert!(std::env::var("REQFLOW_REQUIRE_XMLLINT").as_deref() != Ok("1"), "xmllint is required");
        crate::harness::note_skipped("SKIPPED: binary XSD: `xmllint` is not installed (package libxml2-utils)");
        return;
    }
    let sb = sandbox();
    let dir = temp_dir("binary-xsd");
    std::fs::create_dir_all(&dir).expect("dir");
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let (serve, _d) = start("binary-xsd-run", &attach_workflow("v26.1"), &db, &sb);
    let pdf = get_bytes(sb.1, "/vendor/reports/iv-26.pdf");
    run(&serve, &format!("http://127.0.0.1:{}/vendor/reports/iv-26.pdf", sb.1));
    let sent = crate::harness::sandbox_requests(sb.1)
        .into_iter()
        .filter_map(|r| r["body"].as_str().map(str::to_owned))
        .find(|b| b.contains("Put_Candidate_Attachment_Request"))
        .expect("the attachment request reached the sandbox");
    let start = sent.find("<wd:Put_Candidate_Attachment_Request").expect("element");
    let end_tag = "</wd:Put_Candidate_Attachment_Request>";
    let end = sent.find(end_tag).expect("end") + end_tag.len();
    let element = &sent[start..end];
    assert!(element.contains(&base64_of(&pdf)), "the File_Content is the PDF, base64");
    let file = dir.join("put-candidate-attachment.xml");
    std::fs::write(&file, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{element}\n")).expect("write");
    let out = Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).arg(&file).output().expect("xmllint");
    assert!(
        out.status.success(),
        "the v26.1 body does not validate:\n{}\n{element}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_binary_put_into_text_is_a_load_error_or_a_run_error_that_says_so() {
    // Known at load time (`response: binary`): `reqflow validate` refuses it with its position.
    let dir = temp_dir("binary-text");
    std::fs::create_dir_all(&dir).expect("dir");
    let wf = dir.join("garble.yaml");
    std::fs::write(
        &wf,
        "id: garble\ntrigger: { manual: {} }\nsteps:\n  - id: fetch\n    action: http.request\n    with: { url: \"http://127.0.0.1:9/r.pdf\", response: binary }\n  - id: note\n    map:\n      text: \"Report: {{ steps.fetch.output.body }}\"\n      size: \"{{ steps.fetch.output.body.size }} bytes\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_reqflow")).arg("validate").arg(&wf).output().expect("validate");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("E0115") && text.contains("garble.yaml:9:"), "{text}");
    assert!(text.contains("`steps.fetch.output.body` is a binary value"), "{text}");
    assert_eq!(text.matches("E0115").count(), 1, "`.size` in text is fine: {text}");

    // Found at run time (a PDF by its content type): the run fails and says why.
    let sb = sandbox();
    let yaml = "id: attach-report\ntrigger: { manual: {} }\nsteps:\n  - id: fetch\n    action: http.request\n    with: { url: $.event.url }\n  - id: note\n    map: { text: \"Report: {{ steps.fetch.output.body }}\" }\n";
    let db = format!("sqlite://{}", dir.join("r.db").display());
    let (serve, _d) = start("binary-text-run", yaml, &db, &sb);
    let r = serve.api_post(
        "/api/workflows/attach-report/runs",
        &json!({ "url": format!("http://127.0.0.1:{}/vendor/reports/iv-9.pdf", sb.1) }).to_string(),
    );
    let run_id = r.json()["run_id"].as_str().expect("run id").to_owned();
    let detail = serve.wait_run(&run_id, Duration::from_secs(60));
    assert_eq!(detail["run"]["status"], "failed", "{detail:#}");
    let msg = step(&detail, "note")["error"]["message"].as_str().unwrap_or("").to_owned();
    assert!(msg.contains("a binary value (application/pdf, 695 bytes) cannot be put into text"), "{msg}");
    assert!(msg.contains("Report: {{ steps.fetch.output.body }}"), "names the template: {msg}");
}

#[test]
fn a_run_with_a_one_mebibyte_report_stores_about_one_mebibyte() {
    let sb = sandbox();
    let dir = temp_dir("binary-size");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("r.db");
    let db = format!("sqlite://{}", path.display());
    let (mut serve, _d) = start("binary-size-run", &attach_workflow("v44.0"), &db, &sb);
    let size_of = |path: &Path| -> u64 {
        // After a checkpoint the pages are in the main file; the file's size
        // less its free pages is what the data takes.
        let c = rusqlite::Connection::open(path).expect("open");
        let _: (i64, i64, i64) = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("checkpoint");
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).expect("pages");
        let free: i64 = c.query_row("PRAGMA freelist_count", [], |r| r.get(0)).expect("free");
        let page: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).expect("page size");
        ((pages - free) * page) as u64
    };
    // A small run first: what a run costs without the report.
    run(&serve, &format!("http://127.0.0.1:{}/vendor/reports/tiny.bin?size=16", sb.1));
    serve.kill9();
    let before = size_of(&path);
    let (serve2, _d2) = start("binary-size-run2", &attach_workflow("v44.0"), &db, &sb);
    // The 1 MiB report goes through four steps (fetched, mapped, and the
    // input of two attachments): kept once.
    run(&serve2, &format!("http://127.0.0.1:{}/vendor/reports/big.bin?size=1048576", sb.1));
    drop(serve2);
    let after = size_of(&path);
    let grew = after.saturating_sub(before);
    eprintln!("stored size: {before} bytes before, {after} after: the 1 MiB run added {grew} bytes");
    assert!(grew >= 1 << 20, "the bytes are stored ({grew})");
    assert!(grew < (1 << 20) + (256 << 10), "stored once, not once per step or attempt: grew {grew} bytes");
    let c = rusqlite::Connection::open(&path).expect("open");
    let blobs: i64 = c.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0)).expect("blobs");
    assert_eq!(blobs, 2, "one blob per distinct file (the 16 bytes and the 1 MiB)");
}
