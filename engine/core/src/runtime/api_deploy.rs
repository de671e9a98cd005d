//! Deploys over the admin API (`PUT /api/workflows/{id}`): a workflow
//! builder hands the engine a workflow's source; it is validated exactly as a
//! file of the `--workflows` directory, stored with its version (content
//! hash), recorded as deployed over the API (so `serve` loads it again at
//! start) and served at once.
//!
//! **Id clashes are refused, never resolved silently.** A workflow comes
//! from the directory or from the API, not both:
//!
//! - an id (or trigger route) served by a directory file cannot be deployed
//!   over the API: [`DeployError::Clash`] names the file (HTTP `409`);
//! - a directory file that appears later with the id (or route) of a
//!   workflow deployed over the API is refused by the reload, like any clash
//!   (see [`super::deploy`]): the API's version keeps serving;
//! - at start, a directory file and an API deployment with the same id or
//!   route stop `serve` ([`start_clashes`]): the operator removes one.
//!
//! Deploying the same content again changes nothing (`unchanged`); runs in
//! flight keep the version they started with, as with directory reloads.

use std::sync::Arc;

use super::clock::{now_ms, rfc3339};
use super::deploy::{ReloadCause, ReloadOutcome, ReloadRecord, clash, log, version_of};
use super::{Engine, EngineError};
use crate::compile::CompiledWorkflow;
use crate::diagnostics::FileDiagnostics;
use crate::load::load_str;
use crate::store::{ApiDeployment, StoreError, WorkflowVersion};

/// How a workflow deployed over the API is named in diagnostics, logs and
/// clash messages (where a directory workflow shows its file).
pub fn api_source_name(id: &str) -> String {
    format!("PUT /api/workflows/{id}")
}

/// Why a deploy over the API was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The source has errors (the diagnostics, with positions).
    #[error("the workflow is invalid")]
    Invalid(FileDiagnostics),
    /// The source's `id:` is not the id of the path.
    #[error("the workflow's `id: {found}` is not `{expected}`, the id it is deployed as")]
    IdMismatch {
        /// The id in the path.
        expected: String,
        /// The id in the source.
        found: String,
    },
    /// The id or trigger route is served by another workflow (a directory file, or another API deployment).
    #[error("{0}")]
    Clash(String),
    /// The store could not keep the version.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a deploy over the API did.
#[derive(Clone, Debug)]
pub struct ApiDeployed {
    /// The version that serves now.
    pub workflow: WorkflowVersion,
    /// The version it replaced, if the id was served.
    pub previous: Option<WorkflowVersion>,
    /// The same content already served: nothing changed.
    pub unchanged: bool,
    /// Warnings of the source (it had no error).
    pub warnings: FileDiagnostics,
}

impl Engine {
    /// Validates `source` as workflow `id` and, when valid and free of
    /// clashes, stores it, records it as deployed over the API by `actor`
    /// and serves it at once (the rules are in the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`DeployError`]: invalid, another id, a clash, or the store failed (then nothing changed).
    pub async fn deploy_source(&self, id: &str, source: &str, actor: &str) -> Result<ApiDeployed, DeployError> {
        let loaded = load_str(&api_source_name(id), source, &self.inner.registry);
        let Some(wf) = loaded.workflow else {
            return Err(DeployError::Invalid(loaded.report));
        };
        if wf.id != id {
            return Err(DeployError::IdMismatch { expected: id.to_owned(), found: wf.id.clone() });
        }
        let _serial = self.inner.reload_lock.lock().await;
        let api = self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner()).api.clone();
        let current = self.workflows();
        let previous = current.iter().find(|w| w.id == id).cloned();
        if let Some(p) = &previous
            && !api.contains(id)
        {
            return Err(DeployError::Clash(format!(
                "workflow `{id}` is served from the --workflows file {}: a workflow comes from the directory or \
                 from the API, not both (remove the file to deploy it over the API)",
                p.source.name
            )));
        }
        let others: Vec<Arc<CompiledWorkflow>> = current.iter().filter(|w| w.id != id).cloned().collect();
        if let Some(problem) = clash(&wf, &others) {
            return Err(DeployError::Clash(problem));
        }
        if let Some(p) = previous.as_ref().filter(|p| p.hash == wf.hash) {
            return Ok(ApiDeployed {
                workflow: version_of(p),
                previous: None,
                unchanged: true,
                warnings: loaded.report,
            });
        }
        let now = now_ms();
        // The source first: a run accepted on the new version can always be executed.
        self.inner.store.put_workflow(version_of(&wf), &wf.source.text).await?;
        let deployment = ApiDeployment {
            workflow_id: id.to_owned(),
            hash: wf.hash.clone(),
            deployed_at: now,
            actor: actor.to_owned(),
        };
        self.inner.store.put_api_deployment(deployment).await?;
        let mut next = others;
        next.push(wf.clone());
        self.swap(next);
        let record = ReloadRecord {
            at: rfc3339(now),
            cause: ReloadCause::Api,
            file: wf.source.name.clone(),
            outcome: ReloadOutcome::Deployed,
            workflow: Some(version_of(&wf)),
            previous: previous.as_deref().map(version_of),
            diagnostics: None,
        };
        log(&record);
        let mut deploys = self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner());
        deploys.api.insert(id.to_owned());
        deploys.push(record);
        Ok(ApiDeployed {
            workflow: version_of(&wf),
            previous: previous.as_deref().map(version_of),
            unchanged: false,
            warnings: loaded.report,
        })
    }

    /// The workflows deployed over the API, compiled from their stored
    /// sources, to load at start beside the directory's
    /// ([`Engine::load_with_api`]).
    ///
    /// # Errors
    ///
    /// The store failed, or a stored version no longer compiles (e.g. an
    /// action it uses is gone): [`EngineError::BadVersion`].
    pub async fn stored_api_workflows(&self) -> Result<Vec<Arc<CompiledWorkflow>>, EngineError> {
        let mut out = Vec::new();
        for (d, source) in self.inner.store.api_deployments().await? {
            let loaded = load_str(&api_source_name(&d.workflow_id), &source, &self.inner.registry);
            let wf = loaded.workflow.ok_or_else(|| EngineError::BadVersion {
                id: d.workflow_id.clone(),
                hash: d.hash.clone(),
                message: loaded.report.render_short(),
            })?;
            out.push(wf);
        }
        Ok(out)
    }

    /// [`Engine::load`] of the directory's workflows and those deployed over
    /// the API (which later reloads of the directory leave alone). Check
    /// [`start_clashes`] first.
    pub async fn load_with_api(
        &self,
        files: Vec<Arc<CompiledWorkflow>>,
        api: Vec<Arc<CompiledWorkflow>>,
    ) -> Result<(), EngineError> {
        let ids = api.iter().map(|w| w.id.clone()).collect();
        let mut all = files;
        all.extend(api);
        self.load(all).await?;
        self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner()).api = ids;
        Ok(())
    }

    /// Whether workflow `id` was deployed over the API (rather than from the directory).
    pub fn deployed_over_api(&self, id: &str) -> bool {
        self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner()).api.contains(id)
    }
}

/// At start: each directory workflow whose id or trigger route is also an API
/// deployment's, as a message naming both (empty when none clash).
pub fn start_clashes(files: &[Arc<CompiledWorkflow>], api: &[Arc<CompiledWorkflow>]) -> Vec<String> {
    files.iter().filter_map(|f| clash(f, api).map(|problem| format!("{}: {problem}", f.source.name))).collect()
}
