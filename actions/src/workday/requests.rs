//! The request bodies of the `workday.*` SOAP actions, built from `with:`
//! for one WWS version: the Body's element (`wd:{Op}_Request` with
//! `wd:version`), children in the schema's `xsd:sequence` order.
//!
//! Pure functions, public so tests can check every body against Workday's
//! published schema (`actions/tests/data/workday-recruiting-v26.1.xsd`).
//! At v26.1 they emit only v26.1 elements; later versions add only the
//! elements [`super::version`] names.

use base64::Engine;
use chrono::NaiveDate;
use reqflow_engine::action::ActionError;
use reqflow_engine::xml::XmlError;
use serde_json::{Map, Value, json};

use super::params::*;
use super::refs::{Obj, WdRef};
use super::version::{V31_2, V43_0, WwsVersion};
use crate::soap::envelope::{WD_NS, operation_element};

/// The largest `Assessment_Test_Score` (12 digits).
pub const MAX_SCORE: f64 = 999_999_999_999.0;
/// The longest `Filename`.
pub const MAX_FILENAME_CHARS: usize = 255;
/// Workday's largest `Count`.
pub const MAX_COUNT: u32 = 999;

/// Why a request could not be built from `with:`.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A parameter is missing, contradictory or malformed.
    #[error("{0}")]
    Invalid(String),
    /// A value cannot be written as XML.
    #[error("cannot write the request: {0}")]
    Xml(#[from] XmlError),
}

impl RequestError {
    /// The permanent `params.invalid` error of action `kind`.
    pub fn into_action(self, kind: &str) -> ActionError {
        ActionError::permanent(format!("{kind}: {self}")).with_code("params.invalid")
    }
}

fn invalid(msg: impl Into<String>) -> RequestError {
    RequestError::Invalid(msg.into())
}

fn body(
    op: &str,
    version: WwsVersion,
    attributes: &[(&str, String)],
    children: &Value,
) -> Result<String, RequestError> {
    Ok(operation_element("wd", WD_NS, op, Some(&version.to_string()), attributes, children)?)
}

fn opt_ref(r: &Option<WdRef>, obj: Obj, field: &str) -> Result<Value, RequestError> {
    r.as_ref().map(|r| r.to_json(obj, field)).transpose().map(Option::unwrap_or_default)
}

fn refs(list: &[WdRef], obj: Obj, field: &str) -> Result<Value, RequestError> {
    if list.is_empty() {
        return Ok(Value::Null);
    }
    Ok(Value::Array(list.iter().map(|r| r.to_json(obj, field)).collect::<Result<_, _>>()?))
}

fn text(s: &Option<String>) -> Value {
    match s {
        Some(s) if !s.is_empty() => Value::String(s.clone()),
        _ => Value::Null,
    }
}

/// An `xsd:date` from `YYYY-MM-DD` or an RFC 3339 date-time (its date, in its own offset).
pub fn xsd_date(field: &str, s: &str) -> Result<String, RequestError> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.format("%Y-%m-%d").to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.date_naive().format("%Y-%m-%d").to_string());
    }
    Err(invalid(format!("`{field}`: `{s}` is not a date (YYYY-MM-DD)")))
}

/// An `xsd:dateTime` from RFC 3339, or a bare date (its midnight, without an offset).
pub fn xsd_datetime(field: &str, s: &str) -> Result<String, RequestError> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(format!("{}T00:00:00", d.format("%Y-%m-%d")));
    }
    Err(invalid(format!("`{field}`: `{s}` is not a date-time (RFC 3339, e.g. 2026-05-01T09:30:00Z)")))
}

/// A score as Workday stores it: `(integer, whether it was rounded)`.
pub fn integer_score(field: &str, score: f64) -> Result<(u64, bool), RequestError> {
    if !score.is_finite() || score < 0.0 {
        return Err(invalid(format!("`{field}`: {score} is not a non-negative number")));
    }
    let r = score.round();
    if r > MAX_SCORE {
        return Err(invalid(format!("`{field}`: {score} has more than 12 digits")));
    }
    // `r` is a non-negative integer below 10^12, exactly representable in u64.
    Ok((r as u64, r != score))
}

