//! Get_Candidates (by reference or criteria, paged), Put_Candidate (add,
//! `wd:Add_Only`, update) and Put_Candidate_Attachment, plus the lookups and
//! paging the other operations share.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use reqflow_engine::xml::Element;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::check::*;
use super::seed::{application, wid};
use super::soap::reference;
use super::{Setup, WorkdayData};
use crate::state::Sandbox;

// --- lookups -------------------------------------------------------------------------------

/// The index of the candidate named by `(type, value)`.
pub(super) fn find_candidate(d: &WorkdayData, t: &str, v: &str) -> Option<usize> {
    d.candidates.iter().position(|c| match t {
        "WID" => c["wid"] == v,
        _ => c["id"] == v,
    })
}

/// `(candidate, application)` indexes of the job application named by `(type, value)`.
pub(super) fn find_application(d: &WorkdayData, t: &str, v: &str) -> Option<(usize, usize)> {
    for (ci, c) in d.candidates.iter().enumerate() {
        for (ai, a) in c["applications"].as_array().into_iter().flatten().enumerate() {
            let hit = match t {
                "WID" => a["wid"] == v,
                _ => a["id"] == v,
            };
            if hit {
                return Some((ci, ai));
            }
        }
    }
    None
}

/// The index of the job requisition named by `(type, value)`.
pub(super) fn find_requisition(d: &WorkdayData, t: &str, v: &str) -> Option<usize> {
    d.requisitions.iter().position(|r| match t {
        "WID" => r["wid"] == v,
        _ => r["id"] == v,
    })
}

/// The WID of a setup item (`kind/id`).
pub(super) fn setup_wid(kind: &str, id: &str) -> String {
    wid(&format!("{kind}/{id}"))
}

/// The setup item of `kind` named by `(type, value)` (its ID, or a WID derived from it).
pub(super) fn find_setup(list: &[String], kind: &str, t: &str, v: &str) -> Option<String> {
    list.iter().find(|id| if t == "WID" { setup_wid(kind, id) == v } else { id.as_str() == v }).cloned()
}

/// The worker named by `(type, value)`: `{type, id, name}`.
pub(super) fn find_worker(setup: &Setup, t: &str, v: &str) -> Option<Value> {
    setup
        .workers
        .iter()
        .find(|w| {
            if t == "WID" {
                setup_wid("worker", w["id"].as_str().unwrap_or("")) == v
            } else {
                w["type"] == t && w["id"] == v
            }
        })
        .cloned()
}

/// A reference element resolved against a setup list (`Recruiting_Stage_ID`, …).
pub(super) fn setup_ref(
    el: &Element,
    list: &[String],
    kind: &str,
    object: &str,
    types: &[&str],
    xpath: &str,
) -> Result<String, SoapError> {
    resolve(el, object, types, xpath, |t, v| find_setup(list, kind, t, v))
}

/// The candidate named by a `Candidate_Reference`.
pub(super) fn candidate_ref(d: &WorkdayData, el: &Element, xpath: &str) -> Result<usize, SoapError> {
    resolve(el, "Candidate", &["WID", "Candidate_ID"], xpath, |t, v| find_candidate(d, t, v))
}

/// The job application named by a `Job_Application_Reference`.
pub(super) fn application_ref(d: &WorkdayData, el: &Element, xpath: &str) -> Result<(usize, usize), SoapError> {
    resolve(el, "Job Application", &["WID", "Job_Application_ID"], xpath, |t, v| find_application(d, t, v))
}

/// The job requisition named by a `Job_Requisition_Reference`.
pub(super) fn requisition_ref(d: &WorkdayData, el: &Element, xpath: &str) -> Result<usize, SoapError> {
    resolve(el, "Job Requisition", &["WID", "Job_Requisition_ID"], xpath, |t, v| find_requisition(d, t, v))
}

