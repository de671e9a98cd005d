//! Assess_Candidate (create or update a candidate assessment, optionally
//! moving the application on) and Move_Candidate (next step or disposition).
//!
//! An assessment is keyed by its `Assess_Candidate_Reference`: a second
//! request with the same reference updates the assessment it created (so a
//! replayed workflow step does not add a second one). The business-process
//! rules and their messages are the ones the v26.1 schema documents.

use chrono::{SecondsFormat, Utc};
use reqflow_engine::xml::Element;
use serde_json::{Value, json};

use super::WorkdayData;
use super::candidates::{application_ref, candidate_ref, find_worker, requisition_ref, setup_ref};
use super::check::*;
use super::seed::wid;
use super::soap::reference;
use crate::state::Sandbox;

const NEVER_ASSESSED: &str =
    "The Candidate was never in the Assessment Business Process to add or update a Candidate Assessment.";
const NOT_IN_ASSESSMENT: &str = "The Job Application business process relevant to the candidate must be in the Assess Candidate state to use Dynamic Business Process Parameters to Move Forward or Decline.";
const NOT_ONE_IN_PROGRESS: &str =
    "The provided Candidate and Job Requisition does not have precisely one Job Application Event in progress.";
const NOT_IN_PROGRESS: &str = "The Business Process must be in progress to move candidate to the next stage.";
const INVALID_STEP: &str = "The next step or disposition chosen is invalid for the job application process.";

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// A move asked for by `Dynamic_Business_Process_Parameters`.
struct Move {
    step: String,
    stage: String,
    disposition: Option<String>,
    comment: Option<String>,
    xpath: String,
}

fn dynamic_parameters(w: &WorkdayData, req: &Element, v: Ver, xpath: &str) -> Result<Option<Move>, SoapError> {
    let Some((p, px)) = child(req, "Dynamic_Business_Process_Parameters", xpath) else { return Ok(None) };
    sequence(p, &[one(&["Next_Step_Reference", "Disposition_Step_Reference"]), many(&["Comment_Data"])], &[], v, &px)?;
    let mut comment = None;
    for (c, cx) in children(p, "Comment_Data", &px) {
        sequence(c, &[opt(&["Comment"]), opt(&["Worker_Reference"])], &[], v, &cx)?;
        if let Some((wr, wx)) = child(c, "Worker_Reference", &cx) {
            resolve(wr, "Worker", &["WID", "Employee_ID", "Contingent_Worker_ID"], &wx, |t, val| {
                find_worker(&w.setup, t, val)
            })?;
        }
        comment = c.child("Comment").map(Element::text).or(comment);
    }
    let steps: Vec<String> =
        w.setup.workflow_steps.iter().filter_map(|s| s["id"].as_str().map(str::to_owned)).collect();
    let (name, forward) = if p.child("Next_Step_Reference").is_some() {
        ("Next_Step_Reference", true)
    } else {
        ("Disposition_Step_Reference", false)
    };
    let (r, rx) = child(p, name, &px).ok_or_else(|| invalid(format!("Required element '{name}' is missing"), &px))?;
    let id = setup_ref(r, &steps, "step", "Workflow Step", &["WID", "Workflow_Step_ID"], &rx)?;
    let step = w.setup.workflow_steps.iter().find(|s| s["id"] == id.as_str()).cloned().unwrap_or_default();
    let disposition = step["disposition"].as_str().map(str::to_owned);
    if forward == disposition.is_some() {
        return Err(invalid(INVALID_STEP, &rx));
    }
    Ok(Some(Move { step: id, stage: s(&step["stage"]).to_owned(), disposition, comment, xpath: rx }))
}

