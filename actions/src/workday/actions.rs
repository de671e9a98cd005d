//! The `workday.*` actions: Recruiting SOAP operations (Assess_Candidate,
//! Get_Candidates, Put_Candidate, Move_Candidate, Put_Candidate_Attachment,
//! Get_Job_Requisitions) and the REST job postings list. Bodies come from
//! [`super::requests`]; sending, credentials and fault classification from
//! [`super::client`].

use reqflow_engine::action::{Action, ActionContext, ActionError, ActionInfo};
use reqflow_engine::xml::Element;
use serde_json::{Value, json};

use super::client::WorkdayClient;
use super::params::*;
use super::refs::{child_ids, ids_of};
use super::requests::{self, RequestError};

/// Default bound on pages followed with `all_pages`.
const DEFAULT_MAX_PAGES: u32 = 100;
/// Workday REST's default and largest `limit`.
const REST_DEFAULT_LIMIT: u32 = 20;
const REST_MAX_LIMIT: u32 = 100;

const COMMON_DOCS: &str = "\n\nNeeds a `workday` connection; its `version` (e.g. `v44.0`) goes in the URL \
`/ccx/service/{tenant}/Recruiting/{version}` and in `wd:version`, and elements follow the schema's order. \
References take an ID of the usual type as a string, or `{type, id}` (e.g. `{type: WID, id: …}`). \
A SOAP fault is an error with `faultcode`, `faultstring` and the `Validation_Error` messages in its details: \
`Client.validationError` is permanent, `Server.*` faults and HTTP 5xx are retryable, and on \
`Client.authenticationError` / HTTP 401 an OAuth token is refreshed and the call is sent once more.";

fn docs(specific: &str) -> String {
    format!("{specific}{COMMON_DOCS}")
}

fn build_err(kind: &'static str) -> impl Fn(RequestError) -> ActionError {
    move |e| e.into_action(kind)
}

/// One page of a Get_* answer.
struct Page {
    items: Vec<Value>,
    summaries: Vec<Value>,
    total_results: Option<u64>,
    total_pages: Option<u64>,
    as_of_entry: Option<String>,
}

fn number(el: Option<&Element>, name: &str) -> Option<u64> {
    let t = el?.child(name)?.text();
    let t = t.trim();
    t.parse::<u64>().ok().or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
}

fn read_page(el: &Element, item: &str, summary: Option<Summary>) -> Page {
    let results = el.child("Response_Results");
    let found: Vec<&Element> =
        el.child("Response_Data").map(|d| d.elements().filter(|e| e.name == item).collect()).unwrap_or_default();
    Page {
        items: found.iter().map(|e| e.to_json()).collect(),
        summaries: summary.map(|(_, f)| found.iter().flat_map(|e| f(e)).collect()).unwrap_or_default(),
        total_results: number(results, "Total_Results"),
        total_pages: number(results, "Total_Pages"),
        as_of_entry: el
            .child("Response_Filter")
            .and_then(|f| f.child("As_Of_Entry_DateTime"))
            .map(|e| e.text().trim().to_owned())
            .filter(|s| !s.is_empty()),
    }
}

