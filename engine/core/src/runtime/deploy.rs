//! Deploys while serving: [`Engine::reload`] applies a freshly loaded set of
//! workflow files to a running engine, file by file.
//!
//! The engine does not watch anything: a caller (`reqflow serve` polls its
//! `--workflows` directory and listens for `SIGHUP`) loads every file of the
//! deployment ([`crate::load::load_file`]) and hands the results over. The
//! rules, each file judged on its own:
//!
//! - a valid file whose content (hash) changed is **deployed** at once: new
//!   events start on the new version; runs in flight keep the version they
//!   recorded (their source is stored, [`Engine::version`]);
//! - an invalid file is **refused**: its diagnostics are logged and kept
//!   ([`Engine::refusals`]), and the version it had keeps serving (a new file
//!   that is invalid serves nothing). Fixing it deploys it;
//! - a valid file whose id or trigger route is already used by another
//!   workflow that serves is refused too (the one serving keeps it, as at
//!   start a directory with such a clash is refused);
//! - a workflow deployed over the admin API ([`Engine::deploy_source`]) is
//!   not the directory's: a reload leaves it serving, and a file with its id
//!   or trigger route is refused as a clash (never a silent override);
//! - a file that serves and is no longer in the set is **removed**: its
//!   routes answer 404 and its schedule stops firing; its queued and running
//!   runs finish on their stored version.
//!
//! Every change is logged (one line through `tracing`: `workflow`,
//! `version`, `hash`, `outcome`) and kept in a bounded history
//! ([`Engine::reloads`], newest first, [`HISTORY`] entries).
//!
//! A workflow's `version:` is its author's label; the content hash is what
//! identifies a deployed version. A changed file is a new version (a new
//! hash) whether or not its `version:` was raised.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde::Serialize;

use super::clock::{now_ms, rfc3339};
use super::{Engine, EngineError};
use crate::compile::CompiledWorkflow;
use crate::diagnostics::{Diagnostic, FileDiagnostics, codes};
use crate::hash::sha256_hex;
use crate::load::Loaded;
use crate::store::WorkflowVersion;

/// Reload outcomes kept in memory ([`Engine::reloads`]).
pub const HISTORY: usize = 100;

/// What started a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadCause {
    /// A change seen by watching the files.
    Watch,
    /// A signal (`SIGHUP`).
    Signal,
    /// A call of the embedding program.
    Call,
    /// A deploy over the admin API (`PUT /api/workflows/{id}`).
    Api,
}

impl ReloadCause {
    /// The name logged and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadCause::Watch => "watch",
            ReloadCause::Signal => "signal",
            ReloadCause::Call => "call",
            ReloadCause::Api => "api",
        }
    }
}

/// What became of one file's change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadOutcome {
    /// Its new version serves.
    Deployed,
    /// It was invalid (or clashed with another workflow): the previous version, if any, keeps serving.
    Refused,
    /// The file is gone: its triggers stopped.
    Removed,
}

impl ReloadOutcome {
    /// The name logged and answered.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadOutcome::Deployed => "deployed",
            ReloadOutcome::Refused => "refused",
            ReloadOutcome::Removed => "removed",
        }
    }
}

/// One change a reload applied or refused.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadRecord {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What started the reload.
    pub cause: ReloadCause,
    /// The file, as it was named when loaded.
    pub file: String,
    /// What became of it.
    pub outcome: ReloadOutcome,
    /// The workflow: deployed, removed, or (refused) the one that keeps
    /// serving from this file; `None` for a refused file that serves nothing.
    pub workflow: Option<WorkflowVersion>,
    /// The version it replaced (deployed).
    pub previous: Option<WorkflowVersion>,
    /// Why it was refused (diagnostics, one line each).
    pub diagnostics: Option<String>,
}

