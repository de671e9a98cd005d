//! Flat summaries of Get_Candidates results: one entry per job application,
//! with the candidate's name and email beside it, so a workflow can filter
//! (`$.steps.x.output.applications[?@.stage == 'ASSESSMENT']`) and `foreach`
//! over them without walking Workday's nested, sometimes-array elements.

use reqflow_engine::xml::Element;
use serde_json::{Map, Value, json};

use super::refs::{child_ids, ids_of};

fn text_of(el: Option<&Element>) -> Value {
    match el.map(|e| e.text().trim().to_owned()) {
        Some(t) if !t.is_empty() => Value::String(t),
        _ => Value::Null,
    }
}

/// The ID of type `id_type` of the reference child `name`, or null.
fn id_of(el: &Element, name: &str, id_type: &str) -> Value {
    child_ids(el, name).get(id_type).cloned().unwrap_or(Value::Null)
}

/// First and last name: `Name_Data/First_Name` up to v42,
/// `Name_Data/Legal_Name/Name_Detail_Data/First_Name` from v43.0.
fn names(data: &Element) -> (Value, Value) {
    let Some(n) = data.child("Name_Data") else { return (Value::Null, Value::Null) };
    let detail = n.child("Legal_Name").and_then(|l| l.child("Name_Detail_Data")).unwrap_or(n);
    (text_of(detail.child("First_Name")), text_of(detail.child("Last_Name")))
}

/// One entry per `Job_Applied_To_Data` of a `Candidate` element (none for a
/// prospect without applications):
/// `{candidate_id, candidate, first_name, last_name, name, email, job_application_id,
/// job_application, job_requisition_id, stage, workflow_step, disposition,
/// job_application_date, status_timestamp}`.
pub fn applications(candidate: &Element) -> Vec<Value> {
    let Some(data) = candidate.child("Candidate_Data") else { return Vec::new() };
    let reference = child_ids(candidate, "Candidate_Reference");
    let candidate_id = match text_of(data.child("Candidate_ID")) {
        Value::Null => reference.get("Candidate_ID").cloned().unwrap_or(Value::Null),
        id => id,
    };
    let (first, last) = names(data);
    let name = match (first.as_str(), last.as_str()) {
        (Some(f), Some(l)) => json!(format!("{f} {l}")),
        (Some(x), None) | (None, Some(x)) => json!(x),
        (None, None) => Value::Null,
    };
    let email = text_of(data.child("Contact_Data").and_then(|c| c.child("Email_Address")));
    let mut out = Vec::new();
    for app in data.elements().filter(|e| e.name == "Job_Application_Data") {
        for to in app.elements().filter(|e| e.name == "Job_Applied_To_Data") {
            let mut m = Map::new();
            m.insert("candidate_id".into(), candidate_id.clone());
            m.insert("candidate".into(), reference.clone());
            m.insert("first_name".into(), first.clone());
            m.insert("last_name".into(), last.clone());
            m.insert("name".into(), name.clone());
            m.insert("email".into(), email.clone());
            m.insert("job_application_id".into(), id_of(to, "Job_Application_Reference", "Job_Application_ID"));
            m.insert("job_application".into(), to.child("Job_Application_Reference").map(ids_of).unwrap_or_default());
            m.insert("job_requisition_id".into(), id_of(to, "Job_Requisition_Reference", "Job_Requisition_ID"));
            m.insert("stage".into(), id_of(to, "Stage_Reference", "Recruiting_Stage_ID"));
            m.insert("workflow_step".into(), id_of(to, "Workflow_Step_Reference", "Workflow_Step_ID"));
            m.insert("disposition".into(), id_of(to, "Disposition_Reference", "Recruiting_Disposition_ID"));
            m.insert("job_application_date".into(), text_of(to.child("Job_Application_Date")));
            m.insert("status_timestamp".into(), text_of(to.child("Status_Timestamp")));
            out.push(Value::Object(m));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqflow_engine::xml::parse;

    #[test]
    fn one_entry_per_application_with_the_candidate_beside_it() {
        let xml = r#"<wd:Candidate xmlns:wd="urn:com.workday/bsvc">
  <wd:Candidate_Reference><wd:ID wd:type="WID">cf1c</wd:ID><wd:ID wd:type="Candidate_ID">CAND-1182</wd:ID></wd:Candidate_Reference>
  <wd:Candidate_Data>
    <wd:Candidate_ID>CAND-1182</wd:Candidate_ID>
    <wd:Name_Data><wd:Legal_Name><wd:Name_Detail_Data><wd:First_Name>Ada</wd:First_Name><wd:Last_Name>Lovelace</wd:Last_Name></wd:Name_Detail_Data></wd:Legal_Name></wd:Name_Data>
    <wd:Contact_Data><wd:Email_Address>ada@example.com</wd:Email_Address></wd:Contact_Data>
    <wd:Job_Application_Data><wd:Job_Applied_To_Data>
      <wd:Job_Application_Reference><wd:ID wd:type="Job_Application_ID">JOB_APPLICATION-6-248</wd:ID></wd:Job_Application_Reference>
      <wd:Job_Requisition_Reference><wd:ID wd:type="Job_Requisition_ID">R-00008</wd:ID></wd:Job_Requisition_Reference>
      <wd:Stage_Reference><wd:ID wd:type="Recruiting_Stage_ID">ASSESSMENT</wd:ID></wd:Stage_Reference>
    </wd:Job_Applied_To_Data></wd:Job_Application_Data>
    <wd:Job_Application_Data><wd:Job_Applied_To_Data>
      <wd:Job_Application_Reference><wd:ID wd:type="Job_Application_ID">JOB_APPLICATION-6-300</wd:ID></wd:Job_Application_Reference>
      <wd:Stage_Reference><wd:ID wd:type="Recruiting_Stage_ID">REVIEW</wd:ID></wd:Stage_Reference>
    </wd:Job_Applied_To_Data></wd:Job_Application_Data>
  </wd:Candidate_Data>
</wd:Candidate>"#;
        let el = parse(xml).expect("xml");
        let apps = applications(&el);
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0]["name"], "Ada Lovelace");
        assert_eq!(apps[0]["email"], "ada@example.com");
        assert_eq!(apps[0]["candidate_id"], "CAND-1182");
        assert_eq!(apps[0]["job_application_id"], "JOB_APPLICATION-6-248");
        assert_eq!(apps[0]["job_requisition_id"], "R-00008");
        assert_eq!(apps[0]["stage"], "ASSESSMENT");
        assert_eq!(apps[1]["stage"], "REVIEW");
        assert_eq!(apps[1]["job_requisition_id"], Value::Null);
    }
}