/// Applies `m` to application `(ci, ai)`; records the event and returns its WID.
fn apply_move(w: &mut WorkdayData, ci: usize, ai: usize, m: &Move, by: &str) -> Result<String, SoapError> {
    let app = &w.candidates[ci]["applications"][ai];
    if app["step"] == m.step.as_str() {
        return Err(invalid(INVALID_STEP, &m.xpath));
    }
    let from = s(&app["stage"]).to_owned();
    let app_id = s(&app["id"]).to_owned();
    let n = w.next_number();
    let event = wid(&format!("event/{n}"));
    let a = &mut w.candidates[ci]["applications"][ai];
    a["step"] = json!(m.step);
    a["stage"] = json!(m.stage);
    if let Some(d) = &m.disposition {
        a["disposition"] = json!(d);
        a["status"] = json!("declined");
    }
    if m.stage == "ASSESSMENT" && a["assessment_event"].is_null() {
        a["assessment_event"] = json!(wid(&format!("{app_id}/assessment")));
    }
    w.events.push(json!({
        "wid": event, "by": by, "application": app_id, "from_stage": from, "to_stage": m.stage, "step": m.step,
        "disposition": m.disposition, "comment": m.comment, "at": crate::util::now_iso(),
    }));
    Ok(event)
}

/// The job application of a Candidate_Criteria_Data: exactly one in progress (in `stage`, when given).
fn by_criteria(
    w: &WorkdayData,
    crit: &Element,
    v: Ver,
    cx: &str,
    requisition_required: bool,
    stage: Option<&str>,
    message: &str,
) -> Result<(usize, usize), SoapError> {
    sequence(
        crit,
        &[one(&["Candidate_Reference"]), opt(&["Job_Requisition_Reference"]).required_if(requisition_required)],
        &[],
        v,
        cx,
    )?;
    let (c, ccx) = child(crit, "Candidate_Reference", cx)
        .ok_or_else(|| invalid("Required element 'Candidate_Reference' is missing", cx))?;
    let ci = candidate_ref(w, c, &ccx)?;
    let req = match child(crit, "Job_Requisition_Reference", cx) {
        Some((r, rx)) => Some(s(&w.requisitions[requisition_ref(w, r, &rx)?]["id"]).to_owned()),
        None => None,
    };
    let hits: Vec<usize> = w.candidates[ci]["applications"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, a)| {
            a["status"] == "in_progress"
                && req.as_deref().is_none_or(|r| a["requisition"] == r)
                && stage.is_none_or(|st| a["stage"] == st)
        })
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [ai] => Ok((ci, *ai)),
        _ => Err(invalid(message, cx)),
    }
}

/// The application of an event reference: `event_key` is `event` (the job application's
/// business process) or `assessment_event` (its Assess Candidate sub-process).
fn by_event(w: &WorkdayData, el: &Element, ex: &str, event_key: &str) -> Result<(usize, usize), SoapError> {
    resolve(el, "Event", &["WID", "IID"], ex, |t, val| {
        if t != "WID" {
            return None;
        }
        w.candidates.iter().enumerate().find_map(|(ci, c)| {
            c["applications"].as_array()?.iter().position(|a| a[event_key] == val).map(|ai| (ci, ai))
        })
    })
}