/// The last refused change of a file that has not been fixed since.
#[derive(Clone, Debug, Serialize)]
pub struct Refusal {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The diagnostics, one line each.
    pub diagnostics: String,
    /// The same problems, each with a window of the refused source and a
    /// caret under the span (as `reqflow validate` prints them).
    pub source_window: String,
    /// SHA-256 of the refused content.
    #[serde(skip)]
    pub content_hash: String,
}

/// Reload state of an engine.
#[derive(Debug, Default)]
pub(crate) struct Deploys {
    /// Refused files (by name) whose last change was refused.
    refused: HashMap<String, Refusal>,
    /// Newest last.
    history: VecDeque<ReloadRecord>,
    /// Ids of the workflows deployed over the admin API: a reload of the
    /// directory leaves them alone, and a file with one of their ids is refused.
    pub(crate) api: HashSet<String>,
}

impl Deploys {
    pub(crate) fn clear_refusals(&mut self) {
        self.refused.clear();
    }

    pub(crate) fn push(&mut self, record: ReloadRecord) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(record);
    }
}

pub(crate) fn version_of(wf: &CompiledWorkflow) -> WorkflowVersion {
    WorkflowVersion { workflow_id: wf.id.clone(), version: wf.version, hash: wf.hash.clone() }
}

/// What one file contributes before cross-file checks.
enum Judged {
    /// Its serving version stays (unchanged content).
    Same(Arc<CompiledWorkflow>),
    /// A valid new content.
    Changed(Arc<CompiledWorkflow>),
    /// Invalid (diagnostics, content hash, diagnostics with source windows).
    Invalid(String, String, String),
}

impl Engine {
    /// Applies `files` — every file of the deployment, each as loaded — to
    /// the running engine (the rules are in the [module docs](self)).
    /// Returns the changes, also logged and kept in [`Engine::reloads`]; an
    /// unchanged file yields nothing.
    ///
    /// # Errors
    ///
    /// When the store cannot keep a new version's source; then nothing changes.
    pub async fn reload(&self, files: Vec<Loaded>, cause: ReloadCause) -> Result<Vec<ReloadRecord>, EngineError> {
        let _serial = self.inner.reload_lock.lock().await;
        let now = now_ms();
        let at = rfc3339(now);
        let api = self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner()).api.clone();
        // Workflows deployed over the API are not the directory's: they keep serving, and a file
        // with one of their ids (or routes) is refused as a clash.
        let (fixed, from_files): (Vec<_>, Vec<_>) = self.workflows().into_iter().partition(|w| api.contains(&w.id));
        let serving: HashMap<String, Arc<CompiledWorkflow>> =
            from_files.into_iter().map(|w| (w.source.name.clone(), w)).collect();
        let mut judged: Vec<(String, Judged)> = Vec::with_capacity(files.len());
        for loaded in files {
            let name = loaded.report.file.name.clone();
            let j = match loaded.workflow {
                Some(wf) => match serving.get(&name) {
                    Some(s) if s.hash == wf.hash => Judged::Same(s.clone()),
                    _ => Judged::Changed(wf),
                },
                None => Judged::Invalid(
                    loaded.report.render_short(),
                    sha256_hex(loaded.report.file.text.as_bytes()),
                    loaded.report.render_human(),
                ),
            };
            judged.push((name, j));
        }
        let present: std::collections::HashSet<&str> = judged.iter().map(|(n, _)| n.as_str()).collect();
        let (next, clashes) = settle(&judged, &serving, &fixed);

