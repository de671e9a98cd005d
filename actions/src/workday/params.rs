//! `with:` of the `workday.*` actions. Every field's documentation is what
//! `validate`, the generated JSON Schema and `reqflow actions` show.
//!
//! References ([`WdRef`]) take an ID of the object's usual type as a string
//! (named in each field's documentation), or `{type, id}` with `type` `WID`
//! or another of the object's ID types.

use schemars::JsonSchema;
use serde::Deserialize;

use super::refs::WdRef;
pub use crate::file_content::FileContent;

fn yes() -> bool {
    true
}

/// `with:` of `workday.assess_candidate`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessCandidateParams {
    /// The job application to assess: a `Job_Application_ID` (e.g. `JOB_APPLICATION-6-248`) or
    /// `{type: WID, id}`. Give exactly one of `job_application`, `event` and `candidate`.
    #[serde(default)]
    pub job_application: Option<WdRef>,
    /// The Assess Candidate business-process event: a `WID` (default) or `{type: IID, id}`.
    #[serde(default)]
    pub event: Option<WdRef>,
    /// The candidate (a `Candidate_ID`, or `{type: WID, id}`), with `job_requisition` when the
    /// candidate has applied to several requisitions: together they must name exactly one job
    /// application with an assessment in progress.
    #[serde(default)]
    pub candidate: Option<WdRef>,
    /// With `candidate`: the job requisition (a `Job_Requisition_ID`, e.g. `R-00008`, or `{type: WID, id}`).
    #[serde(default)]
    pub job_requisition: Option<WdRef>,
    /// The assessment's status: an `Assessment_Status_ID` configured in the tenant (e.g. `PASSED`).
    pub status: WdRef,
    /// The score. Workday stores a test score as a non-negative integer (at most 12 digits), so a
    /// fractional score is rounded half away from zero (87.5 → 88); the output says when it was.
    /// Needs `test:`, the assessment test the score belongs to.
    #[serde(default)]
    pub score: Option<Score>,
    /// The assessment test of `score` / `test_status` / `results_url`: a `Reference_ID` configured in
    /// the tenant (e.g. `CODING_TEST_V2`). It becomes the first test result.
    #[serde(default)]
    pub test: Option<WdRef>,
    /// With `test:`: that test's status (an `Assessment_Status_ID`; default none).
    #[serde(default)]
    pub test_status: Option<WdRef>,
    /// The overall comment (`Overall_Assessment_Comment`).
    #[serde(default)]
    pub comment: Option<String>,
    /// Where the full results are (the vendor's report). From v31.2, with `test:`, it is sent as that
    /// test result's `Assessment_Test_Results_URL`; otherwise (older versions have no URL element) it
    /// is appended to the overall comment as `Results: <url>`, and the output's `notes` say so.
    #[serde(default)]
    pub results_url: Option<String>,
    /// More test results, after the one built from `test:` / `score:`.
    #[serde(default)]
    pub tests: Vec<TestResultParams>,
    /// Who assessed: a worker's `Employee_ID` (or `{type: Contingent_Worker_ID | WID, id}`), e.g.
    /// the integration's worker. Required by versions before v31.2.
    #[serde(default)]
    pub assessed_by: Option<WdRef>,
    /// The assessment date, `YYYY-MM-DD` (an RFC 3339 date-time is cut to its date). Default: today (UTC).
    #[serde(default)]
    pub assessed_on: Option<String>,
    /// Move the application forward to this workflow step (a `Workflow_Step_ID`). Only while the
    /// application is in the Assess Candidate step.
    #[serde(default)]
    pub next_step: Option<WdRef>,
    /// Or decline: the disposition workflow step (a `Workflow_Step_ID`).
    #[serde(default)]
    pub disposition_step: Option<WdRef>,
    /// With `next_step` or `disposition_step`: the business-process comment.
    #[serde(default)]
    pub step_comment: Option<String>,
    /// The `Assess_Candidate_Reference`, the external key that makes a second call update the same
    /// assessment. Default: `reqflow:{run_id}:{step_id}`, so a retried or replayed step updates
    /// rather than duplicates. Set it (e.g. to the vendor's assessment id) to update one
    /// assessment across runs.
    #[serde(default)]
    pub assess_candidate_reference: Option<String>,
}

