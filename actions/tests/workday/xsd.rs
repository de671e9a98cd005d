//! Every SOAP body the `workday.*` actions build at v26.1 validates against
//! Workday's published Recruiting schema (`tests/data/workday-recruiting-v26.1.xsd`),
//! checked with `xmllint --noout --schema` (package `libxml2-utils`). Without
//! `xmllint` they print `SKIPPED` with the reason and pass (the README's
//! test command works on a machine without it), unless
//! `REQFLOW_REQUIRE_XMLLINT=1` (CI), where they fail.
//!
//! Later versions may only add the elements the reference names; apart from
//! those, their bodies are v26.1 bodies.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use reqflow_engine::xml::{Element, Node, escape, parse};

use crate::bodies;

/// The schema, inside the repository.
pub const XSD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/workday-recruiting-v26.1.xsd");

/// Elements newer versions may add (reference §6: v31.2's results URL and created-date criteria;
/// v43.0's `Name_Data/Legal_Name/Name_Detail_Data`).
const NEWER_ELEMENTS: [&str; 5] =
    ["Assessment_Test_Results_URL", "Created_From", "Created_Through", "Legal_Name", "Name_Detail_Data"];

static RUN: AtomicU32 = AtomicU32::new(0);

/// One document's result.
#[derive(Debug)]
pub struct Checked {
    pub name: String,
    pub valid: bool,
    pub messages: String,
}

/// Whether `xmllint` can run here. Without it: `false` after a `SKIPPED`
/// line naming `test`, or a failure when `REQFLOW_REQUIRE_XMLLINT=1`.
pub fn xmllint_available(test: &str) -> bool {
    if Command::new("xmllint").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("REQFLOW_REQUIRE_XMLLINT").as_deref() != Ok("1"),
        "{test}: REQFLOW_REQUIRE_XMLLINT=1 but `xmllint` is not installed (package libxml2-utils)"
    );
    note_skipped(&format!(
        "SKIPPED: {test}: `xmllint` is not installed (package libxml2-utils), so the XSD check cannot run"
    ));
    false
}