/// The candidate's full name.
pub(super) fn name_of(c: &Value) -> String {
    format!("{} {}", c["first_name"].as_str().unwrap_or(""), c["last_name"].as_str().unwrap_or("")).trim().to_owned()
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

// --- paging --------------------------------------------------------------------------------

/// A Get_* request's `Response_Filter`.
pub(super) struct Paging {
    pub page: u64,
    pub count: u64,
    pub as_of: DateTime<Utc>,
    pub effective: String,
}

/// Reads `Response_Filter` (page 1, count 100, now, today by default).
pub(super) fn paging(req: &Element, v: Ver, xpath: &str) -> Result<Paging, SoapError> {
    let now = Utc::now();
    let mut p = Paging { page: 1, count: 100, as_of: now, effective: now.format("%Y-%m-%d").to_string() };
    let Some((f, fx)) = child(req, "Response_Filter", xpath) else { return Ok(p) };
    let slots = [opt(&["As_Of_Effective_Date"]), opt(&["As_Of_Entry_DateTime"]), opt(&["Page"]), opt(&["Count"])];
    sequence(f, &slots, &[], v, &fx)?;
    if let Some((e, ex)) = child(f, "As_Of_Effective_Date", &fx) {
        p.effective = date(e, &ex)?.format("%Y-%m-%d").to_string();
    }
    if let Some((e, ex)) = child(f, "As_Of_Entry_DateTime", &fx) {
        p.as_of = datetime(e, &ex)?;
    }
    if let Some((e, ex)) = child(f, "Page", &fx) {
        p.page = whole(e, 12, &ex)?;
        if p.page == 0 {
            return Err(invalid("Page Number cannot be zero.", &ex));
        }
    }
    if let Some((e, ex)) = child(f, "Count", &fx) {
        p.count = whole(e, 12, &ex)?;
        if !(1..=999).contains(&p.count) {
            return Err(invalid("Count must be between 1 and 999 (Min = 1, Max = 999).", &ex));
        }
    }
    Ok(p)
}

impl Paging {
    /// The `Response_Filter` echoed in the answer (with the `As_Of_Entry_DateTime` used, so
    /// later pages can be pinned to it).
    pub fn filter_json(&self) -> Value {
        json!({
            "As_Of_Effective_Date": format!("{}+00:00", self.effective),
            "As_Of_Entry_DateTime": self.as_of.to_rfc3339_opts(SecondsFormat::Millis, false),
            "Page": self.page,
            "Count": self.count,
        })
    }

    /// This page of `items` and the `Response_Results`.
    pub fn page_of<T: Clone>(&self, items: &[T]) -> (Vec<T>, Value) {
        let total = items.len() as u64;
        let pages = total.div_ceil(self.count);
        let start = usize::try_from((self.page - 1).saturating_mul(self.count)).unwrap_or(usize::MAX);
        let slice: Vec<T> = items.iter().skip(start).take(usize::try_from(self.count).unwrap_or(0)).cloned().collect();
        let results = if total == 0 {
            json!({"Total_Results": 0, "Total_Pages": 0, "Page_Results": 0})
        } else {
            json!({"Total_Results": total, "Total_Pages": pages, "Page_Results": slice.len(), "Page": self.page})
        };
        (slice, results)
    }
}

// --- Get_Candidates ------------------------------------------------------------------------

fn candidate_json(c: &Value) -> Value {
    let apps: Vec<Value> = c["applications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let mut m = Map::new();
            m.insert("Job_Application_Reference".into(), reference(&[("Job_Application_ID", str_of(&a["id"]))]));
            m.insert(
                "Job_Requisition_Reference".into(),
                reference(&[("Job_Requisition_ID", str_of(&a["requisition"]))]),
            );
            m.insert("Job_Application_Date".into(), a["date"].clone());
            m.insert("Stage_Reference".into(), reference(&[("Recruiting_Stage_ID", str_of(&a["stage"]))]));
            if let Some(step) = a["step"].as_str() {
                m.insert("Workflow_Step_Reference".into(), reference(&[("Workflow_Step_ID", step)]));
            }
            if let Some(disp) = a["disposition"].as_str() {
                m.insert("Disposition_Reference".into(), reference(&[("Recruiting_Disposition_ID", disp)]));
            }
            if let Some(src) = a["source"].as_str() {
                m.insert("Source_Reference".into(), reference(&[("Applicant_Source_ID", src)]));
            }
            Value::Object(m)
        })
        .collect();
    let mut contact = Map::new();
    if let Some(p) = c["phone"].as_str() {
        contact.insert("Phone_Number".into(), json!(p));
    }
    contact.insert("Email_Address".into(), c["email"].clone());
    let mut data = Map::new();
    data.insert("Candidate_ID".into(), c["id"].clone());
    data.insert("Name_Data".into(), json!({"First_Name": c["first_name"], "Last_Name": c["last_name"]}));
    data.insert("Contact_Data".into(), Value::Object(contact));
    if !apps.is_empty() {
        data.insert("Job_Application_Data".into(), json!({"Job_Applied_To_Data": apps}));
    }
    if c["prospect"] == true {
        data.insert("Prospect_Data".into(), json!({"Prospect": true}));
    }
    json!({"Candidate_Reference": reference(&[("Candidate_ID", str_of(&c["id"]))]), "Candidate_Data": Value::Object(data)})
}

const WORKER_TYPES: [&str; 3] = ["WID", "Employee_ID", "Contingent_Worker_ID"];

