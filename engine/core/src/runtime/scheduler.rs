//! Schedule triggers: each slot fires at most once, across every process
//! sharing the store (`ScheduleStore::claim_slot`). Missed slots while no
//! process ran are not back-filled: the latest due slot fires once.
//!
//! A schedule whose workflow cannot run does not fire, and the log says so
//! once: settings it reads are not set (checked once per version), or a
//! connection cannot authenticate yet (not connected: checked again every
//! [`READY_RECHECK`], so a `reqflow connect` from another process lets the
//! latest due slot fire).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;
use tokio::sync::watch;

use super::Engine;
use super::clock::{now_ms, rfc3339};
use super::inbound::{EventIn, Inbound, Origin};
use crate::compile::{CompiledTrigger, SchedulePlan};

/// How often a schedule whose connections cannot authenticate is checked again.
pub const READY_RECHECK: Duration = Duration::from_secs(5);

/// The latest slot at or before `now` (Unix ms), if the plan has one.
pub(crate) fn due_slot(plan: &SchedulePlan, now: i64, after: Option<i64>) -> Option<i64> {
    match plan {
        SchedulePlan::Every(d) => {
            let iv = (d.as_millis() as i64).max(1000);
            let slot = now.div_euclid(iv) * iv;
            (after.is_none_or(|a| slot > a)).then_some(slot)
        }
        SchedulePlan::Cron { cron, .. } => {
            let start_ms = after.unwrap_or(now - 1000);
            let start = Utc.timestamp_millis_opt(start_ms).single()?;
            let next = cron.find_next_occurrence(&start, false).ok()?;
            let next = next.timestamp_millis();
            (next <= now).then_some(next)
        }
    }
}

pub(super) async fn run(engine: Engine, mut stop: watch::Receiver<bool>) {
    let mut fired: HashMap<String, i64> = HashMap::new();
    // Settings a version lacks, by content hash: such a workflow does not
    // fire (said once per version) instead of failing a run every slot.
    let mut unconfigured: HashMap<String, Vec<String>> = HashMap::new();
    // Connections that cannot authenticate, by content hash, and when that was checked.
    let mut unready: HashMap<String, (Instant, Vec<String>)> = HashMap::new();
    loop {
        let now = now_ms();
        for wf in engine.workflows() {
            let CompiledTrigger::Schedule(plan) = &wf.trigger else { continue };
            let missing = unconfigured.entry(wf.hash.clone()).or_insert_with(|| {
                let missing = super::needs::missing_settings(&wf, engine.settings());
                if !missing.is_empty() {
                    tracing::warn!(
                        workflow = %wf.id, missing = %missing.join(", "),
                        "schedule does not fire: settings it reads are not set (REQFLOW_SECRET_* / REQFLOW_VAR_*, --secrets, --vars)"
                    );
                }
                missing
            });
            if !missing.is_empty() {
                continue;
            }
            let recheck = unready.get(&wf.hash).is_none_or(|(at, p)| !p.is_empty() && at.elapsed() >= READY_RECHECK);
            if recheck {
                let problems = engine.connections_not_ready(&wf).await;
                let before = unready.get(&wf.hash).map(|(_, p)| p);
                if !problems.is_empty() && before != Some(&problems) {
                    tracing::warn!(
                        workflow = %wf.id, problems = %problems.join("; "),
                        "schedule does not fire: a connection cannot authenticate yet"
                    );
                } else if problems.is_empty() && before.is_some_and(|p| !p.is_empty()) {
                    tracing::info!(workflow = %wf.id, "schedule fires again: its connections can authenticate");
                }
                unready.insert(wf.hash.clone(), (Instant::now(), problems));
            }
            if unready.get(&wf.hash).is_some_and(|(_, p)| !p.is_empty()) {
                continue;
            }
            let after = match fired.get(&wf.id) {
                Some(a) => Some(*a),
                None => engine.store().last_slot(&wf.id).await.ok().flatten(),
            };
            let Some(slot) = due_slot(plan, now, after) else { continue };
            fired.insert(wf.id.clone(), slot);
            match engine.store().claim_slot(&wf.id, slot).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(workflow = %wf.id, error = %e, "schedule slot could not be claimed");
                    continue;
                }
            }
            tracing::info!(workflow = %wf.id, slot = %rfc3339(slot), "schedule fired");
            let previous = engine.store().last_success(&wf.id).await.ok().flatten();
            let payload = json!({
                "scheduled_at": rfc3339(slot),
                "previous_success_at": previous.map(rfc3339),
            });
            let inbound = Inbound::Event(EventIn {
                workflow: wf.id.clone(),
                origin: Origin::Schedule,
                payload,
                // `previous_success_at` is read back from this: the slot, not the wall clock.
                received_at: slot,
                run_id: None,
            });
            if let Err(e) = engine.accept(inbound).await {
                tracing::error!(workflow = %wf.id, slot = %rfc3339(slot), error = %e, "schedule could not start a run");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slots_are_aligned_and_fire_once() {
        let plan = SchedulePlan::Every(Duration::from_secs(300));
        let now = 1_000_000_123;
        let slot = due_slot(&plan, now, None).expect("due");
        assert_eq!(slot % 300_000, 0);
        assert!(slot <= now);
        assert_eq!(due_slot(&plan, now + 1000, Some(slot)), None);
        assert_eq!(due_slot(&plan, slot + 300_000, Some(slot)), Some(slot + 300_000));
    }

    #[test]
    fn cron_slots() {
        let cron: croner::Cron = "*/5 * * * *".parse().expect("cron");
        let plan = SchedulePlan::Cron { source: "*/5 * * * *".into(), cron: Box::new(cron) };
        let five = 300_000;
        assert_eq!(due_slot(&plan, 10 * five + 10, Some(9 * five)), Some(10 * five));
        assert_eq!(due_slot(&plan, 10 * five + 10, Some(10 * five)), None);
    }
}