pub(super) fn assess_candidate(sb: &Sandbox, req: &Element, v: Ver, xpath: &str) -> Result<Value, SoapError> {
    sequence(req, &[opt(&["Dynamic_Business_Process_Parameters"]), one(&["Assess_Candidate_Data"])], &[], v, xpath)?;
    let (data, dx) = child(req, "Assess_Candidate_Data", xpath)
        .ok_or_else(|| invalid("Required element 'Assess_Candidate_Data' is missing", xpath))?;
    sequence(
        data,
        &[
            one(&["Event_Reference", "Job_Application_Reference", "Candidate_Criteria_Data"]),
            one(&["Candidate_Assessment_Data"]),
        ],
        &[],
        v,
        &dx,
    )?;
    let (ca, cax) = child(data, "Candidate_Assessment_Data", &dx)
        .ok_or_else(|| invalid("Required element 'Candidate_Assessment_Data' is missing", &dx))?;
    let slots = [
        opt(&["Assess_Candidate_Reference"]),
        opt(&["Assessed_By_Reference"]).required_if(v < V31_2),
        one(&["Assessed_On_Date"]),
        one(&["Assessment_Status_Reference"]),
        opt(&["Overall_Assessment_Comment"]),
        opt(&["Is_Inline_Assessment"]).since(V31_2),
        opt(&["Assessment_Test_URL"]).since(V31_2),
        many(&["Assess_Candidate_Test_Result_Data"]),
    ];
    sequence(ca, &slots, &[], v, &cax)?;
    sb.update(|d| {
        let w = &mut d.workday;
        let dbp = dynamic_parameters(w, req, v, xpath)?;
        let (ci, ai) = if let Some((e, ex)) = child(data, "Job_Application_Reference", &dx) {
            application_ref(w, e, &ex)?
        } else if let Some((e, ex)) = child(data, "Event_Reference", &dx) {
            by_event(w, e, &ex, "assessment_event")?
        } else {
            let (c, cx) = child(data, "Candidate_Criteria_Data", &dx).ok_or_else(|| invalid("One of 'Event_Reference' or 'Job_Application_Reference' or 'Candidate_Criteria_Data' is required", &dx))?;
            by_criteria(
                w,
                c,
                v,
                &cx,
                false,
                Some("ASSESSMENT"),
                "The Candidate and Job Requisition must result in precisely one Job Application with an in progress Candidate Assessment Event.",
            )?
        };
        let app = w.candidates[ci]["applications"][ai].clone();
        if app["assessment_event"].is_null() {
            return Err(invalid(NEVER_ASSESSED, &dx));
        }
        if dbp.is_some() && (app["stage"] != "ASSESSMENT" || app["status"] != "in_progress") {
            return Err(invalid(NOT_IN_ASSESSMENT, &child_path(xpath, "Dynamic_Business_Process_Parameters", 1)));
        }
        let assessed_by = match child(ca, "Assessed_By_Reference", &cax) {
            Some((r, rx)) => resolve(r, "Worker", &["WID", "Employee_ID", "Contingent_Worker_ID"], &rx, |t, val| find_worker(&w.setup, t, val))?,
            None => Value::Null,
        };
        let (dt, dtx) = child(ca, "Assessed_On_Date", &cax).ok_or_else(|| invalid("Required element 'Assessed_On_Date' is missing", &cax))?;
        let assessed_on = date(dt, &dtx)?;
        let (st, stx) = child(ca, "Assessment_Status_Reference", &cax).ok_or_else(|| invalid("Required element 'Assessment_Status_Reference' is missing", &cax))?;
        let status_types = ["WID", "Assessment_Status_ID"];
        let status = setup_ref(st, &w.setup.assessment_statuses, "status", "Assessment Status", &status_types, &stx)?;
        let mut tests = Vec::new();
        for (t, tx) in children(ca, "Assess_Candidate_Test_Result_Data", &cax) {
            let slots = [
                opt(&["Assessment_Test_Result_Reference"]),
                one(&["Assessment_Test_Reference"]),
                opt(&["Assessment_Test_Score"]),
                opt(&["Assessment_Test_Status_Reference"]),
                opt(&["Assessment_Test_Date"]),
                opt(&["Comment"]),
                opt(&["Assessment_Test_Results_URL"]).since(V31_2),
            ];
            sequence(t, &slots, &[], v, &tx)?;
            if let Some((r, rx)) = child(t, "Assessment_Test_Result_Reference", &tx) {
                ids(r, "Assessment Test Result", &["WID", "Assessment_Test_Result_ID"], &rx)?;
            }
            let (tr, trx) = child(t, "Assessment_Test_Reference", &tx).ok_or_else(|| invalid("Required element 'Assessment_Test_Reference' is missing", &tx))?;
            let test = setup_ref(tr, &w.setup.assessment_tests, "test", "Assessment Test", &["WID", "Reference_ID"], &trx)?;
            let score = match child(t, "Assessment_Test_Score", &tx) {
                Some((e, ex)) => Some(whole(e, 12, &ex)?),
                None => None,
            };
            let test_status = match child(t, "Assessment_Test_Status_Reference", &tx) {
                Some((e, ex)) => Some(setup_ref(e, &w.setup.assessment_statuses, "status", "Assessment Status", &status_types, &ex)?),
                None => None,
            };
            let test_date = match child(t, "Assessment_Test_Date", &tx) {
                Some((e, ex)) => Some(date(e, &ex)?.format("%Y-%m-%d").to_string()),
                None => None,
            };
            tests.push(json!({
                "test": test, "score": score, "status": test_status, "date": test_date,
                "comment": t.child("Comment").map(Element::text),
                "results_url": t.child("Assessment_Test_Results_URL").map(Element::text),
            }));
        }
        let reference_key = ca.child("Assess_Candidate_Reference").map(|e| e.text().trim().to_owned()).filter(|r| !r.is_empty());
        let app_id = s(&app["id"]).to_owned();
        let fields = json!({
            "reference": reference_key, "application": app_id, "candidate": w.candidates[ci]["id"],
            "requisition": app["requisition"], "event": app["assessment_event"],
            "assessed_by": assessed_by, "assessed_on": assessed_on.format("%Y-%m-%d").to_string(), "status": status,
            "comment": ca.child("Overall_Assessment_Comment").map(Element::text),
            "test_url": ca.child("Assessment_Test_URL").map(Element::text),
            "tests": tests,
        });
        let existing = reference_key.as_deref().and_then(|r| w.assessments.iter().position(|a| a["reference"] == r));
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let index = match existing {
            Some(i) => {
                if w.assessments[i]["application"] != app_id.as_str() {
                    return Err(invalid(
                        format!(
                            "The Assess_Candidate_Reference '{}' belongs to the assessment of another job application.",
                            reference_key.as_deref().unwrap_or("")
                        ),
                        &child_path(&cax, "Assess_Candidate_Reference", 1),
                    ));
                }
                let old = w.assessments[i].clone();
                let mut updated = fields;
                for k in ["wid", "id", "created_at"] {
                    updated[k] = old[k].clone();
                }
                updated["updated_at"] = json!(now);
                updated["updates"] = json!(old["updates"].as_u64().unwrap_or(0) + 1);
                w.assessments[i] = updated;
                i
            }
            None => {
                let n = w.assessments.len() + 101;
                let id = format!("RECRUITING_ASSESSMENT-3-{n}");
                let mut created = fields;
                created["wid"] = json!(wid(&id));
                created["id"] = json!(id);
                created["created_at"] = json!(now);
                created["updated_at"] = json!(now);
                created["updates"] = json!(0);
                w.assessments.push(created);
                w.assessments.len() - 1
            }
        };
        if let Some(m) = &dbp {
            apply_move(w, ci, ai, m, "Assess_Candidate")?;
        }
        let a = &w.assessments[index];
        Ok(json!({
            "Candidate_Assessment_Event_Reference": reference(&[("WID", s(&a["event"]))]),
            "Candidate_Assessment_Reference": reference(&[("WID", s(&a["wid"])), ("Recruiting_Assessment_ID", s(&a["id"]))]),
        }))
    })
}