pub(super) fn get_candidates(sb: &Sandbox, req: &Element, v: Ver, xpath: &str) -> Result<Value, SoapError> {
    let request_choice = Slot { names: &["Request_References", "Request_Criteria"], min: 0, max: 1, since: None };
    sequence(req, &[request_choice, opt(&["Response_Filter"]), opt(&["Response_Group"])], &[], v, xpath)?;
    if let Some((g, gx)) = child(req, "Response_Group", xpath) {
        sequence(g, &[opt(&["Include_Reference"])], &[], v, &gx)?;
    }
    let paging = paging(req, v, xpath)?;
    sb.read(|d| {
        let w = &d.workday;
        let mut selected: Vec<usize> = Vec::new();
        let mut echo = Map::new();
        if let Some((refs, rx)) = child(req, "Request_References", xpath) {
            sequence(refs, &[some(&["Candidate_Reference"])], &[], v, &rx)?;
            let skip = flag(refs, "Skip_Non_Existing_Instances", &rx)?;
            for (r, x) in children(refs, "Candidate_Reference", &rx) {
                match candidate_ref(w, r, &x) {
                    Ok(i) => selected.push(i),
                    Err(e) if !skip => return Err(e),
                    Err(_) => {}
                }
            }
            echo.insert("Request_References".into(), refs.to_json());
        } else if let Some((crit, cx)) = child(req, "Request_Criteria", xpath) {
            selected = criteria(w, crit, v, &cx)?;
            echo.insert("Request_Criteria".into(), crit.to_json());
        } else {
            selected = (0..w.candidates.len()).collect();
        }
        // A consistent snapshot: candidates created after As_Of_Entry_DateTime are not there yet.
        selected.retain(|&i| {
            parse_datetime(str_of(&w.candidates[i]["created_at"])).is_none_or(|created| created <= paging.as_of)
        });
        let (page, results) = paging.page_of(&selected);
        echo.insert("Response_Filter".into(), paging.filter_json());
        echo.insert("Response_Results".into(), results);
        if !page.is_empty() {
            let items: Vec<Value> = page.iter().map(|&i| candidate_json(&w.candidates[i])).collect();
            echo.insert("Response_Data".into(), json!({"Candidate": items}));
        }
        Ok(Value::Object(echo))
    })
}

fn criteria(w: &WorkdayData, crit: &Element, v: Ver, cx: &str) -> Result<Vec<usize>, SoapError> {
    let slots = [
        opt(&["First_Name"]),
        opt(&["Last_Name"]),
        opt(&["Candidate_Email_Address"]),
        many(&["Pre-Hire_Reference"]),
        many(&["Worker_Reference"]),
        many(&["Job_Requisition_Reference"]),
        many(&["Recruiting_Stage_Reference"]),
        many(&["Applicant_Source_Reference"]),
        opt(&["Applied_From"]),
        opt(&["Applied_Through"]),
        opt(&["Internal_Workers_Only"]),
        opt(&["Created_From"]).since(V31_2),
        opt(&["Created_Through"]).since(V31_2),
    ];
    sequence(crit, &slots, &[], v, cx)?;
    let text = |n: &str| crit.child(n).map(|e| e.text().trim().to_owned()).filter(|s| !s.is_empty());
    let (first, last, email) = (text("First_Name"), text("Last_Name"), text("Candidate_Email_Address"));
    if first.is_some() && last.is_none() {
        return Err(invalid("Last Name is required if First Name is entered.", cx));
    }
    let mut requisitions = Vec::new();
    for (r, x) in children(crit, "Job_Requisition_Reference", cx) {
        requisitions.push(str_of(&w.requisitions[requisition_ref(w, r, &x)?]["id"]).to_owned());
    }
    let mut stages = Vec::new();
    for (r, x) in children(crit, "Recruiting_Stage_Reference", cx) {
        stages.push(setup_ref(r, &w.setup.stages, "stage", "Recruiting Stage", &["WID", "Recruiting_Stage_ID"], &x)?);
    }
    let mut sources = Vec::new();
    for (r, x) in children(crit, "Applicant_Source_Reference", cx) {
        sources.push(setup_ref(
            r,
            &w.setup.sources,
            "source",
            "Applicant Source",
            &["WID", "Applicant_Source_ID"],
            &x,
        )?);
    }
    let mut people = 0;
    for (r, x) in children(crit, "Pre-Hire_Reference", cx) {
        ids(r, "Pre-Hire", &["WID", "Applicant_ID"], &x)?;
        people += 1;
    }
    for (r, x) in children(crit, "Worker_Reference", cx) {
        resolve(r, "Worker", &WORKER_TYPES, &x, |t, val| find_worker(&w.setup, t, val))?;
        people += 1;
    }
    let dt = |n: &str| -> Result<Option<DateTime<Utc>>, SoapError> {
        match child(crit, n, cx) {
            Some((e, ex)) => datetime(e, &ex).map(Some),
            None => Ok(None),
        }
    };
    let (from, through) = (dt("Applied_From")?, dt("Applied_Through")?);
    if let (Some(f), Some(t)) = (from, through)
        && f > t
    {
        return Err(invalid("Applied From date must be greater or equal to Applied Through date.", cx));
    }
    let (created_from, created_through) = (dt("Created_From")?, dt("Created_Through")?);
    let internal = match child(crit, "Internal_Workers_Only", cx) {
        Some((e, ex)) => boolean(e, &ex)?,
        None => false,
    };
    let mut out = Vec::new();
    for (i, c) in w.candidates.iter().enumerate() {
        // The sandbox's candidates are all external: none is a worker or pre-hire.
        if internal || people > 0 {
            continue;
        }
        if first.as_deref().is_some_and(|f| !str_of(&c["first_name"]).eq_ignore_ascii_case(f))
            || last.as_deref().is_some_and(|l| !str_of(&c["last_name"]).eq_ignore_ascii_case(l))
            || email.as_deref().is_some_and(|e| !str_of(&c["email"]).eq_ignore_ascii_case(e))
        {
            continue;
        }
        let created = parse_datetime(str_of(&c["created_at"]));
        if created_from.is_some_and(|f| created.is_none_or(|c| c < f))
            || created_through.is_some_and(|t| created.is_none_or(|c| c > t))
        {
            continue;
        }
        let app_filters = !requisitions.is_empty()
            || !stages.is_empty()
            || !sources.is_empty()
            || from.is_some()
            || through.is_some();
        if app_filters {
            let any = c["applications"].as_array().into_iter().flatten().any(|a| {
                let date = parse_datetime(str_of(&a["date"]));
                (requisitions.is_empty() || requisitions.iter().any(|r| a["requisition"] == r.as_str()))
                    && (stages.is_empty() || stages.iter().any(|s| a["stage"] == s.as_str()))
                    && (sources.is_empty() || sources.iter().any(|s| a["source"] == s.as_str()))
                    && from.is_none_or(|f| date.is_some_and(|d| d >= f))
                    && through.is_none_or(|t| date.is_some_and(|d| d <= t))
            });
            if !any {
                continue;
            }
        }
        out.push(i);
    }
    Ok(out)
}