/// A flat summary added to a Get_* output: its key and how each item is summarised.
type Summary = (&'static str, fn(&Element) -> Vec<Value>);

/// Paging of a Get_* operation.
struct Paging {
    first: u32,
    all_pages: bool,
    max_pages: u32,
    as_of_entry: Option<String>,
    summary: Option<Summary>,
}

/// Gets page `first` (and with `all_pages` the following ones, pinned to page 1's
/// `As_Of_Entry_DateTime`); `{key: items, count, total_results, total_pages, page, pages, next_page}`.
async fn soap_pages(
    client: &WorkdayClient,
    cx: &ActionContext,
    operation: &str,
    item: &str,
    key: &str,
    paging: Paging,
    build: impl Fn(u32, Option<&str>) -> Result<String, ActionError>,
) -> Result<Value, ActionError> {
    let mut page = paging.first;
    let mut pinned = paging.as_of_entry;
    let mut items = Vec::new();
    let mut summaries = Vec::new();
    let mut fetched = 0u32;
    let (mut total_results, mut total_pages);
    loop {
        let body = build(page, pinned.as_deref())?;
        let el = client.soap(cx, operation, body).await?;
        let got = read_page(&el, item, paging.summary);
        fetched += 1;
        let empty = got.items.is_empty();
        items.extend(got.items);
        summaries.extend(got.summaries);
        total_results = got.total_results;
        total_pages = got.total_pages;
        if pinned.is_none() {
            pinned = got.as_of_entry;
        }
        let more = !empty && total_pages.is_some_and(|t| u64::from(page) < t);
        if !more || !paging.all_pages || fetched >= paging.max_pages {
            let mut out = json!({
                key: items, "count": items.len(), "total_results": total_results, "total_pages": total_pages,
                "page": page, "pages": fetched, "next_page": if more { json!(page + 1) } else { Value::Null },
            });
            if let Some((name, _)) = paging.summary {
                out[name] = Value::Array(summaries);
            }
            return Ok(out);
        }
        page += 1;
    }
}

fn the_client(cx: &ActionContext) -> Result<WorkdayClient, ActionError> {
    WorkdayClient::from_context(cx)
}

// --- workday.assess_candidate -------------------------------------------------------------

/// `workday.assess_candidate`: write an assessment result (Assess_Candidate).
#[derive(Debug, Default, Clone, Copy)]
pub struct AssessCandidate;

const ASSESS: &str = "workday.assess_candidate";
const ASSESS_DOCS: &str = "\
Writes an assessment result back to Workday with `Assess_Candidate`: the job application (by \
`job_application`, the Assess Candidate `event`, or `candidate` + `job_requisition`), the status, \
test results with scores, a comment and a results URL; optionally it moves the application on \
(`next_step`) or declines it (`disposition_step`). The application must be in the Assess Candidate \
step (or have been, to update an assessment).\n\n\
**Scores are integers in Workday** (`Assessment_Test_Score`: non-negative, at most 12 digits): a \
fractional `score` is rounded half away from zero, and the output's `rounded` / `scores` / `notes` \
say so. A score belongs to an assessment test (`test:`, a tenant-configured `Reference_ID`).\n\n\
**Idempotent**: `Assess_Candidate_Reference` is `reqflow:{run_id}:{step_id}` unless you set \
`assess_candidate_reference`, so a retried or replayed step updates the assessment it created \
instead of adding a second one.\n\n\
**Versions**: before v31.2 `assessed_by` is required. `results_url` is sent as the test result's \
`Assessment_Test_Results_URL` from v31.2 (with `test:`); otherwise, there being no URL element, it \
is appended to the overall comment as `Results: <url>` (reported in `notes`).\n\n\
Output: `{assess_candidate_reference, candidate_assessment_event, candidate_assessment, scores, \
rounded, notes, version}`; references are `{WID, <type>_ID…}` objects.";

impl Action for AssessCandidate {
    type Params = AssessCandidateParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new(
            ASSESS,
            "Write an assessment result (status, score, comment, report URL) to a Workday job application",
        )
        .docs(docs(ASSESS_DOCS))
        .connection("workday")
        .example(json!({
            "job_application": "{{ event.body.job_application_id }}",
            "status": "PASSED",
            "test": "CODING_TEST_V2",
            "score": "$.event.body.score",
            "comment": "Coding test 87.5/100; recommended.",
            "results_url": "{{ event.body.report_url }}",
            "assessed_by": "21001"
        }))
    }

    async fn run(&self, cx: ActionContext, p: AssessCandidateParams) -> Result<Value, ActionError> {
        let client = the_client(&cx)?;
        let reference = format!("reqflow:{}", cx.idempotency_key());
        let built = requests::assess_candidate(&p, client.version(), &reference, chrono::Utc::now().date_naive())
            .map_err(build_err(ASSESS))?;
        let el = client.soap(&cx, "Assess_Candidate", built.body).await?;
        Ok(json!({
            "assess_candidate_reference": built.reference,
            "candidate_assessment_event": child_ids(&el, "Candidate_Assessment_Event_Reference"),
            "candidate_assessment": child_ids(&el, "Candidate_Assessment_Reference"),
            "scores": built.scores,
            "rounded": built.rounded,
            "notes": built.notes,
            "version": client.version().to_string(),
        }))
    }
}

