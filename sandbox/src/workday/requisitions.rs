//! Get_Job_Requisitions: by reference or criteria (status, supervisory
//! organization, primary location), `Response_Group` parts, paged.

use reqflow_engine::xml::Element;
use serde_json::{Map, Value, json};

use super::candidates::{paging, requisition_ref, setup_ref};
use super::check::*;
use super::soap::reference;
use crate::state::Sandbox;

/// A criterion: element, requisition field, setup list, WID kind, object name, ID types.
type Filter<'a> = (&'a str, &'a str, &'a [String], &'a str, &'a str, &'a [&'a str]);

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn requisition_json(r: &Value, definition: bool) -> Value {
    let mut data = Map::new();
    data.insert(
        "Job_Requisition_Status_Reference".into(),
        reference(&[("Job_Requisition_Status_ID", s(&r["status"]))]),
    );
    if definition {
        data.insert(
            "Job_Requisition_Detail_Data".into(),
            json!({
                "Job_Posting_Title": r["title"],
                "Positions_Allocated": r["positions"],
                "Positions_Available": r["available"],
                "Job_Description_Summary": r["summary"],
                "Job_Description": r["description"],
                "Available_for_Recruiting": r["status"] == "OPEN",
            }),
        );
    }
    data.insert(
        "Supervisory_Organization_Reference".into(),
        reference(&[("Organization_Reference_ID", s(&r["organization"]))]),
    );
    json!({
        "Job_Requisition_Reference": reference(&[("WID", s(&r["wid"])), ("Job_Requisition_ID", s(&r["id"]))]),
        "Job_Requisition_Data": Value::Object(data),
    })
}

pub(super) fn get_job_requisitions(sb: &Sandbox, req: &Element, v: Ver, xpath: &str) -> Result<Value, SoapError> {
    let slots =
        [opt(&["Request_References"]), opt(&["Request_Criteria"]), opt(&["Response_Filter"]), opt(&["Response_Group"])];
    sequence(req, &slots, &[], v, xpath)?;
    let mut definition = true;
    if let Some((g, gx)) = child(req, "Response_Group", xpath) {
        let slots = [
            opt(&["Include_Reference"]),
            opt(&["Include_Job_Requisition_Definition_Data"]),
            opt(&["Include_Job_Requisition_Restrictions_Data"]),
            opt(&["Include_Qualifications"]),
            opt(&["Include_Job_Requisition_Attachments"]),
            opt(&["Include_Organizations"]),
            opt(&["Include_Roles"]),
        ];
        sequence(g, &slots, &[], v, &gx)?;
        for e in g.elements() {
            boolean(e, &child_path(&gx, &e.name, 1))?;
        }
        definition = match child(g, "Include_Job_Requisition_Definition_Data", &gx) {
            Some((e, ex)) => boolean(e, &ex)?,
            None => false,
        };
    }
    let paging = paging(req, v, xpath)?;
    sb.read(|d| {
        let w = &d.workday;
        let mut selected: Vec<usize> = (0..w.requisitions.len()).collect();
        let mut out = Map::new();
        if let Some((refs, rx)) = child(req, "Request_References", xpath) {
            sequence(refs, &[some(&["Job_Requisition_Reference"])], &[], v, &rx)?;
            let skip = flag(refs, "Skip_Non_Existing_Instances", &rx)?;
            selected.clear();
            for (r, x) in children(refs, "Job_Requisition_Reference", &rx) {
                match requisition_ref(w, r, &x) {
                    Ok(i) => selected.push(i),
                    Err(e) if !skip => return Err(e),
                    Err(_) => {}
                }
            }
            out.insert("Request_References".into(), refs.to_json());
        }
        if let Some((crit, cx)) = child(req, "Request_Criteria", xpath) {
            let slots = [
                many(&["Transaction_Log_Criteria_Data"]),
                many(&["Job_Requisition_Status_Reference"]),
                many(&["Supervisory_Organization_Reference"]),
                opt(&["Field_And_Parameter_Criteria_Data"]),
                many(&["Primary_Location_Reference"]),
                many(&["Additional_Locations_Reference"]),
            ];
            sequence(crit, &slots, &[], v, &cx)?;
            let mut filters: Vec<(&str, Vec<String>)> = Vec::new();
            let specs: [Filter<'_>; 3] = [
                (
                    "Job_Requisition_Status_Reference",
                    "status",
                    &w.setup.requisition_statuses,
                    "reqstatus",
                    "Job Requisition Status",
                    &["WID", "Job_Requisition_Status_ID"],
                ),
                (
                    "Supervisory_Organization_Reference",
                    "organization",
                    &w.setup.organizations,
                    "org",
                    "Supervisory Organization",
                    &["WID", "Organization_Reference_ID"],
                ),
                (
                    "Primary_Location_Reference",
                    "location",
                    &w.setup.locations,
                    "location",
                    "Location",
                    &["WID", "Location_ID"],
                ),
            ];
            for (name, field, list, kind, object, types) in specs {
                let mut wanted = Vec::new();
                for (r, x) in children(crit, name, &cx) {
                    wanted.push(setup_ref(r, list, kind, object, types, &x)?);
                }
                if !wanted.is_empty() {
                    filters.push((field, wanted));
                }
            }
            for (r, x) in children(crit, "Additional_Locations_Reference", &cx) {
                setup_ref(r, &w.setup.locations, "location", "Location", &["WID", "Location_ID"], &x)?;
            }
            selected.retain(|&i| {
                let r = &w.requisitions[i];
                filters.iter().all(|(field, wanted)| wanted.iter().any(|x| r[*field] == x.as_str()))
            });
            out.insert("Request_Criteria".into(), crit.to_json());
        }
        let (page, results) = paging.page_of(&selected);
        out.insert("Response_Filter".into(), paging.filter_json());
        out.insert("Response_Results".into(), results);
        if !page.is_empty() {
            let items: Vec<Value> = page.iter().map(|&i| requisition_json(&w.requisitions[i], definition)).collect();
            out.insert("Response_Data".into(), json!({"Job_Requisition": items}));
        }
        Ok(Value::Object(out))
    })
}