// --- attachments ---------------------------------------------------------------------------

const ATTACHMENT_SLOTS: [&[&str]; 5] =
    [&["ID"], &["Filename"], &["File_Content"], &["Mime_Type_Reference"], &["Comment"]];

/// A checked `Attachment_WWS_DataType`: `{id, filename, content_type, size, sha256, comment, data}`
/// (`data`: the `File_Content` as sent, checked to be base64; kept apart by [`store_attachment`]).
fn attachment_data(el: &Element, v: Ver, xpath: &str) -> Result<Value, SoapError> {
    let slots = [
        opt(ATTACHMENT_SLOTS[0]),
        one(ATTACHMENT_SLOTS[1]),
        one(ATTACHMENT_SLOTS[2]),
        opt(ATTACHMENT_SLOTS[3]),
        opt(ATTACHMENT_SLOTS[4]),
    ];
    let enter = "Enter the Filename and File Content for the document you want to attach.";
    let (name, content) = (el.child("Filename").map(|e| e.text()), el.child("File_Content").map(|e| e.text()));
    if name.as_deref().is_none_or(|n| n.trim().is_empty()) || content.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err(invalid(enter, xpath));
    }
    sequence(el, &slots, &[], v, xpath)?;
    let name = name.unwrap_or_default();
    if name.chars().count() > 255 {
        return Err(invalid("The Filename can be at most 255 characters long.", &child_path(xpath, "Filename", 1)));
    }
    let compact: String = content.unwrap_or_default().chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| invalid("File_Content is not valid base64Binary data.", &child_path(xpath, "File_Content", 1)))?;
    let content_type = match child(el, "Mime_Type_Reference", xpath) {
        Some((m, mx)) => {
            let list = ids(m, "Mime Type", &["WID", "Content_Type_ID"], &mx)?;
            let (t, value) = &list[0];
            if t == "Content_Type_ID" && !value.contains('/') {
                return Err(not_found(t, value, &mx));
            }
            Value::String(value.clone())
        }
        None => Value::Null,
    };
    let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    Ok(json!({
        "id": el.child("ID").map(|e| e.text().trim().to_owned()),
        "filename": name.trim(), "content_type": content_type, "size": bytes.len(), "sha256": digest,
        "comment": el.child("Comment").map(|e| e.text()),
        "data": compact,
    }))
}

/// Stores an attachment (replacing one of the same candidate with the same `Attachment_Data/ID`);
/// returns its `File_ID`.
fn store_attachment(w: &mut WorkdayData, mut a: Value) -> String {
    let data = a.as_object_mut().and_then(|o| o.remove("data")).and_then(|d| d.as_str().map(str::to_owned));
    let file_id = store_attachment_record(w, a);
    if let Some(data) = data {
        w.files.insert(file_id.clone(), data);
    }
    file_id
}

fn store_attachment_record(w: &mut WorkdayData, mut a: Value) -> String {
    let now = crate::util::now_iso();
    let same = a["id"].as_str().filter(|s| !s.is_empty()).and_then(|id| {
        w.attachments
            .iter()
            .position(|x| x["id"] == id && x["candidate"] == a["candidate"] && x["application"] == a["application"])
    });
    if let Some(i) = same {
        let file_id = w.attachments[i]["file_id"].clone();
        a["file_id"] = file_id.clone();
        a["wid"] = w.attachments[i]["wid"].clone();
        a["created_at"] = w.attachments[i]["created_at"].clone();
        a["updated_at"] = json!(now);
        a["updates"] = json!(w.attachments[i]["updates"].as_u64().unwrap_or(0) + 1);
        w.attachments[i] = a;
        return str_of(&file_id).to_owned();
    }
    let file_id = format!("FILE-{}", 5000 + w.next_number());
    a["file_id"] = json!(file_id);
    a["wid"] = json!(wid(&file_id));
    a["created_at"] = json!(now);
    a["updated_at"] = json!(now);
    a["updates"] = json!(0);
    w.attachments.push(a);
    file_id
}

