//! `vars`: settings that are not secrets, read as `{{ vars.NAME }}` from
//! `REQFLOW_VAR_*` or `--vars FILE`, shown as they are in stored errors and
//! inputs while secrets beside them stay `***`; and the warning about a
//! secret too short to mask without hiding ordinary text.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Serve, free_port, temp_dir, workflow_dir};
use crate::reqflow;

const KEY: &str = "vk-vars-test-0123456789";
const TENANT: &str = "acme";

/// A manual workflow whose one http step calls `{{ vars.BASE_URL }}` with
/// the secret in its path and body, once.
const WORKFLOW: &str = r#"id: vars-demo
trigger: { manual: {} }
connections:
  vendor: { type: http, base_url: "{{ vars.BASE_URL }}", auth: { bearer: "{{ secrets.VENDOR_KEY }}" } }
steps:
  - id: invite
    action: http.request
    connection: vendor
    with:
      method: POST
      path: "/invites/{{ secrets.VENDOR_KEY }}"
      json: { tenant: "{{ vars.TENANT }}", key: "{{ secrets.VENDOR_KEY }}" }
    retry: { attempts: 1 }
"#;

/// The failed attempt of `invite`: the full URL built from the var, the
/// secret masked in the same message, the var as it is in the stored input.
fn assert_var_shown_secret_masked(detail: &Value, base_url: &str) {
    let text = detail.to_string();
    assert!(!text.contains(KEY), "the secret never appears: {detail:#}");
    let attempt = &detail["steps"][0]["attempts"][0];
    let message = attempt["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("POST {base_url}/invites/***: cannot connect")),
        "the stored error shows the URL from `vars.BASE_URL` and masks the secret in it: {message}"
    );
    assert_eq!(attempt["input"]["json"]["tenant"], TENANT, "a var is not masked: {attempt:#}");
    assert_eq!(attempt["input"]["json"]["key"], "***", "the secret is: {attempt:#}");
    assert_eq!(detail["run"]["status"], "failed", "{detail:#}");
}

#[test]
fn reqflow_run_reads_vars_from_a_file_and_the_environment_and_shows_them_in_errors() {
    let (dir, db) = workflow_dir("vars-run", "vars-demo", WORKFLOW);
    let base_url = format!("http://127.0.0.1:{}/vendor", free_port());
    let vars_file = dir.join("vars.env");
    std::fs::write(&vars_file, format!("# not secrets\nBASE_URL={base_url}\n")).expect("write vars");
    let out = reqflow()
        .args(["run", "--db", &db, "--vars"])
        .arg(&vars_file)
        .arg(dir.join("workflows/vars-demo.yaml"))
        .env("REQFLOW_VAR_TENANT", TENANT)
        .env("REQFLOW_SECRET_VENDOR_KEY", KEY)
        .output()
        .expect("run reqflow");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the run fails: {stdout}{stderr}");
    let detail: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    assert_var_shown_secret_masked(&detail, &base_url);
    assert!(!stderr.contains(KEY), "{stderr}");

    // A vars file that does not parse names the file and the line, never a value.
    std::fs::write(&vars_file, "BASE_URL=x\nnot a setting\n").expect("write vars");
    let out = reqflow()
        .args(["run", "--db", &db, "--vars"])
        .arg(&vars_file)
        .arg(dir.join("workflows/vars-demo.yaml"))
        .output()
        .expect("run reqflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains("vars file") && stderr.contains("line 2: expected NAME=value"), "{stderr}");
}

#[test]
fn serve_reads_vars_and_the_api_shows_them_while_masking_secrets() {
    let (dir, db) = workflow_dir("vars-serve", "vars-demo", WORKFLOW);
    let base_url = format!("http://127.0.0.1:{}/vendor", free_port());
    let vars_file = dir.join("vars.json");
    std::fs::write(&vars_file, serde_json::json!({ "TENANT": TENANT }).to_string()).expect("write vars");
    let vars_arg = vars_file.to_string_lossy().into_owned();
    let env = [("REQFLOW_VAR_BASE_URL", base_url.as_str()), ("REQFLOW_SECRET_VENDOR_KEY", KEY)];
    let serve = Serve::start_with(free_port(), &dir.join("workflows"), &db, &env, &dir, &["--vars", &vars_arg]);
    let r = serve.api_post("/api/workflows/vars-demo/runs", "{}");
    assert_eq!(r.status, 202, "{}", r.body);
    let run_id = r.json()["run_id"].as_str().expect("run id").to_owned();
    let detail = serve.wait_run(&run_id, Duration::from_secs(30));
    assert_var_shown_secret_masked(&detail, &base_url);
    let log = serve.log_text();
    assert!(!log.contains(KEY), "{log}");
    assert!(!log.contains("warning: secret"), "a long secret is not warned about: {log}");
}

#[test]
fn validate_and_serve_warn_about_a_short_secret_by_name_only() {
    const SHORT: &str = "zq9x7";
    let file = "tests/data/compile/ok/open_endpoint.yaml";
    let out = reqflow().args(["validate", file]).env("REQFLOW_SECRET_PIN", SHORT).output().expect("run reqflow");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "a warning does not fail validation: {stdout}{stderr}");
    assert!(
        stderr.contains("warning: secret `PIN` is shorter than 8 characters")
            && stderr.contains("ordinary text included")
            && stderr.contains("REQFLOW_VAR_PIN"),
        "{stderr}"
    );
    assert!(!stdout.contains(SHORT) && !stderr.contains(SHORT), "the value is never printed: {stdout}{stderr}");

    // The same from a secrets file; a long secret gets no warning.
    let dir = temp_dir("vars-short");
    let secrets = dir.join("secrets.env");
    std::fs::write(&secrets, format!("TENANT_PIN={SHORT}\nLONG_KEY={KEY}\n")).expect("write secrets");
    let out = reqflow().args(["validate", file, "--secrets"]).arg(&secrets).output().expect("run reqflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: secret `TENANT_PIN` is shorter than 8 characters"), "{stderr}");
    assert!(!stderr.contains("LONG_KEY") && !stderr.contains(SHORT) && !stderr.contains(KEY), "{stderr}");

    let (dir, db) = workflow_dir("vars-short-serve", "vars-demo", WORKFLOW);
    let serve = Serve::start(&dir.join("workflows"), &db, &[("REQFLOW_SECRET_VENDOR_KEY", SHORT)], &dir);
    let log = serve.log_text();
    assert!(log.contains("warning: secret `VENDOR_KEY` is shorter than 8 characters"), "{log}");
    assert!(!log.contains(SHORT), "{log}");
}