/// Validates `docs` (name, XML) against the v26.1 schema with one `xmllint` run.
pub fn validate(docs: &[(String, String)]) -> Vec<Checked> {
    let dir = std::env::temp_dir().join(format!(
        "reqflow-workday-xsd-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let mut paths = Vec::new();
    for (i, (name, xml)) in docs.iter().enumerate() {
        let path = dir.join(format!("{i:03}-{name}.xml"));
        std::fs::write(&path, format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}\n")).expect("write");
        paths.push(path);
    }
    let out = match Command::new("xmllint").arg("--noout").arg("--schema").arg(XSD).args(&paths).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`xmllint` is not installed, so the Workday request bodies cannot be checked against the XSD: \
             install libxml2-utils (e.g. `sudo apt-get install libxml2-utils`)"
        ),
        Err(e) => panic!("cannot run xmllint: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("failed to compile"), "xmllint could not compile the schema:\n{stderr}");
    let checked = docs
        .iter()
        .zip(&paths)
        .map(|((name, _), path)| {
            let p = path.display().to_string();
            let valid = stderr.lines().any(|l| l == format!("{p} validates"));
            let failed = stderr.lines().any(|l| l == format!("{p} fails to validate"));
            assert!(valid != failed, "xmllint said nothing clear about {name}:\n{stderr}");
            let messages = stderr.lines().filter(|l| l.starts_with(&p)).collect::<Vec<_>>().join("\n");
            Checked { name: name.clone(), valid, messages }
        })
        .collect::<Vec<_>>();
    if checked.iter().all(|c| c.valid) {
        assert!(out.status.success(), "xmllint failed although every file validates:\n{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    checked
}

/// Asserts every document validates, listing the failures.
pub fn assert_valid(docs: &[(String, String)]) {
    let failures: Vec<String> = validate(docs)
        .into_iter()
        .filter(|c| !c.valid)
        .map(|c| {
            let xml = docs.iter().find(|(n, _)| *n == c.name).map(|(_, x)| x.as_str()).unwrap_or("");
            format!("{}:\n{}\n{xml}", c.name, c.messages)
        })
        .collect();
    assert!(failures.is_empty(), "bodies that do not validate against {XSD}:\n\n{}", failures.join("\n\n"));
}

fn names(el: &Element, out: &mut BTreeSet<String>) {
    out.insert(el.name.clone());
    for c in el.elements() {
        names(c, out);
    }
}

/// `el` written back with every element and attribute in the `wd:` prefix, leaving out `drop`.
fn write(el: &Element, drop: &[&str], root: bool, version: &str, out: &mut String) {
    out.push_str("<wd:");
    out.push_str(&el.name);
    if root {
        out.push_str(" xmlns:wd=\"urn:com.workday/bsvc\"");
    }
    for (k, v) in &el.attributes {
        let v = if root && k == "version" { version } else { v.as_str() };
        out.push_str(&format!(" wd:{k}=\"{}\"", escape(v)));
    }
    out.push('>');
    for n in &el.children {
        match n {
            Node::Element(c) if drop.contains(&c.name.as_str()) => {}
            Node::Element(c) => write(c, drop, false, version, out),
            Node::Text(t) => out.push_str(&escape(t)),
        }
    }
    out.push_str("</wd:");
    out.push_str(&el.name);
    out.push('>');
}

#[test]
fn every_request_body_validates_against_the_v26_1_schema() {
    if !xmllint_available("every_request_body_validates_against_the_v26_1_schema") {
        return;
    }
    let docs = bodies::all("v26.1");
    let ops: BTreeSet<String> = docs.iter().map(|(_, x)| parse(x).expect("well-formed").name).collect();
    assert_eq!(
        ops.into_iter().collect::<Vec<_>>(),
        [
            "Assess_Candidate_Request",
            "Get_Candidates_Request",
            "Get_Job_Requisitions_Request",
            "Move_Candidate_Request",
            "Put_Candidate_Attachment_Request",
            "Put_Candidate_Request"
        ]
    );
    for (name, xml) in &docs {
        assert!(xml.contains("wd:version=\"v26.1\""), "{name}: {xml}");
    }
    assert_valid(&docs);
}

#[test]
fn the_check_catches_order_attribute_and_version_mistakes() {
    if !xmllint_available("the_check_catches_order_attribute_and_version_mistakes") {
        return;
    }
    let ns = "xmlns:wd=\"urn:com.workday/bsvc\"";
    let wrong = vec![
        (
            "filter_out_of_order".to_owned(),
            format!(
                "<wd:Get_Candidates_Request wd:version=\"v26.1\" {ns}><wd:Response_Filter><wd:Count>5</wd:Count><wd:Page>1</wd:Page></wd:Response_Filter></wd:Get_Candidates_Request>"
            ),
        ),
        (
            "unqualified_type".to_owned(),
            format!(
                "<wd:Get_Candidates_Request wd:version=\"v26.1\" {ns}><wd:Request_References><wd:Candidate_Reference><wd:ID type=\"Candidate_ID\">C</wd:ID></wd:Candidate_Reference></wd:Request_References></wd:Get_Candidates_Request>"
            ),
        ),
        (
            "fractional_score".to_owned(),
            format!(
                "<wd:Assess_Candidate_Request wd:version=\"v26.1\" {ns}><wd:Assess_Candidate_Data><wd:Job_Application_Reference><wd:ID wd:type=\"Job_Application_ID\">J</wd:ID></wd:Job_Application_Reference><wd:Candidate_Assessment_Data><wd:Assessed_By_Reference><wd:ID wd:type=\"Employee_ID\">1</wd:ID></wd:Assessed_By_Reference><wd:Assessed_On_Date>2026-05-01</wd:Assessed_On_Date><wd:Assessment_Status_Reference><wd:ID wd:type=\"Assessment_Status_ID\">P</wd:ID></wd:Assessment_Status_Reference><wd:Assess_Candidate_Test_Result_Data><wd:Assessment_Test_Reference><wd:ID wd:type=\"Reference_ID\">T</wd:ID></wd:Assessment_Test_Reference><wd:Assessment_Test_Score>87.5</wd:Assessment_Test_Score></wd:Assess_Candidate_Test_Result_Data></wd:Candidate_Assessment_Data></wd:Assess_Candidate_Data></wd:Assess_Candidate_Request>"
            ),
        ),
    ];
    // A v31.2 body carries Assessment_Test_Results_URL, which v26.1 does not know.
    let mut newer: Vec<(String, String)> = bodies::all("v31.2")
        .into_iter()
        .filter(|(n, _)| n == "assess_full")
        .map(|(n, x)| (format!("{n}_v31_2"), x))
        .collect();
    assert_eq!(newer.len(), 1);
    let mut docs = wrong;
    docs.append(&mut newer);
    for c in validate(&docs) {
        assert!(!c.valid, "{} should not validate", c.name);
        assert!(!c.messages.is_empty(), "{}: xmllint gave no reason", c.name);
    }
}

#[test]
fn newer_versions_only_add_the_elements_the_reference_names() {
    if !xmllint_available("newer_versions_only_add_the_elements_the_reference_names") {
        return;
    }
    let mut base = BTreeSet::new();
    for (_, x) in bodies::all("v26.1") {
        names(&parse(&x).expect("well-formed"), &mut base);
    }
    for version in ["v31.2", "v44.0"] {
        let docs = bodies::all(version);
        let mut stripped = Vec::new();
        let mut added_seen = BTreeSet::new();
        for (name, xml) in &docs {
            assert!(xml.contains(&format!("wd:version=\"{version}\"")), "{name}: {xml}");
            let el = parse(xml).expect("well-formed");
            let mut here = BTreeSet::new();
            names(&el, &mut here);
            for added in here.difference(&base) {
                assert!(
                    NEWER_ELEMENTS.contains(&added.as_str()),
                    "{version} {name}: `{added}` is neither a v26.1 element nor one the reference names"
                );
                added_seen.insert(added.clone());
            }
            let mut s = String::new();
            write(&el, &NEWER_ELEMENTS, true, "v26.1", &mut s);
            stripped.push((format!("{name}_{version}"), s));
        }
        assert!(added_seen.contains("Assessment_Test_Results_URL"), "{version}: {added_seen:?}");
        if version == "v44.0" {
            assert!(added_seen.contains("Legal_Name"), "{version}: {added_seen:?}");
        }
        // Without the named additions, a newer body is a valid v26.1 body: same names, same order.
        assert_valid(&stripped);
    }
}

/// Says a test was skipped: on stderr, and as a line of the file named by
/// `REQFLOW_SKIP_LOG` (set by `scripts/test.sh`, which prints them all in its
/// summary, since `cargo test` hides the output of passing tests).
pub fn note_skipped(line: &str) {
    eprintln!("{line}");
    if let Ok(path) = std::env::var("REQFLOW_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path)
    {
        use std::io::Write as _;
        let _ = writeln!(f, "{line}");
    }
}