// --- Put_Candidate -------------------------------------------------------------------------

fn put_data_slots() -> Vec<Slot> {
    vec![
        opt(&["Candidate_ID"]),
        opt(&["Pre-Hire_Reference"]),
        opt(&["Worker_Reference"]),
        opt(&["Name_Data"]),
        opt(&["Contact_Data"]),
        many(&["Social_Media_Account_Data"]),
        opt(&["Status_Data"]),
        many(&["Job_Application_Data"]),
        opt(&["Prospect_Data"]),
        opt(&["Candidate_Identification_Data"]),
    ]
}

/// What a Put_Candidate request says about the candidate.
#[derive(Default)]
struct PutFields {
    first: Option<String>,
    last: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    prospect: Option<bool>,
    applications: Vec<NewApplication>,
}

struct NewApplication {
    requisition: usize,
    stage: String,
    step: Option<String>,
    source: Option<String>,
    date: Option<String>,
    resumes: Vec<Value>,
    xpath: String,
}

fn put_fields(w: &WorkdayData, data: &Element, v: Ver, dx: &str) -> Result<PutFields, SoapError> {
    sequence(data, &put_data_slots(), &["Candidate_Tag_Reference", "Candidate_Pool_Data"], v, dx)?;
    let mut f = PutFields::default();
    let txt = |e: &Element, n: &str| e.child(n).map(|c| c.text().trim().to_owned()).filter(|s| !s.is_empty());
    if let Some((n, nx)) = child(data, "Name_Data", dx) {
        let slots = [
            opt(&["First_Name"]),
            opt(&["Middle_Name"]),
            opt(&["Last_Name"]),
            opt(&["Secondary_Last_Name"]),
            opt(&["Legal_Name"]).since(V43_0),
        ];
        sequence(n, &slots, &[], v, &nx)?;
        f.first = txt(n, "First_Name");
        f.last = txt(n, "Last_Name");
        if let Some(detail) = n.child("Legal_Name").and_then(|l| l.child("Name_Detail_Data")) {
            f.first = txt(detail, "First_Name").or(f.first);
            f.last = txt(detail, "Last_Name").or(f.last);
        }
    }
    if let Some((c, cx)) = child(data, "Contact_Data", dx) {
        let slots = [opt(&["Phone_Number"]), opt(&["Email_Address"]), many(&["Website_Data"]), opt(&["Location_Data"])];
        sequence(c, &slots, &[], v, &cx)?;
        f.phone = txt(c, "Phone_Number");
        f.email = txt(c, "Email_Address");
        if let Some(email) = &f.email
            && !email.contains('@')
        {
            return Err(invalid(
                format!("'{email}' is not a valid email address"),
                &child_path(&cx, "Email_Address", 1),
            ));
        }
        for (web, wx) in children(c, "Website_Data", &cx) {
            sequence(web, &[opt(&["URL_Address"])], &[], v, &wx)?;
        }
        if let Some((l, lx)) = child(c, "Location_Data", &cx) {
            let slots = [
                opt(&["Country_Reference"]),
                opt(&["Address_Line_1"]),
                opt(&["Address_Line_2"]),
                opt(&["City"]),
                opt(&["City_Subdivision_1"]),
                opt(&["Country_Region_Reference"]),
                opt(&["Region_Subdivision_1"]),
                opt(&["Region_Subdivision_2"]),
                opt(&["Postal_Code"]),
            ];
            sequence(l, &slots, &[], v, &lx)?;
            if let Some((country, kx)) = child(l, "Country_Reference", &lx) {
                let types = ["WID", "ISO_3166-1_Alpha-2_Code", "ISO_3166-1_Alpha-3_Code", "ISO_3166-1_Numeric-3_Code"];
                for (t, value) in ids(country, "Country", &types, &kx)? {
                    let ok = match t.as_str() {
                        "ISO_3166-1_Alpha-2_Code" => value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()),
                        "ISO_3166-1_Alpha-3_Code" => value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase()),
                        "ISO_3166-1_Numeric-3_Code" => value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit()),
                        _ => true,
                    };
                    if !ok {
                        return Err(not_found(&t, &value, &kx));
                    }
                }
            }
        }
    }
    for (app, ax) in children(data, "Job_Application_Data", dx) {
        sequence(
            app,
            &[some(&["Job_Applied_To_Data"]), many(&["Resume_Attachment_Data"]), opt(&["Resume_Data"])],
            &[],
            v,
            &ax,
        )?;
        let mut resumes = Vec::new();
        for (r, rx) in children(app, "Resume_Attachment_Data", &ax) {
            resumes.push(attachment_data(r, v, &rx)?);
        }
        for (to, tx) in children(app, "Job_Applied_To_Data", &ax) {
            f.applications.push(applied_to(w, to, v, &tx, resumes.clone())?);
        }
    }
    if let Some((p, px)) = child(data, "Prospect_Data", dx) {
        let slots = [
            opt(&["Prospect"]),
            opt(&["Level_Reference"]),
            opt(&["Prospect_Status_Reference"]),
            opt(&["Prospect_Type_Reference"]),
            opt(&["Source_Reference"]),
            opt(&["Referred_By_Worker_Reference"]),
            opt(&["Added_By_Worker_Reference"]),
            opt(&["Prospect_Attachment_Data"]),
            opt(&["Resume_Data"]),
        ];
        sequence(p, &slots, &[], v, &px)?;
        f.prospect = Some(match child(p, "Prospect", &px) {
            Some((e, ex)) => boolean(e, &ex)?,
            None => true,
        });
        if let Some((s, sx)) = child(p, "Source_Reference", &px) {
            setup_ref(s, &w.setup.sources, "source", "Applicant Source", &["WID", "Applicant_Source_ID"], &sx)?;
        }
    }
    Ok(f)
}