/// A score: a number, or a string holding one (as some vendors send it).
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(untagged)]
pub enum Score {
    /// A number, at least 0.
    Number(#[schemars(range(min = 0))] f64),
    /// A number written as a string, e.g. `"87.5"`.
    Text(#[schemars(with = "String")] ScoreText),
}

/// A score written as a string (parsed when the request is built).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreText(pub Option<f64>);

impl<'de> Deserialize<'de> for ScoreText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ScoreText(s.trim().parse::<f64>().ok().filter(|f| f.is_finite())))
    }
}

impl Score {
    /// The number, if this is one.
    pub fn value(self) -> Option<f64> {
        match self {
            Score::Number(n) => Some(n),
            Score::Text(t) => t.0,
        }
    }
}

/// One assessment test result.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestResultParams {
    /// The assessment test: a `Reference_ID` configured in the tenant.
    pub test: WdRef,
    /// The score, rounded half away from zero to a non-negative integer (Workday's type).
    #[serde(default)]
    pub score: Option<Score>,
    /// The test's status (an `Assessment_Status_ID`).
    #[serde(default)]
    pub status: Option<WdRef>,
    /// The test date, `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// A comment on this test.
    #[serde(default)]
    pub comment: Option<String>,
    /// The report's URL: `Assessment_Test_Results_URL` from v31.2, appended to `comment` before.
    #[serde(default)]
    pub results_url: Option<String>,
}

/// `with:` of `workday.candidates.get`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidatesGetParams {
    /// Get these candidates (each a `Candidate_ID` or `{type: WID, id}`). Leave empty to search
    /// with the criteria below (or to list every candidate).
    #[serde(default)]
    pub candidates: Vec<WdRef>,
    /// With `candidates`: leave out unknown IDs instead of failing the call
    /// (`wd:Skip_Non_Existing_Instances`).
    #[serde(default)]
    pub skip_non_existing: bool,
    /// Criteria: first name (needs `last_name`).
    #[serde(default)]
    pub first_name: Option<String>,
    /// Criteria: last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Criteria: email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Criteria: applied to any of these job requisitions (`Job_Requisition_ID`s).
    #[serde(default)]
    pub job_requisitions: Vec<WdRef>,
    /// Criteria: in any of these recruiting stages (`Recruiting_Stage_ID`s, e.g. `ASSESSMENT`).
    #[serde(default)]
    pub stages: Vec<WdRef>,
    /// Criteria: from any of these applicant sources (`Applicant_Source_ID`s).
    #[serde(default)]
    pub sources: Vec<WdRef>,
    /// Criteria: applied at or after this date-time (RFC 3339; a bare date means its midnight).
    #[serde(default)]
    pub applied_from: Option<String>,
    /// Criteria: applied at or before this date-time.
    #[serde(default)]
    pub applied_through: Option<String>,
    /// Criteria: only internal candidates (workers).
    #[serde(default)]
    pub internal_workers_only: Option<bool>,
    /// Criteria: created at or after this date-time (v31.2 and later).
    #[serde(default)]
    pub created_from: Option<String>,
    /// Criteria: created at or before this date-time (v31.2 and later).
    #[serde(default)]
    pub created_through: Option<String>,
    /// The first page to get (1-based, default 1).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Candidates per page, 1–999 (Workday's default is 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 999))]
    pub count: Option<u32>,
    /// Follow the pages to the last one and return every candidate (default false: one page,
    /// plus `next_page`). Later pages reuse page 1's `As_Of_Entry_DateTime`, so the pages are
    /// one consistent snapshot.
    #[serde(default)]
    pub all_pages: bool,
    /// With `all_pages`, stop after this many pages (default 100).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_pages: Option<u32>,
    /// Read the data as of this moment (`As_Of_Entry_DateTime`, RFC 3339).
    #[serde(default)]
    pub as_of_entry_datetime: Option<String>,
    /// Read the data as effective on this date (`As_Of_Effective_Date`, `YYYY-MM-DD`).
    #[serde(default)]
    pub as_of_effective_date: Option<String>,
}

