//! Workday instance references (`wd:*_Reference`): what a step gives in
//! `with:` ([`WdRef`]: an ID of the object's usual type, or `{type, id}`),
//! the ID types each object accepts ([`Obj`], from the `*ReferenceEnumeration`
//! types of the v26.1 schema), and references read back from responses.

use reqflow_engine::xml::Element;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::requests::RequestError;

/// A reference to a Workday object: either an ID of the object's usual type
/// (e.g. `"CAND-1182"` for a candidate: a `Candidate_ID`), or `{type, id}`
/// with `type` one of the object's ID types (always including `WID`).
#[derive(Clone, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(untagged)]
pub enum WdRef {
    /// An ID of the object's default type (see each field's documentation).
    Id(String),
    /// A numeric ID of the object's default type (e.g. an `Employee_ID` read from JSON as a number).
    Number(u64),
    /// An ID with an explicit `wd:type`.
    Typed(TypedId),
}

/// An ID with its type.
#[derive(Clone, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TypedId {
    /// The ID type (`wd:type`): `WID` (32 lowercase hex characters) or one of the object's
    /// reference ID types, e.g. `Candidate_ID`, `Job_Application_ID`, `Employee_ID`.
    #[serde(rename = "type")]
    pub id_type: String,
    /// The ID value.
    pub id: String,
}

impl From<&str> for WdRef {
    fn from(s: &str) -> Self {
        WdRef::Id(s.to_owned())
    }
}

/// The kinds of object the `workday.*` actions refer to, with their ID types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obj {
    /// `CandidateObjectType`.
    Candidate,
    /// `Job_ApplicationObjectType`.
    JobApplication,
    /// `Job_Requisition_EnabledObjectType` / `Job_RequisitionObjectType`.
    JobRequisition,
    /// `Unique_IdentifierObjectType`: business-process events (WID or IID only).
    Event,
    /// `WorkerObjectType`.
    Worker,
    /// `Recruiting_Stage__Workday_Owned_ObjectType`.
    Stage,
    /// `Workflow_StepObjectType`.
    WorkflowStep,
    /// `Recruiting_Assessment_StatusObjectType`.
    AssessmentStatus,
    /// `Recruiting_Assessment_TestObjectType`.
    AssessmentTest,
    /// `Applicant_SourceObjectType`.
    ApplicantSource,
    /// `Document_Category__All_ObjectType`.
    DocumentCategory,
    /// `Mime_TypeObjectType`.
    MimeType,
    /// `Job_Requisition_StatusObjectType`.
    RequisitionStatus,
    /// `Supervisory_OrganizationObjectType`.
    SupervisoryOrganization,
    /// `LocationObjectType`.
    Location,
    /// `CountryObjectType`.
    Country,
}

impl Obj {
    /// The ID types `wd:type` may take (v26.1 enumerations).
    pub fn allowed(self) -> &'static [&'static str] {
        match self {
            Obj::Candidate => &["WID", "Candidate_ID"],
            Obj::JobApplication => &["WID", "Job_Application_ID"],
            Obj::JobRequisition => &["WID", "Job_Requisition_ID"],
            Obj::Event => &["WID", "IID"],
            Obj::Worker => &["WID", "Employee_ID", "Contingent_Worker_ID"],
            Obj::Stage => &["WID", "Recruiting_Stage_ID"],
            Obj::WorkflowStep => &["WID", "Workflow_Step_ID"],
            Obj::AssessmentStatus => &["WID", "Assessment_Status_ID"],
            Obj::AssessmentTest => &["WID", "Reference_ID"],
            Obj::ApplicantSource => &["WID", "Applicant_Source_ID"],
            Obj::DocumentCategory => &["WID", "Document_Category_ID", "Document_Category__Workday_Owned__ID"],
            Obj::MimeType => &["WID", "Content_Type_ID"],
            Obj::RequisitionStatus => &["WID", "Job_Requisition_Status_ID"],
            Obj::SupervisoryOrganization => &["WID", "Organization_Reference_ID"],
            Obj::Location => &["WID", "Location_ID"],
            Obj::Country => &["WID", "ISO_3166-1_Alpha-2_Code", "ISO_3166-1_Alpha-3_Code", "ISO_3166-1_Numeric-3_Code"],
        }
    }

    /// The type a bare string ID is taken as.
    pub fn default_type(self) -> &'static str {
        match self {
            Obj::Event => "WID",
            Obj::Country => "ISO_3166-1_Alpha-2_Code",
            other => other.allowed()[1],
        }
    }
}