fn applied_to(
    w: &WorkdayData,
    to: &Element,
    v: Ver,
    tx: &str,
    resumes: Vec<Value>,
) -> Result<NewApplication, SoapError> {
    let slots = [
        opt(&["Job_Application_Reference"]),
        one(&["Job_Requisition_Reference"]),
        opt(&["Job_Application_Date"]),
        one(&["Stage_Reference"]),
        opt(&["Workflow_Step_Reference"]),
        opt(&["Disposition_Reference"]),
        opt(&["Status_Timestamp"]),
        opt(&["Source_Reference"]),
        opt(&["Referred_By_Worker_Reference"]),
        opt(&["Added_By_Worker_Reference"]),
        opt(&["Personal_Information_Data"]),
        opt(&["Global_Personal_Information_Data"]),
    ];
    sequence(to, &slots, &[], v, tx)?;
    let (r, rx) = child(to, "Job_Requisition_Reference", tx)
        .ok_or_else(|| invalid("Required element 'Job_Requisition_Reference' is missing", tx))?;
    let requisition = requisition_ref(w, r, &rx)?;
    let req = &w.requisitions[requisition];
    if req["status"] != "OPEN" {
        return Err(invalid(
            format!(
                "The job requisition {} is not open for applications (status {}).",
                str_of(&req["id"]),
                str_of(&req["status"])
            ),
            &rx,
        ));
    }
    let (s, sx) =
        child(to, "Stage_Reference", tx).ok_or_else(|| invalid("Required element 'Stage_Reference' is missing", tx))?;
    let stage = setup_ref(s, &w.setup.stages, "stage", "Recruiting Stage", &["WID", "Recruiting_Stage_ID"], &sx)?;
    let step = match child(to, "Workflow_Step_Reference", tx) {
        Some((e, ex)) => {
            let steps: Vec<String> =
                w.setup.workflow_steps.iter().filter_map(|s| s["id"].as_str().map(str::to_owned)).collect();
            let id = setup_ref(e, &steps, "step", "Workflow Step", &["WID", "Workflow_Step_ID"], &ex)?;
            let of_stage =
                w.setup.workflow_steps.iter().any(|s| s["id"] == id.as_str() && s["stage"] == stage.as_str());
            if !of_stage {
                return Err(invalid(
                    format!(
                        "The entered Workflow Step {id} is not valid for the {stage} Stage. Please enter a valid Workflow Step"
                    ),
                    &ex,
                ));
            }
            Some(id)
        }
        None => None,
    };
    let source = match child(to, "Source_Reference", tx) {
        Some((e, ex)) => {
            Some(setup_ref(e, &w.setup.sources, "source", "Applicant Source", &["WID", "Applicant_Source_ID"], &ex)?)
        }
        None => None,
    };
    let date = match child(to, "Job_Application_Date", tx) {
        Some((e, ex)) => Some(datetime(e, &ex)?.to_rfc3339_opts(SecondsFormat::Millis, false)),
        None => None,
    };
    Ok(NewApplication { requisition, stage, step, source, date, resumes, xpath: tx.to_owned() })
}

