//! The `acme` tenant a fresh sandbox starts with.
//!
//! - Credentials: ISU `ISU_Recruiting@acme` / `sandbox-password`; OAuth client
//!   `sandbox-client` / `sandbox-secret` with refresh token `sandbox-refresh-token`.
//! - 25 candidates `CAND-1182` … `CAND-1206`. `CAND-1182` (Ada Lovelace,
//!   `JOB_APPLICATION-6-248` on `R-00008`), `CAND-1183` and `CAND-1184` are in the
//!   Assessment stage; `CAND-1185` has two applications in assessment
//!   (`R-00008`, `R-00009`); `CAND-1186` is in Review and was never assessed;
//!   `CAND-1187` went through assessment and is in Interview; `CAND-1188` was declined.
//! - 12 job requisitions `R-00008` … `R-00019` (`R-00012` closed, `R-00015` frozen).
//! - 45 job postings (REST) of the open requisitions.
//! - Reference data: stages (`REVIEW`, `SCREEN`, `ASSESSMENT`, `INTERVIEW`, `OFFER`, …),
//!   workflow steps (`JOB_APPLICATION_STEP_*`, disposition `DECLINE_STEP_ID`), assessment
//!   statuses (`PASSED`, `FAILED`, `IN_PROGRESS`), tests (`CODING_TEST_V2`, `AI_INTERVIEW`,
//!   `PERSONALITY_PROFILE`), workers (`Employee_ID` `21001`, `21002`; `Contingent_Worker_ID`
//!   `CW-3001`), document categories, applicant sources.
//!
//! WIDs are derived from the object's ID ([`wid`]), so they are stable across runs.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Setup, WorkdayData};

/// The ISU the sandbox accepts (`ISU_Recruiting@acme`, password `sandbox-password`).
pub const ISU_USER: &str = "ISU_Recruiting@acme";
/// Its password.
pub const ISU_PASSWORD: &str = "sandbox-password";
/// The OAuth API client id.
pub const CLIENT_ID: &str = "sandbox-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "sandbox-secret";
/// The refresh token the sandbox accepts.
pub const REFRESH_TOKEN: &str = "sandbox-refresh-token";
/// The worker (recruiter) who can assess: `Employee_ID` 21001.
pub const EMPLOYEE_ID: &str = "21001";