/// Whether `s` looks like a WID: 32 lowercase hex characters.
pub fn is_wid(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl WdRef {
    /// `(type, id)`, checked against `obj`'s ID types; `field` names the `with:` key in errors.
    pub fn resolve(&self, obj: Obj, field: &str) -> Result<(String, String), RequestError> {
        let number;
        let (t, id) = match self {
            WdRef::Id(id) => (obj.default_type(), id.as_str()),
            WdRef::Number(n) => {
                number = n.to_string();
                (obj.default_type(), number.as_str())
            }
            WdRef::Typed(TypedId { id_type, id }) => (id_type.as_str(), id.as_str()),
        };
        let id = id.trim();
        if id.is_empty() {
            return Err(RequestError::Invalid(format!("`{field}`: the ID is empty")));
        }
        if !obj.allowed().contains(&t) {
            return Err(RequestError::Invalid(format!(
                "`{field}`: `{t}` is not an ID type of this object (use one of {})",
                obj.allowed().join(", ")
            )));
        }
        if t == "WID" && !is_wid(id) {
            return Err(RequestError::Invalid(format!(
                "`{field}`: `{id}` is not a WID (32 lowercase hexadecimal characters)"
            )));
        }
        Ok((t.to_owned(), id.to_owned()))
    }

    /// The reference's JSON form for the request writer: `{"ID": {"@type": t, "#text": id}}`.
    pub fn to_json(&self, obj: Obj, field: &str) -> Result<Value, RequestError> {
        let (t, id) = self.resolve(obj, field)?;
        Ok(json!({"ID": {"@type": t, "#text": id}}))
    }
}

/// A reference element of a response as `{"WID": …, "Candidate_ID": …}` (plus
/// `descriptor` when Workday sent one).
pub fn ids_of(el: &Element) -> Value {
    let mut out = Map::new();
    if let Some(d) = el.attribute("Descriptor") {
        out.insert("descriptor".into(), Value::String(d.to_owned()));
    }
    for id in el.elements().filter(|e| e.name == "ID") {
        let t = id.attribute("type").unwrap_or("ID").to_owned();
        out.insert(t, Value::String(id.text().trim().to_owned()));
    }
    Value::Object(out)
}

/// `ids_of` for the child `name` of `el`, or `null`.
pub fn child_ids(el: &Element, name: &str) -> Value {
    el.child(name).map(ids_of).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_default_and_typed_ids() {
        let r = WdRef::from("CAND-1");
        assert_eq!(r.resolve(Obj::Candidate, "candidate").expect("ok"), ("Candidate_ID".into(), "CAND-1".into()));
        let t: WdRef =
            serde_json::from_value(json!({"type": "WID", "id": "cf1ced2ceea88194f85fca105627ac02"})).expect("typed");
        assert!(t.resolve(Obj::Candidate, "candidate").is_ok());
        let bad: WdRef = serde_json::from_value(json!({"type": "Employee_ID", "id": "1"})).expect("typed");
        assert!(bad.resolve(Obj::Candidate, "candidate").is_err());
        let not_wid: WdRef = serde_json::from_value(json!({"type": "WID", "id": "XYZ"})).expect("typed");
        assert!(not_wid.resolve(Obj::Candidate, "candidate").is_err());
        assert!(serde_json::from_value::<WdRef>(json!({"type": "WID", "id": "x", "extra": 1})).is_err());
        assert_eq!(WdRef::from("abc").resolve(Obj::Event, "event").map(|r| r.0).ok(), None);
        let n: WdRef = serde_json::from_value(json!(21001)).expect("number");
        assert_eq!(n.resolve(Obj::Worker, "assessed_by").expect("ok"), ("Employee_ID".into(), "21001".into()));
    }
}