pub(super) fn put_candidate(sb: &Sandbox, req: &Element, v: Ver, xpath: &str) -> Result<Value, SoapError> {
    sequence(req, &[opt(&["Candidate_Reference"]), one(&["Candidate_Data"])], &[], v, xpath)?;
    let add_only = flag(req, "Add_Only", xpath)?;
    let (data, dx) = child(req, "Candidate_Data", xpath)
        .ok_or_else(|| invalid("Required element 'Candidate_Data' is missing", xpath))?;
    sb.update(|d| {
        let w = &mut d.workday;
        let fields = put_fields(w, data, v, &dx)?;
        let given_id = data.child("Candidate_ID").map(|e| e.text().trim().to_owned()).filter(|s| !s.is_empty());
        let existing = match child(req, "Candidate_Reference", xpath) {
            Some((r, rx)) => Some(candidate_ref(w, r, &rx)?),
            None => given_id.as_deref().and_then(|id| find_candidate(w, "Candidate_ID", id)),
        };
        if existing.is_some() && add_only {
            return Err(invalid("The Web Service is set to Add Only, but the Candidate already exists.", xpath));
        }
        let ci = match existing {
            Some(ci) => ci,
            None => {
                if fields.first.is_none() || fields.last.is_none() {
                    return Err(invalid("Candidate name is required when adding a candidate.", &dx));
                }
                if fields.email.is_none() && fields.phone.is_none() {
                    return Err(invalid(
                        "Candidate phone number or email address is required when adding a candidate.",
                        &dx,
                    ));
                }
                if fields.applications.is_empty() && fields.prospect.is_none() {
                    return Err(invalid(
                        "Job Application Data or Prospect Data is required when adding a candidate.",
                        &dx,
                    ));
                }
                let mut id = given_id.clone().unwrap_or_default();
                while id.is_empty() || find_candidate(w, "Candidate_ID", &id).is_some() {
                    id = format!("CAND-{}", 3000 + w.next_number());
                }
                w.candidates.push(json!({
                    "id": id, "wid": wid(&id), "first_name": null, "last_name": null, "email": null, "phone": null,
                    "created_at": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true), "applications": [],
                }));
                w.candidates.len() - 1
            }
        };
        {
            let c = &mut w.candidates[ci];
            for (k, val) in [
                ("first_name", &fields.first),
                ("last_name", &fields.last),
                ("email", &fields.email),
                ("phone", &fields.phone),
            ] {
                if let Some(val) = val {
                    c[k] = json!(val);
                }
            }
            if let Some(p) = fields.prospect {
                c["prospect"] = json!(p);
            }
        }
        let mut created = Vec::new();
        for app in fields.applications {
            let req_id = str_of(&w.requisitions[app.requisition]["id"]).to_owned();
            let c = &w.candidates[ci];
            if c["applications"].as_array().into_iter().flatten().any(|a| a["requisition"] == req_id.as_str()) {
                return Err(invalid(format!("{} has already applied to {req_id}", name_of(c)), &app.xpath));
            }
            let n = w.next_number();
            let app_id = format!("JOB_APPLICATION-6-{}", 400 + n);
            let date = app.date.unwrap_or_else(|| Utc::now().to_rfc3339_opts(SecondsFormat::Millis, false));
            let mut a = application(&app_id, &req_id, &app.stage, &date, app.stage == "ASSESSMENT");
            if let Some(step) = app.step {
                a["step"] = json!(step);
            }
            a["source"] = json!(app.source);
            let candidate_id = str_of(&w.candidates[ci]["id"]).to_owned();
            for r in app.resumes {
                let mut r = r;
                r["candidate"] = json!(candidate_id);
                r["application"] = json!(app_id);
                r["kind"] = json!("resume");
                store_attachment(w, r);
            }
            if let Some(list) = w.candidates[ci]["applications"].as_array_mut() {
                list.push(a);
            }
            created.push((app_id, req_id));
        }
        let c = &w.candidates[ci];
        let apps: Vec<Value> = created
            .iter()
            .map(|(a, r)| {
                json!({
                    "Job_Application_Reference": reference(&[("WID", &wid(a)), ("Job_Application_ID", a)]),
                    "Job_Requisition_Reference": reference(&[("WID", &wid(r)), ("Job_Requisition_ID", r)]),
                })
            })
            .collect();
        Ok(json!({
            "Candidate_Reference": reference(&[("WID", str_of(&c["wid"])), ("Candidate_ID", str_of(&c["id"]))]),
            "Candidate_Job_Application_Data": apps,
        }))
    })
}

// --- Put_Candidate_Attachment --------------------------------------------------------------