/// A file to send (base64 `content`, or `text`).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileParams {
    /// The file name (at most 255 characters), e.g. `cv.pdf`. Default: a binary `content`'s name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// The file's bytes: base64 text or a binary value. Give `content` or `text`.
    #[serde(default)]
    pub content: Option<FileContent>,
    /// Or the file as text (UTF-8; encoded for you), e.g. an interview transcript.
    #[serde(default)]
    pub text: Option<String>,
    /// The MIME type (`Content_Type_ID`, e.g. `application/pdf`). Default: from the file name's
    /// extension, `text/plain` for `text`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// A comment on the file.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A candidate's address.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressParams {
    /// The country: an ISO 3166-1 alpha-2 code (e.g. `US`), or `{type, id}`.
    #[serde(default)]
    pub country: Option<WdRef>,
    /// First address line.
    #[serde(default)]
    pub line1: Option<String>,
    /// Second address line.
    #[serde(default)]
    pub line2: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
}

/// `with:` of `workday.candidates.put`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidatesPutParams {
    /// `wd:Add_Only` (default true): only add; if the candidate already exists Workday refuses with
    /// "The Web Service is set to Add Only, but the Candidate already exists." Set false (with
    /// `candidate:`) to update.
    #[serde(default = "yes")]
    pub add_only: bool,
    /// The candidate to update (a `Candidate_ID` or `{type: WID, id}`); needs `add_only: false`.
    #[serde(default)]
    pub candidate: Option<WdRef>,
    /// The `Candidate_ID` to give a new candidate (default: Workday assigns one).
    #[serde(default)]
    pub candidate_id: Option<String>,
    /// First name (a name is required to add a candidate).
    #[serde(default)]
    pub first_name: Option<String>,
    /// Middle name.
    #[serde(default)]
    pub middle_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Email address (an email or a phone is required to add a candidate).
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Web sites (profile URLs).
    #[serde(default)]
    pub websites: Vec<String>,
    /// Address.
    #[serde(default)]
    pub address: Option<AddressParams>,
    /// Apply to this job requisition (a `Job_Requisition_ID` or `{type: WID, id}`). Adding a
    /// candidate needs a job application or `prospect: true`.
    #[serde(default)]
    pub job_requisition: Option<WdRef>,
    /// With `job_requisition`: the recruiting stage (a Workday-owned `Recruiting_Stage_ID`,
    /// default `REVIEW`).
    #[serde(default)]
    pub stage: Option<WdRef>,
    /// With `job_requisition`: the workflow step (a `Workflow_Step_ID`).
    #[serde(default)]
    pub workflow_step: Option<WdRef>,
    /// The applicant source (an `Applicant_Source_ID`), on the job application or the prospect.
    #[serde(default)]
    pub source: Option<WdRef>,
    /// With `job_requisition`: when the candidate applied (RFC 3339).
    #[serde(default)]
    pub applied_at: Option<String>,
    /// With `job_requisition`: a résumé to attach to the application.
    #[serde(default)]
    pub resume: Option<FileParams>,
    /// Add the candidate as a prospect (`Prospect_Data/Prospect`).
    #[serde(default)]
    pub prospect: Option<bool>,
}

/// `with:` of `workday.candidates.move`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidatesMoveParams {
    /// The job application: a `Job_Application_ID` or `{type: WID, id}`. Give exactly one of
    /// `job_application`, `event` and `candidate` + `job_requisition`.
    #[serde(default)]
    pub job_application: Option<WdRef>,
    /// The job application's business-process event: a `WID` (default) or `{type: IID, id}`.
    #[serde(default)]
    pub event: Option<WdRef>,
    /// The candidate (`Candidate_ID`); needs `job_requisition`.
    #[serde(default)]
    pub candidate: Option<WdRef>,
    /// With `candidate`: the job requisition (`Job_Requisition_ID`).
    #[serde(default)]
    pub job_requisition: Option<WdRef>,
    /// Move forward to this workflow step (a `Workflow_Step_ID`). Give `next_step` or `disposition_step`.
    #[serde(default)]
    pub next_step: Option<WdRef>,
    /// Or decline with this disposition step (a `Workflow_Step_ID`).
    #[serde(default)]
    pub disposition_step: Option<WdRef>,
    /// The business-process comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `with:` of `workday.candidates.attach`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidatesAttachParams {
    /// The candidate: a `Candidate_ID` or `{type: WID, id}`.
    pub candidate: WdRef,
    /// Attach to this job application (`Job_Application_ID`), where recruiters see assessment
    /// reports. Give `job_application` and/or `job_requisition`, or `document_category`.
    #[serde(default)]
    pub job_application: Option<WdRef>,
    /// Attach to the candidate's application for this job requisition (`Job_Requisition_ID`).
    #[serde(default)]
    pub job_requisition: Option<WdRef>,
    /// Or attach to the candidate's profile in this document category (a `Document_Category_ID`).
    #[serde(default)]
    pub document_category: Option<WdRef>,
    /// The file name (at most 255 characters), e.g. `assessment-report.pdf`. Default: a
    /// binary `content`'s name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// The file's bytes: base64 text, or a binary value (e.g. the `body` of an `http.request`
    /// that fetched the report), whose content type is used unless `content_type` is given.
    /// Give `content` or `text`.
    #[serde(default)]
    pub content: Option<FileContent>,
    /// Or the file as text (UTF-8; encoded for you), e.g. an interview transcript.
    #[serde(default)]
    pub text: Option<String>,
    /// The MIME type (`Content_Type_ID`, e.g. `application/pdf`). Default: from the file name's
    /// extension, `text/plain` for `text`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// A comment on the attachment.
    #[serde(default)]
    pub comment: Option<String>,
    /// The attachment's own ID (`Attachment_Data/ID`), when you keep one.
    #[serde(default)]
    pub attachment_id: Option<String>,
}