// --- workday.candidates.get ---------------------------------------------------------------

/// `workday.candidates.get`: Get_Candidates by reference or criteria, paged.
#[derive(Debug, Default, Clone, Copy)]
pub struct CandidatesGet;

const CANDIDATES_GET: &str = "workday.candidates.get";
const CANDIDATES_GET_DOCS: &str = "\
Reads candidates with `Get_Candidates`: by reference (`candidates: [CAND-1182, …]`), or by criteria \
(name, email, job requisitions, stages, sources, application dates), with their job applications \
(stage, workflow step, disposition).\n\n\
One page (`page`, `count` up to 999) with `next_page` when there are more, or with `all_pages: true` \
every page to the last one; later pages reuse page 1's `As_Of_Entry_DateTime`, so a candidate added \
meanwhile does not shift the pages.\n\n\
Output: `{candidates: [{Candidate_Reference, Candidate_Data}], applications, count, total_results, \
total_pages, page, pages, next_page}`, each candidate as the response element's JSON (local names as keys; \
`@type` / `#text` for typed IDs), and `applications`: one flat entry per job application, \
`{candidate_id, candidate, first_name, last_name, name, email, job_application_id, job_application, \
job_requisition_id, stage, workflow_step, disposition, job_application_date, status_timestamp}`, \
for filters and `foreach` (`$.steps.x.output.applications[?@.stage == 'ASSESSMENT']`).";

impl Action for CandidatesGet {
    type Params = CandidatesGetParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new(CANDIDATES_GET, "Get Workday candidates by reference or criteria (paged)")
            .docs(docs(CANDIDATES_GET_DOCS))
            .connection("workday")
            .example(json!({"stages": ["ASSESSMENT"], "job_requisitions": ["R-00008"], "all_pages": true}))
    }

    async fn run(&self, cx: ActionContext, p: CandidatesGetParams) -> Result<Value, ActionError> {
        let client = the_client(&cx)?;
        let version = client.version();
        let paging = Paging {
            first: p.page.unwrap_or(1),
            all_pages: p.all_pages,
            max_pages: p.max_pages.unwrap_or(DEFAULT_MAX_PAGES).max(1),
            as_of_entry: p.as_of_entry_datetime.clone(),
            summary: Some(("applications", super::summary::applications)),
        };
        soap_pages(&client, &cx, "Get_Candidates", "Candidate", "candidates", paging, |page, as_of| {
            requests::get_candidates(&p, version, page, as_of).map_err(build_err(CANDIDATES_GET))
        })
        .await
    }
}

// --- workday.candidates.put ---------------------------------------------------------------

/// `workday.candidates.put`: Put_Candidate (add only by default).
#[derive(Debug, Default, Clone, Copy)]
pub struct CandidatesPut;

const CANDIDATES_PUT: &str = "workday.candidates.put";
const CANDIDATES_PUT_DOCS: &str = "\
Adds a candidate with `Put_Candidate` and `wd:Add_Only=\"true\"` (the default): name, email / phone, \
web sites, address, and a job application (`job_requisition`, `stage` default `REVIEW`, \
`workflow_step`, `source`, a `resume` file) or `prospect: true`. Workday requires a name, an email or \
phone, and a job application or prospect data to add a candidate; if the candidate already exists, \
Add_Only makes Workday refuse (a permanent validation error) rather than silently update. Set \
`add_only: false` with `candidate:` to update an existing candidate.\n\n\
Names are written as `Name_Data/First_Name…` up to v42 and as \
`Name_Data/Legal_Name/Name_Detail_Data/…` from v43.0.\n\n\
Output: `{candidate: {WID, Candidate_ID}, candidate_id, job_applications: [{job_application, job_requisition}]}`.";