fn guess_content_type(file_name: &str) -> Option<&'static str> {
    let ext = file_name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "htm" | "html" => "text/html",
        "json" => "application/json",
        "xml" => "application/xml",
        "csv" => "text/csv",
        "md" => "text/markdown",
        "vtt" => "text/vtt",
        "rtf" => "application/rtf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        _ => return None,
    })
}

/// An `Attachment_WWS_DataType` from a file name, `content` (base64 or a
/// binary value) or `text`, a type and a comment.
fn attachment(
    field: &str,
    id: Option<&str>,
    file_name: Option<&str>,
    content: Option<&FileContent>,
    text_content: Option<&str>,
    content_type: Option<&str>,
    comment: Option<&str>,
) -> Result<Value, RequestError> {
    let binary_name = match content {
        Some(FileContent::Binary(b)) => b.name.as_deref(),
        _ => None,
    };
    let Some(name) = file_name.or(binary_name).map(str::trim) else {
        return Err(invalid(format!("give `{field}file_name` (the binary `{field}content` has no name)")));
    };
    if name.is_empty() {
        return Err(invalid(format!("`{field}file_name` is empty")));
    }
    if name.chars().count() > MAX_FILENAME_CHARS {
        return Err(invalid(format!("`{field}file_name` is longer than {MAX_FILENAME_CHARS} characters")));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let (encoded, default_type) = match (content, text_content) {
        (Some(FileContent::Base64(c)), None) => {
            let compact: String = c.chars().filter(|ch| !ch.is_ascii_whitespace()).collect();
            if compact.is_empty() {
                return Err(invalid(format!("`{field}content` is empty")));
            }
            b64.decode(&compact).map_err(|e| invalid(format!("`{field}content` is not base64: {e}")))?;
            (compact, guess_content_type(name))
        }
        (Some(FileContent::Binary(b)), None) => {
            if b.bytes.is_empty() {
                return Err(invalid(format!("`{field}content` is empty (0 bytes)")));
            }
            let declared = Some(b.content_type.as_str()).filter(|t| *t != "application/octet-stream");
            (b.base64(), declared.or_else(|| guess_content_type(name)))
        }
        (None, Some(t)) => {
            if t.is_empty() {
                return Err(invalid(format!("`{field}text` is empty")));
            }
            (b64.encode(t.as_bytes()), Some(guess_content_type(name).unwrap_or("text/plain")))
        }
        (Some(_), Some(_)) => return Err(invalid(format!("give `{field}content` or `{field}text`, not both"))),
        (None, None) => {
            return Err(invalid(format!("give `{field}content` (base64 or a binary value) or `{field}text`")));
        }
    };
    let mime = match content_type.map(str::trim).filter(|s| !s.is_empty()).or(default_type) {
        Some(t) if t.contains('/') => json!({"ID": {"@type": "Content_Type_ID", "#text": t}}),
        Some(t) => return Err(invalid(format!("`{field}content_type`: `{t}` is not a MIME type"))),
        None => Value::Null,
    };
    Ok(json!({
        "ID": id.filter(|s| !s.is_empty()),
        "Filename": name,
        "File_Content": encoded,
        "Mime_Type_Reference": mime,
        "Comment": comment.filter(|s| !s.is_empty()),
    }))
}

/// What the Assess_Candidate builder made: the body, and what it had to adapt.
#[derive(Clone, Debug)]
pub struct AssessBody {
    /// The `wd:Assess_Candidate_Request` element.
    pub body: String,
    /// The `Assess_Candidate_Reference` sent.
    pub reference: String,
    /// Per test result: `{test, score, score_sent, rounded}`.
    pub scores: Vec<Value>,
    /// Whether any score was rounded.
    pub rounded: bool,
    /// Adaptations to the version, for people (rounding, URLs moved into comments).
    pub notes: Vec<String>,
}

/// The Dynamic_Business_Process_Parameters element (next step or disposition, comment).
fn dynamic_bp(
    next: &Option<WdRef>,
    disposition: &Option<WdRef>,
    comment: &Option<String>,
    required: bool,
) -> Result<Value, RequestError> {
    let step = match (next, disposition) {
        (Some(_), Some(_)) => return Err(invalid("give `next_step` or `disposition_step`, not both")),
        (Some(n), None) => ("Next_Step_Reference", n.to_json(Obj::WorkflowStep, "next_step")?),
        (None, Some(d)) => ("Disposition_Step_Reference", d.to_json(Obj::WorkflowStep, "disposition_step")?),
        (None, None) if required => return Err(invalid("give `next_step` or `disposition_step`")),
        (None, None) if text(comment).is_null() => return Ok(Value::Null),
        (None, None) => {
            return Err(invalid(
                "a step comment needs `next_step` or `disposition_step` (the business-process move it comments)",
            ));
        }
    };
    let mut m = Map::new();
    m.insert(step.0.into(), step.1);
    m.insert("Comment_Data".into(), if text(comment).is_null() { Value::Null } else { json!({"Comment": comment}) });
    Ok(Value::Object(m))
}

/// The job application locator shared by Assess_Candidate and Move_Candidate.
fn locator(
    job_application: &Option<WdRef>,
    event: &Option<WdRef>,
    candidate: &Option<WdRef>,
    job_requisition: &Option<WdRef>,
    requisition_required: bool,
) -> Result<(&'static str, Value), RequestError> {
    let n = usize::from(job_application.is_some()) + usize::from(event.is_some()) + usize::from(candidate.is_some());
    if n != 1 {
        return Err(invalid("give exactly one of `job_application`, `event` and `candidate` (+ `job_requisition`)"));
    }
    if job_requisition.is_some() && candidate.is_none() {
        return Err(invalid("`job_requisition` goes with `candidate` (a job application or event already names it)"));
    }
    if let Some(a) = job_application {
        return Ok(("Job_Application_Reference", a.to_json(Obj::JobApplication, "job_application")?));
    }
    if let Some(e) = event {
        return Ok(("Event_Reference", e.to_json(Obj::Event, "event")?));
    }
    if requisition_required && job_requisition.is_none() {
        return Err(invalid("`candidate` needs `job_requisition` here"));
    }
    let c = opt_ref(candidate, Obj::Candidate, "candidate")?;
    let r = opt_ref(job_requisition, Obj::JobRequisition, "job_requisition")?;
    Ok(("Candidate_Criteria_Data", json!({"Candidate_Reference": c, "Job_Requisition_Reference": r})))
}

/// `Assess_Candidate_Request`. `reference` is the `Assess_Candidate_Reference` when `with:` has
/// none; `today` is the default `Assessed_On_Date`.
pub fn assess_candidate(
    p: &AssessCandidateParams,
    version: WwsVersion,
    reference: &str,
    today: NaiveDate,
) -> Result<AssessBody, RequestError> {
    let has_urls = version.at_least(V31_2);
    let mut notes = Vec::new();
    let mut scores = Vec::new();
    let mut rounded = false;

    let dbp = dynamic_bp(&p.next_step, &p.disposition_step, &p.step_comment, false)?;
    let (loc_name, loc) = locator(&p.job_application, &p.event, &p.candidate, &p.job_requisition, false)?;

    let assessed_by = opt_ref(&p.assessed_by, Obj::Worker, "assessed_by")?;
    if assessed_by.is_null() && !has_urls {
        return Err(invalid(format!(
            "`assessed_by` (a worker, e.g. an Employee_ID) is required by {version}: Assessed_By_Reference became optional in v31.2"
        )));
    }
    let assessed_on = match &p.assessed_on {
        Some(d) => xsd_date("assessed_on", d)?,
        None => today.format("%Y-%m-%d").to_string(),
    };
    let reference = match &p.assess_candidate_reference {
        Some(r) if !r.trim().is_empty() => r.trim().to_owned(),
        Some(_) => return Err(invalid("`assess_candidate_reference` is empty")),
        None => reference.to_owned(),
    };

    let mut overall_comment = p.comment.clone().filter(|c| !c.is_empty());
    let mut results = Vec::new();
    match (&p.test, p.score, &p.test_status, &p.results_url) {
        (None, Some(_), _, _) => {
            return Err(invalid("`score` needs `test` (the Reference_ID of the assessment test it belongs to)"));
        }
        (None, None, Some(_), _) => return Err(invalid("`test_status` needs `test`")),
        _ => {}
    }
    let mut first = p.test.as_ref().map(|t| TestResultParams {
        test: t.clone(),
        score: p.score,
        status: p.test_status.clone(),
        date: None,
        comment: None,
        results_url: None,
    });
    if let Some(url) = p.results_url.as_ref().filter(|u| !u.is_empty()) {
        match (&mut first, has_urls) {
            (Some(f), true) => f.results_url = Some(url.clone()),
            (first, _) => {
                let line = format!("Results: {url}");
                overall_comment = Some(match overall_comment {
                    Some(c) => format!("{c}\n{line}"),
                    None => line,
                });
                notes.push(if first.is_none() {
                    "results_url was written into Overall_Assessment_Comment: without `test` there is no test result to carry Assessment_Test_Results_URL".to_owned()
                } else {
                    format!("results_url was written into Overall_Assessment_Comment: {version} has no Assessment_Test_Results_URL (added by v31.2)")
                });
            }
        }
    }
    for (i, t) in first.iter().chain(p.tests.iter()).enumerate() {
        let (field, test_field, status_field, date_field) = if first.is_some() && i == 0 {
            ("score".to_owned(), "test".to_owned(), "test_status".to_owned(), "date".to_owned())
        } else {
            let k = i - usize::from(first.is_some());
            (
                format!("tests[{k}].score"),
                format!("tests[{k}].test"),
                format!("tests[{k}].status"),
                format!("tests[{k}].date"),
            )
        };
        let test = t.test.to_json(Obj::AssessmentTest, &test_field)?;
        let (test_type, test_id) = t.test.resolve(Obj::AssessmentTest, &test_field)?;
        let score = match t.score {
            Some(given) => {
                let Some(s) = given.value() else {
                    return Err(invalid(format!("`{field}` is not a number")));
                };
                let (n, r) = integer_score(&field, s)?;
                if r {
                    rounded = true;
                    notes.push(format!(
                        "score {s} of test {test_id} was rounded to {n}: Workday's Assessment_Test_Score is a non-negative integer"
                    ));
                }
                scores
                    .push(json!({"test": test_id, "test_type": test_type, "score": s, "score_sent": n, "rounded": r}));
                Value::String(n.to_string())
            }
            None => Value::Null,
        };
        let status = opt_ref(&t.status, Obj::AssessmentStatus, &status_field)?;
        let date = t.date.as_deref().map(|d| xsd_date(&date_field, d)).transpose()?;
        let mut comment = t.comment.clone().filter(|c| !c.is_empty());
        let mut url = Value::Null;
        if let Some(u) = t.results_url.as_ref().filter(|u| !u.is_empty()) {
            if has_urls {
                url = Value::String(u.clone());
            } else {
                let line = format!("Results: {u}");
                comment = Some(match comment {
                    Some(c) => format!("{c}\n{line}"),
                    None => line,
                });
                notes.push(format!(
                    "the results URL of test {test_id} was written into its Comment: {version} has no Assessment_Test_Results_URL (added by v31.2)"
                ));
            }
        }
        let mut m = Map::new();
        m.insert("Assessment_Test_Reference".into(), test);
        m.insert("Assessment_Test_Score".into(), score);
        m.insert("Assessment_Test_Status_Reference".into(), status);
        m.insert("Assessment_Test_Date".into(), date.map(Value::String).unwrap_or_default());
        m.insert("Comment".into(), comment.map(Value::String).unwrap_or_default());
        if has_urls {
            m.insert("Assessment_Test_Results_URL".into(), url);
        }
        results.push(Value::Object(m));
    }

    let mut data = Map::new();
    data.insert("Assess_Candidate_Reference".into(), Value::String(reference.clone()));
    data.insert("Assessed_By_Reference".into(), assessed_by);
    data.insert("Assessed_On_Date".into(), Value::String(assessed_on));
    data.insert("Assessment_Status_Reference".into(), p.status.to_json(Obj::AssessmentStatus, "status")?);
    data.insert("Overall_Assessment_Comment".into(), overall_comment.map(Value::String).unwrap_or_default());
    data.insert(
        "Assess_Candidate_Test_Result_Data".into(),
        if results.is_empty() { Value::Null } else { Value::Array(results) },
    );

    let mut event = Map::new();
    event.insert(loc_name.into(), loc);
    event.insert("Candidate_Assessment_Data".into(), Value::Object(data));
    let children = json!({"Dynamic_Business_Process_Parameters": dbp, "Assess_Candidate_Data": Value::Object(event)});
    Ok(AssessBody {
        body: body("Assess_Candidate_Request", version, &[], &children)?,
        reference,
        scores,
        rounded,
        notes,
    })
}

/// `Response_Filter` for page `page`.
fn response_filter(
    page: u32,
    count: Option<u32>,
    as_of_entry: Option<&str>,
    as_of_effective: Option<&str>,
) -> Result<Value, RequestError> {
    if page == 0 {
        return Err(invalid("`page` starts at 1"));
    }
    if let Some(c) = count
        && !(1..=MAX_COUNT).contains(&c)
    {
        return Err(invalid(format!("`count` must be between 1 and {MAX_COUNT} (got {c})")));
    }
    let entry = as_of_entry.map(|s| xsd_datetime("as_of_entry_datetime", s)).transpose()?;
    let effective = as_of_effective.map(|s| xsd_date("as_of_effective_date", s)).transpose()?;
    Ok(json!({
        "As_Of_Effective_Date": effective,
        "As_Of_Entry_DateTime": entry,
        "Page": page,
        "Count": count,
    }))
}

/// `Get_Candidates_Request` for page `page`; `as_of_entry` pins later pages to page 1's snapshot.
pub fn get_candidates(
    p: &CandidatesGetParams,
    version: WwsVersion,
    page: u32,
    as_of_entry: Option<&str>,
) -> Result<String, RequestError> {
    let criteria_given = p.first_name.is_some()
        || p.last_name.is_some()
        || p.email.is_some()
        || !p.job_requisitions.is_empty()
        || !p.stages.is_empty()
        || !p.sources.is_empty()
        || p.applied_from.is_some()
        || p.applied_through.is_some()
        || p.internal_workers_only.is_some()
        || p.created_from.is_some()
        || p.created_through.is_some();
    if !p.candidates.is_empty() && criteria_given {
        return Err(invalid("give `candidates` or search criteria, not both"));
    }
    if p.skip_non_existing && p.candidates.is_empty() {
        return Err(invalid("`skip_non_existing` goes with `candidates`"));
    }
    if (p.created_from.is_some() || p.created_through.is_some()) && !version.at_least(V31_2) {
        return Err(invalid(format!(
            "`created_from` / `created_through` need v31.2 or later (the connection uses {version})"
        )));
    }
    let references = if p.candidates.is_empty() {
        Value::Null
    } else {
        let mut m = Map::new();
        if p.skip_non_existing {
            m.insert("@Skip_Non_Existing_Instances".into(), Value::String("true".into()));
        }
        m.insert("Candidate_Reference".into(), refs(&p.candidates, Obj::Candidate, "candidates")?);
        Value::Object(m)
    };
    let dt = |field: &str, v: &Option<String>| v.as_deref().map(|s| xsd_datetime(field, s)).transpose();
    let criteria = if criteria_given {
        let mut m = Map::new();
        m.insert("First_Name".into(), text(&p.first_name));
        m.insert("Last_Name".into(), text(&p.last_name));
        m.insert("Candidate_Email_Address".into(), text(&p.email));
        m.insert(
            "Job_Requisition_Reference".into(),
            refs(&p.job_requisitions, Obj::JobRequisition, "job_requisitions")?,
        );
        m.insert("Recruiting_Stage_Reference".into(), refs(&p.stages, Obj::Stage, "stages")?);
        m.insert("Applicant_Source_Reference".into(), refs(&p.sources, Obj::ApplicantSource, "sources")?);
        m.insert("Applied_From".into(), dt("applied_from", &p.applied_from)?.into());
        m.insert("Applied_Through".into(), dt("applied_through", &p.applied_through)?.into());
        m.insert("Internal_Workers_Only".into(), p.internal_workers_only.into());
        if version.at_least(V31_2) {
            m.insert("Created_From".into(), dt("created_from", &p.created_from)?.into());
            m.insert("Created_Through".into(), dt("created_through", &p.created_through)?.into());
        }
        Value::Object(m)
    } else {
        Value::Null
    };
    let filter = response_filter(page, p.count, as_of_entry, p.as_of_effective_date.as_deref())?;
    let children = json!({"Request_References": references, "Request_Criteria": criteria, "Response_Filter": filter});
    body("Get_Candidates_Request", version, &[], &children)
}

/// `Get_Job_Requisitions_Request` for page `page`.
pub fn get_job_requisitions(
    p: &JobRequisitionsGetParams,
    version: WwsVersion,
    page: u32,
    as_of_entry: Option<&str>,
) -> Result<String, RequestError> {
    let criteria_given =
        !p.statuses.is_empty() || !p.supervisory_organizations.is_empty() || !p.primary_locations.is_empty();
    if !p.job_requisitions.is_empty() && criteria_given {
        return Err(invalid("give `job_requisitions` or search criteria, not both"));
    }
    if p.skip_non_existing && p.job_requisitions.is_empty() {
        return Err(invalid("`skip_non_existing` goes with `job_requisitions`"));
    }
    let references = if p.job_requisitions.is_empty() {
        Value::Null
    } else {
        let mut m = Map::new();
        if p.skip_non_existing {
            m.insert("@Skip_Non_Existing_Instances".into(), Value::String("true".into()));
        }
        m.insert(
            "Job_Requisition_Reference".into(),
            refs(&p.job_requisitions, Obj::JobRequisition, "job_requisitions")?,
        );
        Value::Object(m)
    };
    let criteria = if criteria_given {
        json!({
            "Job_Requisition_Status_Reference": refs(&p.statuses, Obj::RequisitionStatus, "statuses")?,
            "Supervisory_Organization_Reference":
                refs(&p.supervisory_organizations, Obj::SupervisoryOrganization, "supervisory_organizations")?,
            "Primary_Location_Reference": refs(&p.primary_locations, Obj::Location, "primary_locations")?,
        })
    } else {
        Value::Null
    };
    let group = if p.include.is_empty() {
        Value::Null
    } else {
        let has = |i: RequisitionInclude| if p.include.contains(&i) { Value::Bool(true) } else { Value::Null };
        json!({
            "Include_Reference": true,
            "Include_Job_Requisition_Definition_Data": has(RequisitionInclude::Definition),
            "Include_Job_Requisition_Restrictions_Data": has(RequisitionInclude::Restrictions),
            "Include_Qualifications": has(RequisitionInclude::Qualifications),
            "Include_Job_Requisition_Attachments": has(RequisitionInclude::Attachments),
            "Include_Organizations": has(RequisitionInclude::Organizations),
            "Include_Roles": has(RequisitionInclude::Roles),
        })
    };
    let filter = response_filter(page, p.count, as_of_entry, p.as_of_effective_date.as_deref())?;
    let children = json!({
        "Request_References": references,
        "Request_Criteria": criteria,
        "Response_Filter": filter,
        "Response_Group": group,
    });
    body("Get_Job_Requisitions_Request", version, &[], &children)
}

/// `Put_Candidate_Request` (with `wd:Add_Only`).
pub fn put_candidate(p: &CandidatesPutParams, version: WwsVersion) -> Result<String, RequestError> {
    if p.add_only && p.candidate.is_some() {
        return Err(invalid("`candidate` updates an existing candidate: set `add_only: false`"));
    }
    let apply_only = p.stage.is_some() || p.workflow_step.is_some() || p.applied_at.is_some() || p.resume.is_some();
    if apply_only && p.job_requisition.is_none() {
        return Err(invalid("`stage`, `workflow_step`, `applied_at` and `resume` go with `job_requisition`"));
    }
    let any_name = [&p.first_name, &p.middle_name, &p.last_name].iter().any(|n| !text(n).is_null());
    let name = if !any_name {
        Value::Null
    } else if version.at_least(V43_0) {
        json!({"Legal_Name": {"Name_Detail_Data": {
            "First_Name": text(&p.first_name), "Middle_Name": text(&p.middle_name), "Last_Name": text(&p.last_name),
        }}})
    } else {
        json!({"First_Name": text(&p.first_name), "Middle_Name": text(&p.middle_name), "Last_Name": text(&p.last_name)})
    };
    let websites: Vec<Value> = p.websites.iter().filter(|w| !w.is_empty()).map(|w| json!({"URL_Address": w})).collect();
    let location = match &p.address {
        Some(a) => json!({
            "Country_Reference": opt_ref(&a.country, Obj::Country, "address.country")?,
            "Address_Line_1": text(&a.line1),
            "Address_Line_2": text(&a.line2),
            "City": text(&a.city),
            "Postal_Code": text(&a.postal_code),
        }),
        None => Value::Null,
    };
    let contact = if text(&p.phone).is_null() && text(&p.email).is_null() && websites.is_empty() && location.is_null() {
        Value::Null
    } else {
        json!({
            "Phone_Number": text(&p.phone),
            "Email_Address": text(&p.email),
            "Website_Data": if websites.is_empty() { Value::Null } else { Value::Array(websites) },
            "Location_Data": location,
        })
    };
    let source = opt_ref(&p.source, Obj::ApplicantSource, "source")?;
    let application = match &p.job_requisition {
        Some(r) => {
            let stage = match &p.stage {
                Some(s) => s.to_json(Obj::Stage, "stage")?,
                None => WdRef::from("REVIEW").to_json(Obj::Stage, "stage")?,
            };
            let applied = p.applied_at.as_deref().map(|s| xsd_datetime("applied_at", s)).transpose()?;
            let resume = match &p.resume {
                Some(f) => attachment(
                    "resume.",
                    None,
                    f.file_name.as_deref(),
                    f.content.as_ref(),
                    f.text.as_deref(),
                    f.content_type.as_deref(),
                    f.comment.as_deref(),
                )?,
                None => Value::Null,
            };
            json!({
                "Job_Applied_To_Data": {
                    "Job_Requisition_Reference": r.to_json(Obj::JobRequisition, "job_requisition")?,
                    "Job_Application_Date": applied,
                    "Stage_Reference": stage,
                    "Workflow_Step_Reference": opt_ref(&p.workflow_step, Obj::WorkflowStep, "workflow_step")?,
                    "Source_Reference": source.clone(),
                },
                "Resume_Attachment_Data": resume,
            })
        }
        None => Value::Null,
    };
    let prospect = match p.prospect {
        Some(flag) => json!({
            "Prospect": flag,
            "Source_Reference": if application.is_null() { source } else { Value::Null },
        }),
        None if application.is_null() && !source.is_null() => {
            return Err(invalid("`source` goes with `job_requisition` or `prospect`"));
        }
        None => Value::Null,
    };
    let data = json!({
        "Candidate_ID": text(&p.candidate_id),
        "Name_Data": name,
        "Contact_Data": contact,
        "Job_Application_Data": application,
        "Prospect_Data": prospect,
    });
    let children = json!({
        "Candidate_Reference": opt_ref(&p.candidate, Obj::Candidate, "candidate")?,
        "Candidate_Data": data,
    });
    body("Put_Candidate_Request", version, &[("Add_Only", p.add_only.to_string())], &children)
}

/// `Move_Candidate_Request`.
pub fn move_candidate(p: &CandidatesMoveParams, version: WwsVersion) -> Result<String, RequestError> {
    let dbp = dynamic_bp(&p.next_step, &p.disposition_step, &p.comment, true)?;
    let (loc_name, loc) = locator(&p.job_application, &p.event, &p.candidate, &p.job_requisition, true)?;
    let mut data = Map::new();
    data.insert(loc_name.into(), loc);
    let children = json!({"Dynamic_Business_Process_Parameters": dbp, "Move_Candidate_Data": Value::Object(data)});
    body("Move_Candidate_Request", version, &[], &children)
}

/// `Put_Candidate_Attachment_Request`.
pub fn put_candidate_attachment(p: &CandidatesAttachParams, version: WwsVersion) -> Result<String, RequestError> {
    let to_application = p.job_application.is_some() || p.job_requisition.is_some();
    if to_application == p.document_category.is_some() {
        return Err(invalid(
            "give `job_application` and/or `job_requisition` (attach to the application), or `document_category` (attach to the candidate)",
        ));
    }
    let file = attachment(
        "",
        p.attachment_id.as_deref(),
        p.file_name.as_deref(),
        p.content.as_ref(),
        p.text.as_deref(),
        p.content_type.as_deref(),
        p.comment.as_deref(),
    )?;
    let (candidate_data, application_data) = if to_application {
        (
            Value::Null,
            json!({
                "Job_Requisition_Reference": opt_ref(&p.job_requisition, Obj::JobRequisition, "job_requisition")?,
                "Job_Application_Reference": opt_ref(&p.job_application, Obj::JobApplication, "job_application")?,
                "Attachment_Data": file,
            }),
        )
    } else {
        (
            json!({
                "Attachment_Data": file,
                "Document_Category_Reference": opt_ref(&p.document_category, Obj::DocumentCategory, "document_category")?,
            }),
            Value::Null,
        )
    };
    let children = json!({
        "Candidate_Reference": p.candidate.to_json(Obj::Candidate, "candidate")?,
        "Candidate_Attachment_Data": candidate_data,
        "Job_Application_Attachment_Data": application_data,
    });
    body("Put_Candidate_Attachment_Request", version, &[], &children)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_half_away_from_zero() {
        assert_eq!(integer_score("s", 87.5).expect("ok"), (88, true));
        assert_eq!(integer_score("s", 87.4).expect("ok"), (87, true));
        assert_eq!(integer_score("s", 90.0).expect("ok"), (90, false));
        assert!(integer_score("s", -1.0).is_err());
        assert!(integer_score("s", 1e13).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(xsd_date("d", "2026-05-01").expect("ok"), "2026-05-01");
        assert_eq!(xsd_date("d", "2026-05-01T23:30:00-07:00").expect("ok"), "2026-05-01");
        assert!(xsd_date("d", "01/05/2026").is_err());
        assert_eq!(xsd_datetime("d", "2026-05-01").expect("ok"), "2026-05-01T00:00:00");
        assert_eq!(xsd_datetime("d", "2026-05-01T10:00:00.250-07:00").expect("ok"), "2026-05-01T10:00:00.250-07:00");
    }
}
