//! Every shape of request body the `workday.*` SOAP actions build: each
//! locator, each optional part, each paging variant.

use chrono::NaiveDate;
use reqflow_actions::workday::requests;
use reqflow_actions::workday::{
    AssessCandidateParams, CandidatesAttachParams, CandidatesGetParams, CandidatesMoveParams, CandidatesPutParams,
    JobRequisitionsGetParams, WwsVersion,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const WID: &str = "cf1ced2ceea88194f85fca105627ac02";

fn params<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("params {v}: {e}"))
}

/// `(name, body)` for every variant at `version`.
pub fn all(version: &str) -> Vec<(String, String)> {
    let v = WwsVersion::parse(version).expect("version");
    let day = NaiveDate::from_ymd_opt(2026, 5, 1).expect("date");
    let mut out = Vec::new();

    let assess: Vec<(&str, Value)> = vec![
        (
            "assess_full",
            json!({
                "job_application": "JOB_APPLICATION-6-248", "status": "PASSED", "test": "CODING_TEST_V2",
                "score": 87.5, "test_status": "PASSED", "comment": "Coding test 87.5/100 & <recommended>",
                "results_url": "https://vendor.example/report/123?a=1&b=2", "assessed_by": "21001",
                "assessed_on": "2026-05-01T10:00:00-07:00", "next_step": "JOB_APPLICATION_STEP_INTERVIEW",
                "step_comment": "Auto-advanced", "assess_candidate_reference": "vendor-assessment-42",
                "tests": [{"test": {"type": "WID", "id": WID}, "score": 3, "status": "FAILED", "date": "2026-04-30",
                           "comment": "Personality", "results_url": "https://vendor.example/report/124"},
                          {"test": "AI_INTERVIEW"}]
            }),
        ),
        (
            "assess_event",
            json!({"event": {"type": "IID", "id": "IID-123"}, "status": "PASSED", "assessed_by": {"type": "Contingent_Worker_ID", "id": "CW-3001"}}),
        ),
        (
            "assess_event_wid",
            json!({"event": WID, "status": {"type": "WID", "id": WID}, "assessed_by": {"type": "WID", "id": WID}}),
        ),
        (
            "assess_candidate_requisition",
            json!({"candidate": "CAND-1182", "job_requisition": "R-00008", "status": "FAILED",
            "disposition_step": "DECLINE_STEP_ID", "assessed_by": "21001", "comment": "Below threshold"}),
        ),
        (
            "assess_candidate_only",
            json!({"candidate": {"type": "WID", "id": WID}, "status": "PASSED", "assessed_by": "21001",
            "results_url": "https://vendor.example/r/1"}),
        ),
        (
            "assess_disposition_no_comment",
            json!({"job_application": {"type": "WID", "id": WID}, "status": "FAILED",
            "assessed_by": "21001", "disposition_step": "DECLINE_STEP_ID", "test": "CODING_TEST_V2", "score": 0}),
        ),
    ];
    for (name, p) in assess {
        let p: AssessCandidateParams = params(p);
        let b =
            requests::assess_candidate(&p, v, "reqflow:run-1:assess", day).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.push((name.to_owned(), b.body));
    }

    let get: Vec<(&str, u32, Option<&str>, Value)> = vec![
        (
            "candidates_by_reference",
            1,
            None,
            json!({"candidates": ["CAND-1182", {"type": "WID", "id": WID}], "skip_non_existing": true}),
        ),
        (
            "candidates_by_criteria",
            1,
            None,
            json!({
                "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                "job_requisitions": ["R-00008", "R-00009"], "stages": ["ASSESSMENT"], "sources": ["CAREER_SITE"],
                "applied_from": "2026-01-01", "applied_through": "2026-12-31T23:59:59Z", "internal_workers_only": false,
                "count": 50, "as_of_effective_date": "2026-05-01"
            }),
        ),
        ("candidates_all_page_2", 2, Some("2026-05-01T10:15:00.000-07:00"), json!({"count": 999})),
        ("candidates_none", 1, None, json!({})),
    ];
    for (name, page, as_of, p) in get {
        let p: CandidatesGetParams = params(p);
        out.push((
            name.to_owned(),
            requests::get_candidates(&p, v, page, as_of).unwrap_or_else(|e| panic!("{name}: {e}")),
        ));
    }

    let put: Vec<(&str, Value)> = vec![
        (
            "put_full",
            json!({
                "candidate_id": "EXT-77", "first_name": "Ada", "middle_name": "King", "last_name": "Lovelace",
                "email": "ada@example.com", "phone": "+1 555 0100", "websites": ["https://ada.example", "https://gh.example/ada"],
                "address": {"country": "GB", "line1": "12 St James's Square", "line2": "Flat 1", "city": "London", "postal_code": "SW1Y 4JH"},
                "job_requisition": "R-00008", "stage": "SCREEN", "workflow_step": "JOB_APPLICATION_STEP_SCREEN",
                "source": "ASSESSMENT_VENDOR", "applied_at": "2026-04-29T10:15:00.000-07:00",
                "resume": {"file_name": "cv.pdf", "content": "JVBERi0xLjQK", "comment": "CV"}
            }),
        ),
        (
            "put_minimal_application",
            json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "job_requisition": {"type": "WID", "id": WID}}),
        ),
        (
            "put_prospect",
            json!({"first_name": "Alan", "last_name": "Turing", "phone": "+44 20 0000", "prospect": true, "source": "REFERRAL"}),
        ),
        (
            "put_update",
            json!({"add_only": false, "candidate": "CAND-1182", "email": "ada.new@example.com",
            "address": {"country": {"type": "ISO_3166-1_Alpha-3_Code", "id": "GBR"}}}),
        ),
        (
            "put_resume_text",
            json!({"first_name": "Ken", "last_name": "Thompson", "email": "ken@example.com",
            "job_requisition": "R-00009", "resume": {"file_name": "cv.txt", "text": "Unix."}}),
        ),
    ];
    for (name, p) in put {
        let p: CandidatesPutParams = params(p);
        out.push((name.to_owned(), requests::put_candidate(&p, v).unwrap_or_else(|e| panic!("{name}: {e}"))));
    }

    let moves: Vec<(&str, Value)> = vec![
        (
            "move_next",
            json!({"job_application": "JOB_APPLICATION-6-248", "next_step": "JOB_APPLICATION_STEP_INTERVIEW"}),
        ),
        (
            "move_decline_criteria",
            json!({"candidate": "CAND-1182", "job_requisition": "R-00008",
            "disposition_step": {"type": "WID", "id": WID}, "comment": "Below threshold"}),
        ),
        ("move_event", json!({"event": WID, "next_step": "JOB_APPLICATION_STEP_OFFER", "comment": "Go"})),
    ];
    for (name, p) in moves {
        let p: CandidatesMoveParams = params(p);
        out.push((name.to_owned(), requests::move_candidate(&p, v).unwrap_or_else(|e| panic!("{name}: {e}"))));
    }

    let attach: Vec<(&str, Value)> = vec![
        (
            "attach_application_text",
            json!({"candidate": "CAND-1182", "job_application": "JOB_APPLICATION-6-248",
            "file_name": "transcript.txt", "text": "Q: Hello?\nA: <Hi> & welcome", "comment": "AI interview transcript"}),
        ),
        (
            "attach_requisition_pdf",
            json!({"candidate": {"type": "WID", "id": WID}, "job_requisition": "R-00008",
            "job_application": "JOB_APPLICATION-6-248", "file_name": "report.pdf", "content": "JVBERi0xLjQK\nJVBERi0xLjQK",
            "content_type": "application/pdf", "attachment_id": "vendor-report-123"}),
        ),
        (
            "attach_category",
            json!({"candidate": "CAND-1182", "document_category": "ASSESSMENT_REPORT",
            "file_name": "summary.bin", "content": "AAEC"}),
        ),
        (
            // A binary value (what `http.request` fetched): name and content type from it.
            "attach_binary_value",
            json!({"candidate": "CAND-1182", "job_application": "JOB_APPLICATION-6-248",
            "content": reqflow_engine::value::binary::Binary::new("application/pdf", b"%PDF-1.4\n%\xe2\xe3".to_vec())
                .named(Some("report.pdf".into())).to_value(),
            "comment": "AI interview report"}),
        ),
    ];
    for (name, p) in attach {
        let p: CandidatesAttachParams = params(p);
        out.push((
            name.to_owned(),
            requests::put_candidate_attachment(&p, v).unwrap_or_else(|e| panic!("{name}: {e}")),
        ));
    }

    let reqs: Vec<(&str, u32, Option<&str>, Value)> = vec![
        (
            "requisitions_by_reference",
            1,
            None,
            json!({"job_requisitions": ["R-00008", {"type": "WID", "id": WID}],
            "skip_non_existing": true, "include": ["definition", "restrictions", "qualifications", "attachments", "organizations", "roles"]}),
        ),
        (
            "requisitions_by_criteria",
            3,
            Some("2026-05-01T10:15:00Z"),
            json!({"statuses": ["OPEN"],
            "supervisory_organizations": ["SUP_ORG_ENGINEERING"], "primary_locations": ["LOC_BOSTON"], "count": 5,
            "include": ["definition"]}),
        ),
        ("requisitions_all", 1, None, json!({})),
    ];
    for (name, page, as_of, p) in reqs {
        let p: JobRequisitionsGetParams = params(p);
        out.push((
            name.to_owned(),
            requests::get_job_requisitions(&p, v, page, as_of).unwrap_or_else(|e| panic!("{name}: {e}")),
        ));
    }
    out
}