impl Action for CandidatesPut {
    type Params = CandidatesPutParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new(CANDIDATES_PUT, "Add (or update) a Workday candidate, optionally applying to a job requisition")
            .docs(docs(CANDIDATES_PUT_DOCS))
            .connection("workday")
            .example(json!({
                "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                "job_requisition": "R-00008", "source": "ASSESSMENT_VENDOR"
            }))
    }

    async fn run(&self, cx: ActionContext, p: CandidatesPutParams) -> Result<Value, ActionError> {
        let client = the_client(&cx)?;
        let body = requests::put_candidate(&p, client.version()).map_err(build_err(CANDIDATES_PUT))?;
        let el = client.soap(&cx, "Put_Candidate", body).await?;
        let candidate = child_ids(&el, "Candidate_Reference");
        let applications: Vec<Value> = el
            .elements()
            .filter(|e| e.name == "Candidate_Job_Application_Data")
            .map(|a| {
                json!({
                    "job_application": child_ids(a, "Job_Application_Reference"),
                    "job_requisition": child_ids(a, "Job_Requisition_Reference"),
                })
            })
            .collect();
        Ok(json!({
            "candidate_id": candidate.get("Candidate_ID").cloned().unwrap_or(Value::Null),
            "candidate": candidate,
            "job_applications": applications,
            "add_only": p.add_only,
        }))
    }
}

// --- workday.candidates.move --------------------------------------------------------------

/// `workday.candidates.move`: Move_Candidate to the next step or a disposition.
#[derive(Debug, Default, Clone, Copy)]
pub struct CandidatesMove;

const CANDIDATES_MOVE: &str = "workday.candidates.move";
const CANDIDATES_MOVE_DOCS: &str = "\
Moves a job application with `Move_Candidate`: forward to `next_step`, or to a disposition with \
`disposition_step` (both `Workflow_Step_ID`s configured in the tenant), with an optional `comment`. \
The application is named by `job_application`, its `event`, or `candidate` + `job_requisition`. \
Workday refuses (permanently) a step that is not valid for the application, or an application whose \
business process is no longer in progress.\n\n\
Output: `{event: {WID, …}}`, the recruiting event.";

impl Action for CandidatesMove {
    type Params = CandidatesMoveParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new(CANDIDATES_MOVE, "Move a Workday job application to the next step or decline it")
            .docs(docs(CANDIDATES_MOVE_DOCS))
            .connection("workday")
            .example(json!({
                "job_application": "{{ event.body.job_application_id }}",
                "disposition_step": "DECLINE_STEP_ID",
                "comment": "Below the assessment threshold"
            }))
    }

    async fn run(&self, cx: ActionContext, p: CandidatesMoveParams) -> Result<Value, ActionError> {
        let client = the_client(&cx)?;
        let body = requests::move_candidate(&p, client.version()).map_err(build_err(CANDIDATES_MOVE))?;
        let el = client.soap(&cx, "Move_Candidate", body).await?;
        Ok(json!({"event": child_ids(&el, "Event_Reference")}))
    }
}

// --- workday.candidates.attach ------------------------------------------------------------

/// `workday.candidates.attach`: Put_Candidate_Attachment (reports, transcripts).
#[derive(Debug, Default, Clone, Copy)]
pub struct CandidatesAttach;

