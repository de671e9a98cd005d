//! What a workflow needs before it can run: the secrets and vars its file
//! reads (`secrets.NAME`, `vars.NAME`) that are not set, and connections
//! that cannot authenticate yet (an OAuth connection not connected, through
//! the connection type's [`ConnectionHooks::not_ready`]). `serve` lists them
//! per workflow before serving, and the scheduler does not fire a workflow
//! that lacks one (saying so once) instead of failing a run every slot.
//!
//! A read written `{{ secrets.NAME | default(…) }}` is optional: it is not
//! a need.
//!
//! [`ConnectionHooks::not_ready`]: crate::connection::ConnectionHooks::not_ready

use super::{Engine, Settings};
use crate::compile::CompiledWorkflow;

/// `secrets.NAME` and `vars.NAME` the workflow reads that `settings` do not
/// have, in file order, each once (`secrets.X`, `vars.Y`). Comments, the
/// `tests:` block (whose cases bring their own settings) and optional reads
/// (`| default(…)`) are not counted.
pub fn missing_settings(wf: &CompiledWorkflow, settings: &Settings) -> Vec<String> {
    let (secrets, vars) = (settings.secrets().to_json(), settings.vars().to_json());
    let mut missing: Vec<String> = Vec::new();
    for (kind, name) in settings_read(&wf.source.text).into_iter().filter(|r| !r.2).map(|r| (r.0, r.1)) {
        let set = if kind == "secrets" { &secrets } else { &vars };
        let full = format!("{kind}.{name}");
        if set.get(name).is_none() && !missing.contains(&full) {
            missing.push(full);
        }
    }
    missing
}

impl Engine {
    /// Why connections of `wf` cannot authenticate although their settings
    /// evaluate, one line each (`connection `workday`: not connected: run …`).
    /// A connection whose settings do not evaluate is left out: its missing
    /// settings say why ([`missing_settings`]).
    pub async fn connections_not_ready(&self, wf: &CompiledWorkflow) -> Vec<String> {
        let mut out = Vec::new();
        for name in wf.connections.keys() {
            let Ok(conn) = self.evaluate_connection(wf, name) else { continue };
            let Some(hooks) = self.hooks(&conn.kind) else { continue };
            let cx = self.hook_context(wf, conn, "ready");
            if let Some(why) = hooks.not_ready(&cx).await {
                out.push(format!("connection `{name}`: {why}"));
            }
        }
        out
    }
}

/// Every `secrets.NAME` / `vars.NAME` in a workflow's text, outside comments
/// and outside a top-level `tests:` block, and whether it is optional
/// (followed by `| default`).
fn settings_read(text: &str) -> Vec<(&'static str, &str, bool)> {
    let mut out = Vec::new();
    let mut in_tests = false;
    for line in text.lines() {
        if !line.starts_with([' ', '\t', '#', '-']) && !line.is_empty() {
            in_tests = line.starts_with("tests:");
        }
        if in_tests {
            continue;
        }
        let code = match line.find(" #") {
            Some(i) => &line[..i],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        let mut found: Vec<(usize, &'static str, &str, bool)> = Vec::new();
        for kind in ["secrets", "vars"] {
            let needle = format!("{kind}.");
            let mut from = 0;
            while let Some(i) = code[from..].find(&needle).map(|i| i + from) {
                let before = code[..i].chars().next_back();
                let after = &code[i + needle.len()..];
                let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                if len > 0 && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                    let optional = after[len..]
                        .trim_start()
                        .strip_prefix('|')
                        .is_some_and(|f| f.trim_start().starts_with("default"));
                    found.push((i, kind, &after[..len], optional));
                }
                from = i + needle.len() + len;
            }
        }
        found.sort_by_key(|(i, _, _, _)| *i);
        out.extend(found.into_iter().map(|(_, kind, name, optional)| (kind, name, optional)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_outside_comments_and_tests() {
        let text = "# uses secrets.IN_COMMENT\nconnections:\n  c: { base_url: \"{{ vars.HOST }}/x\", token: \"{{ secrets.TOKEN }}\" } # secrets.TRAILING\nsteps:\n  - id: a\n    map: { x: \"{{ myvars.NOT }} {{ vars.HOST }}\" }\ntests:\n  - name: t\n    map: \"{{ secrets.IN_TESTS }}\"\n";
        let names: Vec<String> = settings_read(text).into_iter().map(|(k, n, _)| format!("{k}.{n}")).collect();
        assert_eq!(names, vec!["vars.HOST", "secrets.TOKEN", "vars.HOST"]);
    }

    #[test]
    fn missing_lists_each_unset_setting_once() {
        let registry = crate::action::Registry::new();
        let yaml = "id: w\ntrigger: { manual: {} }\nsteps:\n  - id: a\n    map: { h: \"{{ vars.HOST }}\", k: \"{{ secrets.API_KEY }}\", h2: \"{{ vars.HOST }}\", o: \"{{ secrets.OPTIONAL | default(none) }}\" }\n";
        let wf = crate::load::load_str("w.yaml", yaml, &registry).workflow.expect("valid");
        let mut vars = super::super::Vars::new();
        assert_eq!(missing_settings(&wf, &Settings::default()), vec!["vars.HOST", "secrets.API_KEY"]);
        vars.insert("HOST", "h".into());
        let mut secrets = super::super::Secrets::new();
        secrets.insert("API_KEY", "k-12345678".into());
        assert!(missing_settings(&wf, &Settings::new(secrets, vars)).is_empty());
    }
}
