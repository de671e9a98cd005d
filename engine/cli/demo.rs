//! `reqflow serve --demo`: the sample workflows against a sandbox started in
//! this process on a loopback port, with settings made for it. Nothing is
//! read from the user's `REQFLOW_SECRET_*` / `REQFLOW_VAR_*` (so no real
//! tenant is ever called), and a first Workable event is sent through a
//! managed subscription, so the first thing a newcomer sees is a run that
//! succeeded and where to look at it.

use anyhow::Context;
use reqflow_engine::runtime::{Secrets, Settings, Vars};

/// The candidate the demo moves to Phone Screen once serving (seeded as `Sourced`).
pub(crate) const DEMO_CANDIDATE: &str = "27270001";

/// The database the demo uses unless `--db` names another.
pub(crate) const DEMO_DB: &str = "sqlite://reqflow-demo.db";

/// The in-process sandbox of a demo.
pub(crate) struct Demo {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    sandbox: reqflow_sandbox::Sandbox,
}

impl Demo {
    /// Starts the sandbox (seeded data) on a free loopback port.
    pub(crate) async fn start() -> anyhow::Result<Demo> {
        let running = reqflow_sandbox::spawn(reqflow_sandbox::Sandbox::seeded())
            .await
            .context("cannot start the demo sandbox")?;
        Ok(Demo { base_url: running.base_url, sandbox: running.sandbox })
    }

    /// Every secret and var the sample workflows read, pointing at the sandbox only.
    pub(crate) fn settings(&self) -> Settings {
        let base = &self.base_url;
        let mut vars = Vars::new();
        for (k, v) in [
            ("WORKABLE_BASE_URL", base.clone()),
            ("WORKABLE_MEMBER_ID", "1f395d".to_owned()),
            ("INTERVIEWS_BASE_URL", format!("{base}/vendor/interviews")),
            ("PROTECTION_BASE_URL", format!("{base}/vendor/protection")),
            ("WORKDAY_HOST", base.clone()),
            ("WORKDAY_TENANT", "acme".to_owned()),
        ] {
            vars.insert(k, v);
        }
        let mut secrets = Secrets::new();
        for (k, v) in [
            ("WORKABLE_TOKEN", "demo-workable-token"),
            ("INTERVIEWS_API_KEY", "demo-vendor-key"),
            ("INTERVIEWS_WEBHOOK_SECRET", "demo-vendor-secret"),
            ("PROTECTION_API_KEY", "demo-protection-key"),
            ("STUDIO_PASSWORD", "demo-studio-password"),
            ("WORKDAY_CLIENT_ID", "sandbox-client"),
            ("WORKDAY_CLIENT_SECRET", "sandbox-secret"),
            ("WORKDAY_REFRESH_TOKEN", "sandbox-refresh-token"),
            ("WORKDAY_HOOK_API_KEY", "demo-hook-key"),
        ] {
            secrets.insert(k, v.to_owned());
        }
        Settings::new(secrets, vars)
    }

    /// Moves [`DEMO_CANDIDATE`] to Phone Screen in the sandbox: Workable's
    /// `candidate_moved` reaches the engine through the subscription it made.
    pub(crate) async fn move_candidate(&self) -> anyhow::Result<serde_json::Value> {
        reqflow_sandbox::move_workable_candidate(&self.sandbox, DEMO_CANDIDATE, "phone-screen")
            .await
            .with_context(|| format!("the sandbox has no candidate {DEMO_CANDIDATE}"))
    }
}