pub(super) fn move_candidate(sb: &Sandbox, req: &Element, v: Ver, xpath: &str) -> Result<Value, SoapError> {
    sequence(req, &[opt(&["Dynamic_Business_Process_Parameters"]), one(&["Move_Candidate_Data"])], &[], v, xpath)?;
    let (data, dx) = child(req, "Move_Candidate_Data", xpath)
        .ok_or_else(|| invalid("Required element 'Move_Candidate_Data' is missing", xpath))?;
    sequence(data, &[one(&["Event_Reference", "Job_Application_Reference", "Candidate_Criteria_Data"])], &[], v, &dx)?;
    sb.update(|d| {
        let w = &mut d.workday;
        let dbp = dynamic_parameters(w, req, v, xpath)?;
        let (ci, ai) = if let Some((e, ex)) = child(data, "Job_Application_Reference", &dx) {
            application_ref(w, e, &ex)?
        } else if let Some((e, ex)) = child(data, "Event_Reference", &dx) {
            by_event(w, e, &ex, "event")?
        } else {
            let (c, cx) = child(data, "Candidate_Criteria_Data", &dx).ok_or_else(|| {
                invalid(
                    "One of 'Event_Reference' or 'Job_Application_Reference' or 'Candidate_Criteria_Data' is required",
                    &dx,
                )
            })?;
            by_criteria(w, c, v, &cx, true, None, NOT_ONE_IN_PROGRESS)?
        };
        if w.candidates[ci]["applications"][ai]["status"] != "in_progress" {
            return Err(invalid(NOT_IN_PROGRESS, &dx));
        }
        // "If no options are submitted, the process does not move to the next stage or disposition."
        let event = match &dbp {
            Some(m) => apply_move(w, ci, ai, m, "Move_Candidate")?,
            None => s(&w.candidates[ci]["applications"][ai]["event"]).to_owned(),
        };
        Ok(json!({"Event_Reference": reference(&[("WID", &event)])}))
    })
}