/// Optional parts of a job requisition to include.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RequisitionInclude {
    /// `Include_Job_Requisition_Definition_Data`: title, positions, description.
    Definition,
    /// `Include_Job_Requisition_Restrictions_Data`: hiring requirements.
    Restrictions,
    /// `Include_Qualifications`.
    Qualifications,
    /// `Include_Job_Requisition_Attachments`.
    Attachments,
    /// `Include_Organizations`.
    Organizations,
    /// `Include_Roles`.
    Roles,
}

/// `with:` of `workday.job_requisitions.get`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequisitionsGetParams {
    /// Get these job requisitions (each a `Job_Requisition_ID` or `{type: WID, id}`). Leave empty
    /// to search with the criteria below.
    #[serde(default)]
    pub job_requisitions: Vec<WdRef>,
    /// With `job_requisitions`: leave out unknown IDs instead of failing the call.
    #[serde(default)]
    pub skip_non_existing: bool,
    /// Criteria: in any of these statuses (`Job_Requisition_Status_ID`s).
    #[serde(default)]
    pub statuses: Vec<WdRef>,
    /// Criteria: in any of these supervisory organizations (`Organization_Reference_ID`s).
    #[serde(default)]
    pub supervisory_organizations: Vec<WdRef>,
    /// Criteria: with any of these primary locations (`Location_ID`s).
    #[serde(default)]
    pub primary_locations: Vec<WdRef>,
    /// Parts to include (`Response_Group`), e.g. `[definition]`. Default: Workday's default groups.
    #[serde(default)]
    pub include: Vec<RequisitionInclude>,
    /// The first page to get (1-based, default 1).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub page: Option<u32>,
    /// Requisitions per page, 1–999 (Workday's default is 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 999))]
    pub count: Option<u32>,
    /// Follow the pages to the last one (default false: one page, plus `next_page`).
    #[serde(default)]
    pub all_pages: bool,
    /// With `all_pages`, stop after this many pages (default 100).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_pages: Option<u32>,
    /// Read the data as of this moment (`As_Of_Entry_DateTime`, RFC 3339).
    #[serde(default)]
    pub as_of_entry_datetime: Option<String>,
    /// Read the data as effective on this date (`As_Of_Effective_Date`, `YYYY-MM-DD`).
    #[serde(default)]
    pub as_of_effective_date: Option<String>,
}

/// `with:` of `workday.job_postings.list`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobPostingsListParams {
    /// Postings per page, 1–100 (Workday's default is 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// Zero-based index of the first posting (default 0).
    #[serde(default)]
    pub offset: Option<u64>,
    /// Follow the pages to the last one and return every posting (default false: one page,
    /// plus `next_offset`).
    #[serde(default)]
    pub all_pages: bool,
    /// With `all_pages`, stop after this many pages (default 100).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_pages: Option<u32>,
    /// Only postings of these job requisitions (`jobRequisition`: WIDs or `Job_Requisition_ID=R-00008`).
    #[serde(default)]
    pub job_requisition: Vec<String>,
    /// Only postings on these job posting sites (`jobSite` IDs).
    #[serde(default)]
    pub job_site: Vec<String>,
    /// Only postings in these job categories (`category` IDs).
    #[serde(default)]
    pub category: Vec<String>,
    /// Only these job postings (`jobPosting` IDs).
    #[serde(default)]
    pub job_posting: Vec<String>,
}