const CANDIDATES_ATTACH: &str = "workday.candidates.attach";
const CANDIDATES_ATTACH_DOCS: &str = "\
Attaches a file to a candidate with `Put_Candidate_Attachment`: an assessment report, an interview \
transcript. To the job application (`job_application` and/or `job_requisition`: where recruiters \
look for assessment results), or to the candidate's profile in a `document_category`. The file is \
`content` (base64, or a binary value such as the `body` of an `http.request` that fetched the \
report) or `text` (encoded for you), with `file_name` (≤ 255 characters; default: the binary \
value's name) and `content_type` (default: the binary value's, else from the extension; \
`text/plain` for `text`).\n\n\
Output: `{candidate, attachments: [{WID, File_ID}], job_applications: [{job_application, attachments}]}`.";

impl Action for CandidatesAttach {
    type Params = CandidatesAttachParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new(CANDIDATES_ATTACH, "Attach a report or transcript to a Workday candidate or job application")
            .docs(docs(CANDIDATES_ATTACH_DOCS))
            .connection("workday")
            .example(json!({
                "candidate": "{{ event.body.candidate_id }}",
                "job_application": "{{ event.body.job_application_id }}",
                "file_name": "interview-transcript.txt",
                "text": "$.steps.transcript.output.body",
                "comment": "AI interview transcript"
            }))
    }

    async fn run(&self, cx: ActionContext, p: CandidatesAttachParams) -> Result<Value, ActionError> {
        let client = the_client(&cx)?;
        let body = requests::put_candidate_attachment(&p, client.version()).map_err(build_err(CANDIDATES_ATTACH))?;
        let el = client.soap(&cx, "Put_Candidate_Attachment", body).await?;
        let attachments: Vec<Value> = el.elements().filter(|e| e.name == "Attachment_Reference").map(ids_of).collect();
        let applications: Vec<Value> = el
            .elements()
            .filter(|e| e.name == "Job_Application_Attachment_Data")
            .map(|a| {
                json!({
                    "job_application": child_ids(a, "Job_Application_Reference"),
                    "attachments": a.elements().filter(|e| e.name == "Job_Application_Attachment_Reference").map(ids_of).collect::<Vec<_>>(),
                    "job_applications_updated": a.child("Job_Applications_Updated").map(|e| e.text()),
                })
            })
            .collect();
        Ok(json!({
            "candidate": child_ids(&el, "Candidate_Reference"),
            "attachments": attachments,
            "job_applications": applications,
        }))
    }
}

// --- workday.job_requisitions.get ---------------------------------------------------------

/// `workday.job_requisitions.get`: Get_Job_Requisitions, paged.
#[derive(Debug, Default, Clone, Copy)]
pub struct JobRequisitionsGet;

const REQUISITIONS_GET: &str = "workday.job_requisitions.get";
const REQUISITIONS_GET_DOCS: &str = "\
Reads job requisitions with `Get_Job_Requisitions`: by reference (`job_requisitions: [R-00008]`) or by \
criteria (statuses, supervisory organizations, primary locations), with the parts named in `include` \
(e.g. `definition`: title, positions, description).\n\n\
Paged like `workday.candidates.get` (`page`, `count`, `all_pages`, `next_page`).\n\n\
Output: `{job_requisitions: [{Job_Requisition_Reference, Job_Requisition_Data}], count, \
total_results, total_pages, page, pages, next_page}`.";

impl Action for JobRequisitionsGet {
    type Params = JobRequisitionsGetParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new(REQUISITIONS_GET, "Get Workday job requisitions by reference or criteria (paged)")
            .docs(docs(REQUISITIONS_GET_DOCS))
            .connection("workday")
            .example(json!({"job_requisitions": ["R-00008"], "include": ["definition"]}))
    }

    async fn run(&self, cx: ActionContext, p: JobRequisitionsGetParams) -> Result<Value, ActionError> {
        let client = the_client(&cx)?;
        let version = client.version();
        let paging = Paging {
            first: p.page.unwrap_or(1),
            all_pages: p.all_pages,
            max_pages: p.max_pages.unwrap_or(DEFAULT_MAX_PAGES).max(1),
            as_of_entry: p.as_of_entry_datetime.clone(),
            summary: None,
        };
        soap_pages(
            &client,
            &cx,
            "Get_Job_Requisitions",
            "Job_Requisition",
            "job_requisitions",
            paging,
            |page, as_of| requests::get_job_requisitions(&p, version, page, as_of).map_err(build_err(REQUISITIONS_GET)),
        )
        .await
    }
}