pub(super) fn put_candidate_attachment(sb: &Sandbox, req: &Element, v: Ver, xpath: &str) -> Result<Value, SoapError> {
    let slots = [
        one(&["Candidate_Reference"]),
        opt(&["Prospect_Resume_Attachments_Data"]),
        opt(&["Candidate_Attachment_Data"]),
        many(&["Job_Application_Attachment_Data"]),
    ];
    sequence(req, &slots, &[], v, xpath)?;
    flag(req, "Add_Only", xpath)?;
    let has_data = ["Prospect_Resume_Attachments_Data", "Candidate_Attachment_Data", "Job_Application_Attachment_Data"]
        .iter()
        .any(|n| req.child(n).is_some());
    if !has_data {
        return Err(invalid("Enter the Filename and File Content for the document you want to attach.", xpath));
    }
    sb.update(|d| {
        let w = &mut d.workday;
        let (cr, crx) = child(req, "Candidate_Reference", xpath)
            .ok_or_else(|| invalid("Required element 'Candidate_Reference' is missing", xpath))?;
        let ci = candidate_ref(w, cr, &crx)?;
        let candidate_id = str_of(&w.candidates[ci]["id"]).to_owned();
        // Check everything before storing anything.
        let mut to_store: Vec<(Option<String>, Value)> = Vec::new();
        if let Some((p, px)) = child(req, "Prospect_Resume_Attachments_Data", xpath) {
            sequence(p, &[many(&["Resume_Attachments"])], &[], v, &px)?;
            for (r, rx) in children(p, "Resume_Attachments", &px) {
                let mut a = attachment_data(r, v, &rx)?;
                a["kind"] = json!("prospect_resume");
                to_store.push((None, a));
            }
        }
        if let Some((c, cx)) = child(req, "Candidate_Attachment_Data", xpath) {
            let slots = [
                opt(&["Candidate_Attachment_Reference"]),
                opt(&["Attachment_Data"]),
                one(&["Document_Category_Reference"]),
            ];
            sequence(c, &slots, &[], v, &cx)?;
            let (dc, dcx) = child(c, "Document_Category_Reference", &cx)
                .ok_or_else(|| invalid("Required element 'Document_Category_Reference' is missing", &cx))?;
            let types = ["WID", "Document_Category_ID", "Document_Category__Workday_Owned__ID"];
            let category = setup_ref(dc, &w.setup.document_categories, "category", "Document Category", &types, &dcx)?;
            if let Some((r, rx)) = child(c, "Candidate_Attachment_Reference", &cx) {
                resolve(r, "Candidate Attachment", &["WID", "File_ID"], &rx, |t, val| {
                    w.attachments.iter().position(|a| {
                        a["candidate"] == candidate_id.as_str()
                            && (if t == "WID" { a["wid"] == val } else { a["file_id"] == val })
                    })
                })?;
            }
            let (a, ax) = child(c, "Attachment_Data", &cx).ok_or_else(|| {
                invalid("Enter the Filename and File Content for the document you want to attach.", &cx)
            })?;
            let mut a = attachment_data(a, v, &ax)?;
            a["kind"] = json!("candidate");
            a["category"] = json!(category);
            to_store.push((None, a));
        }
        let mut per_application: Vec<(String, usize)> = Vec::new();
        for (j, jx) in children(req, "Job_Application_Attachment_Data", xpath) {
            sequence(
                j,
                &[opt(&["Job_Requisition_Reference"]), opt(&["Job_Application_Reference"]), one(&["Attachment_Data"])],
                &[],
                v,
                &jx,
            )?;
            let by_app = match child(j, "Job_Application_Reference", &jx) {
                Some((r, rx)) => {
                    let (aci, aai) = application_ref(w, r, &rx)?;
                    if aci != ci {
                        return Err(invalid(
                            format!(
                                "The job application {} does not belong to candidate {candidate_id}.",
                                str_of(&w.candidates[aci]["applications"][aai]["id"])
                            ),
                            &rx,
                        ));
                    }
                    Some(aai)
                }
                None => None,
            };
            let by_req = match child(j, "Job_Requisition_Reference", &jx) {
                Some((r, rx)) => {
                    let ri = requisition_ref(w, r, &rx)?;
                    let req_id = str_of(&w.requisitions[ri]["id"]);
                    let found = w.candidates[ci]["applications"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .position(|a| a["requisition"] == req_id);
                    match found {
                        Some(ai) => Some(ai),
                        None => {
                            return Err(invalid(format!("Candidate {candidate_id} has not applied to {req_id}."), &rx));
                        }
                    }
                }
                None => None,
            };
            let targets: Vec<usize> = match (by_app, by_req) {
                (Some(a), Some(r)) if a != r => {
                    return Err(invalid(
                        "The job application and the job requisition name different applications.",
                        &jx,
                    ));
                }
                (Some(a), _) | (None, Some(a)) => vec![a],
                (None, None) => (0..w.candidates[ci]["applications"].as_array().map_or(0, Vec::len)).collect(),
            };
            let (a, ax) = child(j, "Attachment_Data", &jx).ok_or_else(|| {
                invalid("Enter the Filename and File Content for the document you want to attach.", &jx)
            })?;
            let a = attachment_data(a, v, &ax)?;
            for ai in targets {
                let app_id = str_of(&w.candidates[ci]["applications"][ai]["id"]).to_owned();
                let mut a = a.clone();
                a["kind"] = json!("job_application");
                to_store.push((Some(app_id.clone()), a));
                per_application.push((app_id, to_store.len() - 1));
            }
        }
        let mut candidate_files = Vec::new();
        let mut app_files: Vec<(String, String)> = Vec::new();
        for (i, (app, mut a)) in to_store.into_iter().enumerate() {
            a["candidate"] = json!(candidate_id);
            a["application"] = json!(app);
            let file_id = store_attachment(w, a);
            match per_application.iter().find(|(_, k)| *k == i) {
                Some((app_id, _)) => app_files.push((app_id.clone(), file_id)),
                None => candidate_files.push(file_id),
            }
        }
        let c = &w.candidates[ci];
        let attachments: Vec<Value> =
            candidate_files.iter().map(|f| reference(&[("WID", &wid(f)), ("File_ID", f)])).collect();
        let apps: Vec<Value> = app_files
            .iter()
            .map(|(app, f)| {
                json!({
                    "Job_Application_Reference": reference(&[("WID", &wid(app)), ("Job_Application_ID", app)]),
                    "Job_Application_Attachment_Reference": reference(&[("WID", &wid(f)), ("File_ID", f)]),
                    "Job_Applications_Updated": "1",
                })
            })
            .collect();
        Ok(json!({
            "Candidate_Reference": reference(&[("WID", str_of(&c["wid"])), ("Candidate_ID", str_of(&c["id"]))]),
            "Attachment_Reference": attachments,
            "Job_Application_Attachment_Data": apps,
        }))
    })
}