/// The WID of the object named `key` (e.g. `CAND-1182`): 32 lowercase hex characters.
pub fn wid(key: &str) -> String {
    let digest = Sha256::digest(format!("acme/{key}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

const NAMES: [(&str, &str); 25] = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"),
    ("Donald", "Knuth"),
    ("Margaret", "Hamilton"),
    ("Ken", "Thompson"),
    ("Radia", "Perlman"),
    ("Linus", "Torvalds"),
    ("Frances", "Allen"),
    ("John", "Backus"),
    ("Katherine", "Johnson"),
    ("Dennis", "Ritchie"),
    ("Hedy", "Lamarr"),
    ("Adele", "Goldberg"),
    ("Niklaus", "Wirth"),
    ("Jean", "Sammet"),
    ("Leslie", "Lamport"),
    ("Shafi", "Goldwasser"),
    ("Tony", "Hoare"),
    ("Sophie", "Wilson"),
    ("Bjarne", "Stroustrup"),
    ("Evelyn", "Berezin"),
    ("Guido", "Rossum"),
];

const REQUISITIONS: [(&str, &str, &str, &str, &str); 12] = [
    ("R-00008", "Software Architect", "OPEN", "SUP_ORG_ENGINEERING", "LOC_BOSTON"),
    ("R-00009", "Data Engineer", "OPEN", "SUP_ORG_ENGINEERING", "LOC_LONDON"),
    ("R-00010", "Product Designer", "OPEN", "SUP_ORG_PRODUCT", "LOC_BOSTON"),
    ("R-00011", "Recruiting Coordinator", "OPEN", "SUP_ORG_PEOPLE", "LOC_REMOTE"),
    ("R-00012", "Support Engineer", "CLOSED", "SUP_ORG_ENGINEERING", "LOC_LONDON"),
    ("R-00013", "Site Reliability Engineer", "OPEN", "SUP_ORG_ENGINEERING", "LOC_REMOTE"),
    ("R-00014", "Account Executive", "OPEN", "SUP_ORG_SALES", "LOC_BOSTON"),
    ("R-00015", "Security Engineer", "FROZEN", "SUP_ORG_ENGINEERING", "LOC_BOSTON"),
    ("R-00016", "Technical Writer", "OPEN", "SUP_ORG_PRODUCT", "LOC_REMOTE"),
    ("R-00017", "Machine Learning Engineer", "OPEN", "SUP_ORG_ENGINEERING", "LOC_LONDON"),
    ("R-00018", "Sales Development Representative", "OPEN", "SUP_ORG_SALES", "LOC_LONDON"),
    ("R-00019", "People Partner", "OPEN", "SUP_ORG_PEOPLE", "LOC_BOSTON"),
];

const STAGES: [&str; 9] = [
    "REVIEW",
    "SCREEN",
    "ASSESSMENT",
    "INTERVIEW",
    "REFERENCE_CHECK",
    "OFFER",
    "BACKGROUND_CHECK",
    "READY_FOR_HIRE",
    "DECLINED",
];

fn setup() -> Setup {
    let step = |id: &str, stage: &str, disposition: Option<&str>| json!({"id": id, "stage": stage, "disposition": disposition});
    Setup {
        stages: STAGES.iter().map(|s| s.to_string()).collect(),
        workflow_steps: vec![
            step("JOB_APPLICATION_STEP_REVIEW", "REVIEW", None),
            step("JOB_APPLICATION_STEP_SCREEN", "SCREEN", None),
            step("JOB_APPLICATION_STEP_ASSESSMENT", "ASSESSMENT", None),
            step("JOB_APPLICATION_STEP_INTERVIEW", "INTERVIEW", None),
            step("JOB_APPLICATION_STEP_REFERENCE_CHECK", "REFERENCE_CHECK", None),
            step("JOB_APPLICATION_STEP_OFFER", "OFFER", None),
            step("DECLINE_STEP_ID", "DECLINED", Some("DISQUALIFIED_BY_ASSESSMENT")),
            step("WITHDRAW_STEP_ID", "DECLINED", Some("CANDIDATE_WITHDREW")),
        ],
        assessment_statuses: ["PASSED", "FAILED", "IN_PROGRESS"].iter().map(|s| s.to_string()).collect(),
        assessment_tests: ["CODING_TEST_V2", "AI_INTERVIEW", "PERSONALITY_PROFILE"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        workers: vec![
            json!({"type": "Employee_ID", "id": EMPLOYEE_ID, "name": "Riley Recruiter"}),
            json!({"type": "Employee_ID", "id": "21002", "name": "Sam Reviewer"}),
            json!({"type": "Contingent_Worker_ID", "id": "CW-3001", "name": "Assessment Vendor Integration"}),
        ],
        document_categories: ["ASSESSMENT_REPORT", "INTERVIEW_TRANSCRIPT", "RESUME", "OTHER"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        sources: ["CAREER_SITE", "REFERRAL", "ASSESSMENT_VENDOR", "LINKEDIN"].iter().map(|s| s.to_string()).collect(),
        requisition_statuses: ["OPEN", "CLOSED", "FROZEN", "FILLED"].iter().map(|s| s.to_string()).collect(),
        organizations: ["SUP_ORG_ENGINEERING", "SUP_ORG_PRODUCT", "SUP_ORG_PEOPLE", "SUP_ORG_SALES"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        locations: ["LOC_BOSTON", "LOC_LONDON", "LOC_REMOTE"].iter().map(|s| s.to_string()).collect(),
    }
}

/// A job application in the sandbox's shape.
pub(crate) fn application(id: &str, requisition: &str, stage: &str, date: &str, assessed: bool) -> Value {
    let step = format!("JOB_APPLICATION_STEP_{stage}");
    json!({
        "id": id, "wid": wid(id), "event": wid(&format!("{id}/event")), "requisition": requisition,
        "stage": stage, "step": step, "status": "in_progress", "disposition": null, "date": date,
        "source": "CAREER_SITE",
        "assessment_event": if assessed { Value::String(wid(&format!("{id}/assessment"))) } else { Value::Null },
    })
}

fn candidates() -> Vec<Value> {
    let mut out = Vec::new();
    for (i, (first, last)) in NAMES.iter().enumerate() {
        let id = format!("CAND-{}", 1182 + i);
        let app_no = 248 + i + usize::from(i > 3);
        let app = |n: usize| format!("JOB_APPLICATION-6-{n}");
        let day = 1 + i % 28;
        let date = format!("2026-04-{day:02}T10:15:00.000-07:00");
        let applications = match i {
            0 | 1 => vec![application(&app(app_no), "R-00008", "ASSESSMENT", &date, true)],
            2 => vec![application(&app(app_no), "R-00009", "ASSESSMENT", &date, true)],
            3 => vec![
                application(&app(251), "R-00008", "ASSESSMENT", &date, true),
                application(&app(252), "R-00009", "ASSESSMENT", &date, true),
            ],
            4 => vec![application(&app(app_no), "R-00009", "REVIEW", &date, false)],
            5 => vec![application(&app(app_no), "R-00008", "INTERVIEW", &date, true)],
            6 => {
                let mut a = application(&app(app_no), "R-00010", "DECLINED", &date, true);
                a["step"] = json!("DECLINE_STEP_ID");
                a["status"] = json!("declined");
                a["disposition"] = json!("DISQUALIFIED_BY_ASSESSMENT");
                vec![a]
            }
            _ => {
                let reqs = ["R-00010", "R-00011", "R-00013", "R-00014"];
                let stages = ["ASSESSMENT", "ASSESSMENT", "SCREEN", "REVIEW", "INTERVIEW"];
                let stage = stages[i % stages.len()];
                vec![application(
                    &app(app_no),
                    reqs[i % reqs.len()],
                    stage,
                    &date,
                    stage != "REVIEW" && stage != "SCREEN",
                )]
            }
        };
        out.push(json!({
            "id": id, "wid": wid(&id), "first_name": first, "last_name": last,
            "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
            "phone": null, "created_at": format!("2026-04-{day:02}T10:00:00Z"),
            "applications": applications,
        }));
    }
    out
}

fn requisitions() -> Vec<Value> {
    REQUISITIONS
        .iter()
        .map(|(id, title, status, org, loc)| {
            json!({
                "id": id, "wid": wid(id), "title": title, "status": status, "organization": org, "location": loc,
                "positions": 2, "available": 1,
                "summary": format!("{title} at Acme."),
                "description": format!("<p>Acme is hiring a {title}.</p>"),
                "recruiting_start": "2026-03-01",
            })
        })
        .collect()
}

fn postings(requisitions: &[Value]) -> Vec<Value> {
    let open: Vec<&Value> = requisitions.iter().filter(|r| r["status"] == "OPEN").collect();
    let site = |name: &str| json!({"id": wid(&format!("site/{name}")), "descriptor": name});
    let reference = |key: &str, name: &str| json!({"id": wid(key), "descriptor": name});
    (0..45usize)
        .map(|i| {
            let r = open[i % open.len()];
            let title = r["title"].as_str().unwrap_or("");
            let (city, remote) = match r["location"].as_str() {
                Some("LOC_LONDON") => ("London", "Hybrid"),
                Some("LOC_REMOTE") => ("Remote", "Remote"),
                _ => ("Boston", "Hybrid"),
            };
            let internal = i % 5 == 4;
            let start = format!("2026-03-{:02}", 1 + i % 28);
            let id = wid(&format!("posting/{i}"));
            json!({
                "requisition": r["id"],
                "data": {
                    "id": id,
                    "title": if i < open.len() { title.to_owned() } else { format!("{title} ({city})") },
                    "jobSite": if internal { site("Internal Career Site") } else { site("External Career Site") },
                    "startDate": start, "endDate": "2026-12-31", "spotlightJob": i % 7 == 0,
                    "url": format!("https://acme.wd5.myworkdayjobs.com/External/job/{city}/{}_{}", title.replace(' ', "-"), r["id"].as_str().unwrap_or("")),
                    "primaryLocation": reference(&format!("location/{city}"), city),
                    "timeType": reference("time/full", "Full time"),
                    "jobType": reference("type/regular", "Regular"),
                    "remoteType": reference(&format!("remote/{remote}"), remote),
                    "company": reference("company/acme", "Acme Inc"),
                    "categories": [reference(&format!("category/{}", r["organization"].as_str().unwrap_or("")), r["organization"].as_str().unwrap_or("").trim_start_matches("SUP_ORG_"))],
                    "additionalLocations": [],
                    "jobDescription": r["description"],
                }
            })
        })
        .collect()
}

/// The tenant's seed data.
pub fn seed() -> WorkdayData {
    let requisitions = requisitions();
    WorkdayData {
        tenant: "acme".into(),
        candidates: candidates(),
        postings: postings(&requisitions),
        requisitions,
        setup: setup(),
        users: [(ISU_USER.to_owned(), ISU_PASSWORD.to_owned())].into(),
        clients: [(CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())].into(),
        refresh_tokens: vec![REFRESH_TOKEN.to_owned()],
        ..WorkdayData::default()
    }
}