// --- workday.job_postings.list ------------------------------------------------------------

/// `workday.job_postings.list`: REST `GET /ccx/api/recruiting/v4/{tenant}/jobPostings`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JobPostingsList;

const POSTINGS_LIST: &str = "workday.job_postings.list";
const POSTINGS_LIST_DOCS: &str = "\
Lists job postings through Workday's REST Recruiting API, `GET /ccx/api/recruiting/v4/{tenant}/jobPostings` \
(needs an OAuth `workday` connection: the REST API takes bearer tokens only). Filters: `job_requisition`, \
`job_site`, `category`, `job_posting`.\n\n\
One page (`limit` 1–100, default 20; zero-based `offset`) with `next_offset` when there are more, or \
with `all_pages: true` every page until `total` is reached.\n\n\
Errors: 401 refreshes the token and retries once; 400/403/404 are permanent (Workday's \
`{error, errors: [{error, code, field}]}` in the message and details); 429 and 5xx are retryable.\n\n\
Output: `{job_postings: [{id, title, jobSite, startDate, url, …}], count, total, offset, pages, next_offset}`.";

impl Action for JobPostingsList {
    type Params = JobPostingsListParams;

    fn info(&self) -> ActionInfo {
        ActionInfo::new(POSTINGS_LIST, "List Workday job postings (REST recruiting v4, paged)")
            .docs(POSTINGS_LIST_DOCS)
            .connection("workday")
            .example(json!({"limit": 100, "all_pages": true}))
    }

    async fn run(&self, cx: ActionContext, p: JobPostingsListParams) -> Result<Value, ActionError> {
        let client = the_client(&cx)?;
        let limit = p.limit.unwrap_or(REST_DEFAULT_LIMIT);
        if !(1..=REST_MAX_LIMIT).contains(&limit) {
            return Err(RequestError::Invalid(format!("`limit` must be between 1 and {REST_MAX_LIMIT} (got {limit})"))
                .into_action(POSTINGS_LIST));
        }
        let first = p.offset.unwrap_or(0);
        let max_pages = p.max_pages.unwrap_or(DEFAULT_MAX_PAGES).max(1);
        let path =
            format!("recruiting/v4/{}/jobPostings", client.tenant_segment().map_err(|e| e.into_action(POSTINGS_LIST))?);
        let mut filters = Vec::new();
        for (k, list) in [
            ("jobRequisition", &p.job_requisition),
            ("jobSite", &p.job_site),
            ("category", &p.category),
            ("jobPosting", &p.job_posting),
        ] {
            filters.extend(list.iter().map(|v| (k.to_owned(), v.clone())));
        }
        let mut offset = first;
        let mut items: Vec<Value> = Vec::new();
        let mut pages = 0u32;
        loop {
            let mut query = vec![("limit".to_owned(), limit.to_string()), ("offset".to_owned(), offset.to_string())];
            query.extend(filters.iter().cloned());
            let page = client.rest_get(&cx, &path, &query).await?;
            pages += 1;
            let data = page.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
            let total = page.get("total").and_then(Value::as_u64);
            let got = data.len() as u64;
            items.extend(data);
            let next = offset + got;
            let more = got > 0 && total.is_some_and(|t| next < t);
            if !more || !p.all_pages || pages >= max_pages {
                return Ok(json!({
                    "job_postings": items, "count": items.len(), "total": total, "offset": first,
                    "pages": pages, "next_offset": if more { Some(next) } else { None },
                }));
            }
            offset = next;
        }
    }
}