        let mut records = Vec::new();
        let mut refusals: Vec<(String, Refusal)> = Vec::new();
        let mut cleared: Vec<String> = Vec::new();
        let mut deployed: Vec<Arc<CompiledWorkflow>> = Vec::new();
        {
            let deploys = self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner());
            let record = |name: &str, outcome, workflow, previous, diagnostics| ReloadRecord {
                at: at.clone(),
                cause,
                file: name.to_owned(),
                outcome,
                workflow,
                previous,
                diagnostics,
            };
            let mut refuse = |name: &str, diagnostics: String, content_hash: String, source_window: String| {
                let repeat = deploys
                    .refused
                    .get(name)
                    .is_some_and(|r| r.content_hash == content_hash && r.diagnostics == diagnostics);
                if !repeat {
                    let keeps = serving.get(name).map(|w| version_of(w));
                    records.push(record(name, ReloadOutcome::Refused, keeps, None, Some(diagnostics.clone())));
                    refusals
                        .push((name.to_owned(), Refusal { at: at.clone(), diagnostics, source_window, content_hash }));
                }
            };
            for (name, j) in &judged {
                match j {
                    Judged::Same(_) => {}
                    Judged::Invalid(diagnostics, content_hash, window) => {
                        refuse(name, diagnostics.clone(), content_hash.clone(), window.clone())
                    }
                    Judged::Changed(wf) => {
                        if let Some(problem) = clashes.get(name) {
                            let (short, window) = clash_diagnostics(wf, problem);
                            refuse(name, short, sha256_hex(wf.source.text.as_bytes()), window);
                        }
                    }
                }
            }
            for (name, j) in &judged {
                match j {
                    Judged::Same(wf) if deploys.refused.contains_key(name) => {
                        // Back to the content that serves: the refusal no longer stands.
                        cleared.push(name.clone());
                        records.push(record(name, ReloadOutcome::Deployed, Some(version_of(wf)), None, None));
                    }
                    Judged::Changed(wf) if !clashes.contains_key(name) => {
                        deployed.push(wf.clone());
                        cleared.push(name.clone());
                        let previous = serving.get(name).map(|w| version_of(w));
                        records.push(record(name, ReloadOutcome::Deployed, Some(version_of(wf)), previous, None));
                    }
                    _ => {}
                }
            }
            let mut gone: Vec<&String> = serving.keys().filter(|n| !present.contains(n.as_str())).collect();
            gone.sort();
            for name in gone {
                if let Some(wf) = serving.get(name) {
                    records.push(record(name, ReloadOutcome::Removed, Some(version_of(wf)), None, None));
                }
            }
        }
        // The sources first: a run accepted on a new version can always be executed.
        for wf in &deployed {
            self.inner.store.put_workflow(version_of(wf), &wf.source.text).await?;
        }
        self.swap(next);
        let mut deploys = self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner());
        deploys.refused.retain(|name, _| present.contains(name.as_str()));
        for name in cleared {
            deploys.refused.remove(&name);
        }
        for (name, r) in refusals {
            deploys.refused.insert(name, r);
        }
        for r in &records {
            log(r);
            deploys.push(r.clone());
        }
        Ok(records)
    }

    /// Files whose last change was refused and not fixed since, by name.
    pub fn refusals(&self) -> Vec<(String, Refusal)> {
        let deploys = self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = deploys.refused.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The latest reload outcomes, newest first (at most [`HISTORY`]).
    pub fn reloads(&self) -> Vec<ReloadRecord> {
        let deploys = self.inner.deploys.lock().unwrap_or_else(|e| e.into_inner());
        deploys.history.iter().rev().cloned().collect()
    }
}

/// The workflows that serve after a reload, and the changed files refused
/// for a clash (by name, with the reason). What keeps serving (unchanged
/// files, the previous version of invalid ones) comes first; then each
/// changed file in order, checked against everything already in. A change
/// refused for a clash brings its previous version back, which may clash
/// with a change let in before it: then the pass starts again, with one more
/// refusal (at most one pass per changed file).
fn settle(
    judged: &[(String, Judged)],
    serving: &HashMap<String, Arc<CompiledWorkflow>>,
    fixed: &[Arc<CompiledWorkflow>],
) -> (Vec<Arc<CompiledWorkflow>>, HashMap<String, String>) {
    let mut clashes: HashMap<String, String> = HashMap::new();
    loop {
        let mut next: Vec<Arc<CompiledWorkflow>> = fixed.to_vec();
        for (name, j) in judged {
            match j {
                Judged::Same(wf) => next.push(wf.clone()),
                Judged::Invalid(..) => next.extend(serving.get(name).cloned()),
                Judged::Changed(_) if clashes.contains_key(name) => next.extend(serving.get(name).cloned()),
                Judged::Changed(_) => {}
            }
        }
        let mut again = false;
        for (name, j) in judged {
            let Judged::Changed(wf) = j else { continue };
            if clashes.contains_key(name) {
                continue;
            }
            match clash(wf, &next) {
                Some(problem) => {
                    clashes.insert(name.clone(), problem);
                    again = true;
                    break;
                }
                None => next.push(wf.clone()),
            }
        }
        if !again {
            return (next, clashes);
        }
    }
}

/// Why `wf` cannot serve beside `others`: the same id or trigger route.
pub(crate) fn clash(wf: &CompiledWorkflow, others: &[Arc<CompiledWorkflow>]) -> Option<String> {
    let route = wf.trigger.route();
    for o in others {
        if o.id == wf.id {
            return Some(format!("workflow id `{}` is also used by {}", wf.id, o.source.name));
        }
        if route.is_some() && o.trigger.route() == route {
            return Some(format!(
                "`POST {}` is also served by workflow `{}` ({})",
                route.as_deref().unwrap_or_default(),
                o.id,
                o.source.name
            ));
        }
    }
    None
}

/// A clash rendered as `serve` reports it at start (`file:line:col: error[E…]: …`),
/// and with its source window.
fn clash_diagnostics(wf: &CompiledWorkflow, problem: &str) -> (String, String) {
    let span = crate::load::route_span(&wf.source.text);
    let d = Diagnostic::error(codes::DUPLICATE_ROUTE, span, problem.to_owned())
        .with_help("ids and trigger paths must be unique across the workflows a server loads");
    let file = FileDiagnostics { file: wf.source.clone(), diagnostics: vec![d] };
    (file.render_short(), file.render_human())
}

/// One line per change (diagnostics joined with `; `).
pub(crate) fn log(r: &ReloadRecord) {
    let (id, version, hash) = match &r.workflow {
        Some(v) => (v.workflow_id.as_str(), Some(v.version), v.hash.as_str()),
        None => ("-", None, "-"),
    };
    let outcome = r.outcome.as_str();
    let cause = r.cause.as_str();
    match r.outcome {
        ReloadOutcome::Deployed => tracing::info!(
            workflow = %id, version, hash = %hash, outcome = %outcome, file = %r.file, cause = %cause,
            previous_hash = %r.previous.as_ref().map_or("-", |p| p.hash.as_str()),
            "workflow deployed: new events start on this version; runs in flight keep theirs"
        ),
        ReloadOutcome::Removed => tracing::info!(
            workflow = %id, version, hash = %hash, outcome = %outcome, file = %r.file, cause = %cause,
            "workflow removed: its triggers stopped; its runs finish"
        ),
        ReloadOutcome::Refused => {
            let diagnostics = r.diagnostics.as_deref().unwrap_or("").trim_end().replace('\n', "; ");
            let keeps = if r.workflow.is_some() {
                "the previous version keeps serving"
            } else {
                "nothing serves from this file"
            };
            tracing::warn!(
                workflow = %id, version, hash = %hash, outcome = %outcome, file = %r.file, cause = %cause,
                diagnostics = %diagnostics,
                "workflow change refused: {keeps}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Registry;
    use crate::load::load_str;

    fn wf(file: &str, id: &str, path: &str) -> Arc<CompiledWorkflow> {
        let yaml =
            format!("id: {id}\ntrigger: {{ webhook: {{ path: {path} }} }}\nsteps:\n  - id: a\n    map: {{ x: 1 }}\n");
        load_str(file, &yaml, &Registry::new()).workflow.unwrap_or_else(|| panic!("{file} compiles"))
    }

    fn routes(next: &[Arc<CompiledWorkflow>]) -> Vec<(String, String)> {
        let mut v: Vec<_> = next.iter().map(|w| (w.id.clone(), w.trigger.route().unwrap_or_default())).collect();
        v.sort();
        v
    }

    fn serving(ws: &[&Arc<CompiledWorkflow>]) -> HashMap<String, Arc<CompiledWorkflow>> {
        ws.iter().map(|w| (w.source.name.clone(), Arc::clone(w))).collect()
    }

    #[test]
    fn invalid_files_keep_their_version_and_valid_changes_go_in() {
        let (a, b) = (wf("a.yaml", "a", "a"), wf("b.yaml", "b", "b"));
        let b2 = wf("b.yaml", "b", "b2");
        let judged = vec![
            ("a.yaml".to_owned(), Judged::Invalid("a.yaml: error".into(), "h".into(), String::new())),
            ("b.yaml".to_owned(), Judged::Changed(b2)),
        ];
        let (next, clashes) = settle(&judged, &serving(&[&a, &b]), &[]);
        assert!(clashes.is_empty());
        assert_eq!(routes(&next), vec![("a".into(), "/hooks/a".into()), ("b".into(), "/hooks/b2".into())]);
    }

    #[test]
    fn a_change_that_takes_a_serving_route_is_refused() {
        let a = wf("a.yaml", "a", "a");
        let judged = vec![
            ("a.yaml".to_owned(), Judged::Same(a.clone())),
            ("c.yaml".to_owned(), Judged::Changed(wf("c.yaml", "c", "a"))),
        ];
        let (next, clashes) = settle(&judged, &serving(&[&a]), &[]);
        assert!(clashes.get("c.yaml").is_some_and(|p| p.contains("/hooks/a")), "{clashes:?}");
        assert_eq!(routes(&next), vec![("a".into(), "/hooks/a".into())]);
    }

    #[test]
    fn routes_can_be_swapped_in_one_reload() {
        let (a, b) = (wf("a.yaml", "a", "x"), wf("b.yaml", "b", "y"));
        let judged = vec![
            ("a.yaml".to_owned(), Judged::Changed(wf("a.yaml", "a", "y"))),
            ("b.yaml".to_owned(), Judged::Changed(wf("b.yaml", "b", "x"))),
        ];
        let (next, clashes) = settle(&judged, &serving(&[&a, &b]), &[]);
        assert!(clashes.is_empty(), "{clashes:?}");
        assert_eq!(routes(&next), vec![("a".into(), "/hooks/y".into()), ("b".into(), "/hooks/x".into())]);
    }

    #[test]
    fn a_refusal_that_brings_back_an_old_route_refuses_what_took_it() {
        // a moves onto b's route; b moves away but onto c's route (refused), so b keeps
        // its old route and a must be refused too: never two workflows on one route.
        let (a, b, c) = (wf("a.yaml", "a", "ra"), wf("b.yaml", "b", "rb"), wf("c.yaml", "c", "rc"));
        let judged = vec![
            ("a.yaml".to_owned(), Judged::Changed(wf("a.yaml", "a", "rb"))),
            ("b.yaml".to_owned(), Judged::Changed(wf("b.yaml", "b", "rc"))),
            ("c.yaml".to_owned(), Judged::Same(c.clone())),
        ];
        let (next, clashes) = settle(&judged, &serving(&[&a, &b, &c]), &[]);
        assert_eq!(clashes.len(), 2, "{clashes:?}");
        assert_eq!(
            routes(&next),
            vec![("a".into(), "/hooks/ra".into()), ("b".into(), "/hooks/rb".into()), ("c".into(), "/hooks/rc".into())]
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut d = Deploys::default();
        for i in 0..(HISTORY + 5) {
            d.push(ReloadRecord {
                at: String::new(),
                cause: ReloadCause::Call,
                file: format!("{i}.yaml"),
                outcome: ReloadOutcome::Removed,
                workflow: None,
                previous: None,
                diagnostics: None,
            });
        }
        assert_eq!(d.history.len(), HISTORY);
        assert_eq!(d.history.front().map(|r| r.file.as_str()), Some("5.yaml"));
    }
}
