//! Request validation for the emulated SOAP operations, as strict as
//! `shared/reference/workday.md` describes: children of every modelled
//! element in schema order (`xsd:sequence`), required elements present,
//! choices exclusive, elements of later versions refused in earlier ones,
//! typed reference IDs (`wd:type` in the object's enumeration, WIDs of 32
//! lowercase hex characters), `xsd:date` / `xsd:dateTime` values.
//!
//! Faults carry Workday's validation-fault shape; the wording of schema
//! messages (order, missing element) is inferred, the business messages are
//! the ones the schema documents.

use reqflow_engine::xml::Element;

use super::soap::WD_NS;

/// A WWS version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ver(pub u32, pub u32);

impl Ver {
    /// Parses `vNN.N`.
    pub fn parse(s: &str) -> Option<Ver> {
        let (a, b) = s.strip_prefix('v')?.split_once('.')?;
        let ok = |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|c| c.is_ascii_digit());
        if !ok(a) || !ok(b) {
            return None;
        }
        Some(Ver(a.parse().ok()?, b.parse().ok()?))
    }
}

impl std::fmt::Display for Ver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}", self.0, self.1)
    }
}

/// The oldest version the sandbox serves (the public schema's).
pub const V26_1: Ver = Ver(26, 1);
/// Additions of the v31.2 schema.
pub const V31_2: Ver = Ver(31, 2);
/// `Name_Data/Legal_Name` (seen in a v43.0 sample).
pub const V43_0: Ver = Ver(43, 0);

/// Why an operation refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoapError {
    /// `Client.validationError` with one `Validation_Error`.
    Validation {
        /// `Message` (and `Detail_Message`).
        message: String,
        /// `Xpath` of the offending element.
        xpath: Option<String>,
    },
    /// `Server.processingError` with a `Processing_Fault`.
    Processing(String),
}

/// A validation fault at `xpath`.
pub fn invalid(message: impl Into<String>, xpath: &str) -> SoapError {
    SoapError::Validation { message: message.into(), xpath: Some(xpath.to_owned()) }
}

/// One position of an `xsd:sequence`: an element (or a choice of elements) with its occurrences.
#[derive(Clone, Debug)]
pub struct Slot {
    /// The element, or the alternatives of an `xsd:choice`.
    pub names: &'static [&'static str],
    /// Fewest occurrences.
    pub min: u32,
    /// Most occurrences (`u32::MAX`: unbounded).
    pub max: u32,
    /// The first version that has it.
    pub since: Option<Ver>,
}

/// Exactly one.
pub fn one(names: &'static [&'static str]) -> Slot {
    Slot { names, min: 1, max: 1, since: None }
}
/// Zero or one.
pub fn opt(names: &'static [&'static str]) -> Slot {
    Slot { names, min: 0, max: 1, since: None }
}
/// Zero or more.
pub fn many(names: &'static [&'static str]) -> Slot {
    Slot { names, min: 0, max: u32::MAX, since: None }
}
/// One or more.
pub fn some(names: &'static [&'static str]) -> Slot {
    Slot { names, min: 1, max: u32::MAX, since: None }
}

impl Slot {
    /// Only from `v` on.
    pub fn since(mut self, v: Ver) -> Slot {
        self.since = Some(v);
        self
    }

    /// Required when `cond`, optional otherwise.
    pub fn required_if(mut self, cond: bool) -> Slot {
        self.min = u32::from(cond);
        self
    }

    fn label(&self) -> String {
        self.names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(" or ")
    }
}

/// The XPath of child `name` (its `index`-th occurrence, 1-based) of `parent`.
pub fn child_path(parent: &str, name: &str, index: usize) -> String {
    format!("{parent}/wd:{name}[{index}]")
}

/// Checks `el`'s child elements against `slots` (in order). `tolerated` names are accepted
/// anywhere (additions of later versions whose position the reference does not give).
pub fn sequence(el: &Element, slots: &[Slot], tolerated: &[&str], version: Ver, xpath: &str) -> Result<(), SoapError> {
    let mut at = 0usize;
    let mut counts = vec![0u32; slots.len()];
    let mut chosen: Vec<Option<&str>> = vec![None; slots.len()];
    let mut last: Option<&str> = None;
    for child in el.elements() {
        let name = child.name.as_str();
        let here = child_path(xpath, name, 1);
        if child.namespace.as_deref() != Some(WD_NS) {
            return Err(invalid(format!("Element '{name}' is not in namespace {WD_NS}"), &here));
        }
        let Some(j) = slots.iter().position(|s| s.names.contains(&name)) else {
            if tolerated.contains(&name) {
                continue;
            }
            return Err(invalid(format!("Element '{name}' is not valid in '{}'", el.name), &here));
        };
        if let Some(since) = slots[j].since
            && version < since
        {
            return Err(invalid(format!("Element '{name}' is not valid in '{}' in version {version}", el.name), &here));
        }
        if j < at {
            return Err(invalid(
                format!("Element '{name}' is out of order: it must come before '{}'", last.unwrap_or("")),
                &here,
            ));
        }
        for k in at..j {
            if counts[k] < slots[k].min {
                return Err(missing(&slots[k], xpath));
            }
        }
        at = j;
        if let Some(c) = chosen[j]
            && c != name
        {
            return Err(invalid(format!("Only one of {} may be given", slots[j].label()), &here));
        }
        chosen[j] = Some(name);
        counts[j] += 1;
        if counts[j] > slots[j].max {
            return Err(invalid(format!("Element '{name}' may appear at most {} time(s)", slots[j].max), &here));
        }
        last = Some(name);
    }
    for k in at..slots.len() {
        if counts[k] < slots[k].min {
            return Err(missing(&slots[k], xpath));
        }
    }
    Ok(())
}

fn missing(slot: &Slot, xpath: &str) -> SoapError {
    if slot.names.len() == 1 {
        invalid(format!("Required element '{}' is missing", slot.names[0]), xpath)
    } else {
        invalid(format!("One of {} is required", slot.label()), xpath)
    }
}

/// The child elements named `name`, with their XPaths.
pub fn children<'a>(
    el: &'a Element,
    name: &'a str,
    xpath: &'a str,
) -> impl Iterator<Item = (&'a Element, String)> + 'a {
    el.elements().filter(move |e| e.name == name).enumerate().map(move |(i, e)| (e, child_path(xpath, name, i + 1)))
}

/// The first child named `name`, with its XPath.
pub fn child<'a>(el: &'a Element, name: &str, xpath: &str) -> Option<(&'a Element, String)> {
    el.child(name).map(|c| (c, child_path(xpath, name, 1)))
}

/// Whether `s` is a WID.
pub fn is_wid(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The IDs of a reference element: each `wd:ID` with a `wd:type` from `allowed`.
pub fn ids(el: &Element, object: &str, allowed: &[&str], xpath: &str) -> Result<Vec<(String, String)>, SoapError> {
    let mut out = Vec::new();
    for (i, id) in el.elements().enumerate() {
        let here = child_path(xpath, &id.name, i + 1);
        if id.name != "ID" || id.namespace.as_deref() != Some(WD_NS) {
            return Err(invalid(format!("Element '{}' is not valid in a reference", id.name), &here));
        }
        let value = id.text().trim().to_owned();
        let Some(t) = id.attribute("type") else {
            return Err(invalid("The wd:type attribute of ID is required", &here));
        };
        if !allowed.contains(&t) {
            return Err(invalid(
                format!(
                    "Invalid ID type. '{t}' is not a valid ID type for {object} (valid types: {})",
                    allowed.join(", ")
                ),
                &here,
            ));
        }
        if t == "WID" && !is_wid(&value) {
            return Err(invalid(
                format!("Invalid ID value. '{value}' is not a valid ID value for type = 'WID'"),
                &here,
            ));
        }
        out.push((t.to_owned(), value));
    }
    if out.is_empty() {
        return Err(invalid(format!("The {object} reference has no ID"), xpath));
    }
    Ok(out)
}

/// Resolves a reference element with `find(type, value)`; the first ID that names something wins.
pub fn resolve<T>(
    el: &Element,
    object: &str,
    allowed: &[&str],
    xpath: &str,
    find: impl Fn(&str, &str) -> Option<T>,
) -> Result<T, SoapError> {
    let list = ids(el, object, allowed, xpath)?;
    for (t, v) in &list {
        if let Some(found) = find(t, v) {
            return Ok(found);
        }
    }
    let (t, v) = &list[0];
    Err(not_found(t, v, xpath))
}

/// Workday's message for an ID that names nothing.
pub fn not_found(t: &str, v: &str, xpath: &str) -> SoapError {
    invalid(format!("Invalid ID value. '{v}' is not a valid ID value for type = '{t}'"), xpath)
}

/// An `xsd:date` (`YYYY-MM-DD`, optionally with `Z` or `±hh:mm`).
pub fn date(el: &Element, xpath: &str) -> Result<chrono::NaiveDate, SoapError> {
    let t = el.text();
    let t = t.trim();
    let day = t.get(..10).unwrap_or("");
    let zone = t.get(10..).unwrap_or("");
    let zone_ok = zone.is_empty() || zone == "Z" || is_offset(zone);
    match chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        Ok(d) if zone_ok => Ok(d),
        _ => Err(invalid(format!("'{t}' is not a valid date (YYYY-MM-DD)"), xpath)),
    }
}

fn is_offset(z: &str) -> bool {
    let b = z.as_bytes();
    b.len() == 6 && matches!(b[0], b'+' | b'-') && b[3] == b':' && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit())
}

/// An `xsd:dateTime` (with or without an offset) as UTC; without an offset it is taken as UTC.
pub fn datetime(el: &Element, xpath: &str) -> Result<chrono::DateTime<chrono::Utc>, SoapError> {
    let t = el.text();
    parse_datetime(t.trim()).ok_or_else(|| invalid(format!("'{}' is not a valid date-time", t.trim()), xpath))
}

/// Parses an `xsd:dateTime`.
pub fn parse_datetime(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc())
}

/// An `xsd:boolean`.
pub fn boolean(el: &Element, xpath: &str) -> Result<bool, SoapError> {
    match el.text().trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(invalid(format!("'{other}' is not a valid boolean"), xpath)),
    }
}

/// A non-negative whole number of at most `digits` digits (`xsd:decimal`, `fractionDigits=0`).
pub fn whole(el: &Element, digits: usize, xpath: &str) -> Result<u64, SoapError> {
    let t = el.text();
    let t = t.trim();
    if t.is_empty() || t.len() > digits || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            format!(
                "'{t}' is not valid for '{}': a non-negative whole number of at most {digits} digits is required",
                el.name
            ),
            xpath,
        ));
    }
    t.parse::<u64>().map_err(|_| invalid(format!("'{t}' is not a valid number"), xpath))
}

/// A qualified boolean attribute (`wd:Add_Only`, `wd:Skip_Non_Existing_Instances`); absent is false.
pub fn flag(el: &Element, name: &str, xpath: &str) -> Result<bool, SoapError> {
    match el.attribute(name) {
        None => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(invalid(format!("'{other}' is not a valid boolean for attribute '{name}'"), xpath)),
    }
}

#[cfg(test)]
mod tests {
    use reqflow_engine::xml::parse;

    use super::*;

    fn el(xml: &str) -> Element {
        parse(&format!("<wd:R xmlns:wd=\"{WD_NS}\">{xml}</wd:R>")).expect("xml")
    }

    #[test]
    fn sequence_checks_order_required_choice_and_versions() {
        let slots = [opt(&["A"]), one(&["B", "C"]), many(&["D"]), opt(&["E"]).since(V31_2)];
        let v = V26_1;
        assert!(sequence(&el("<wd:A/><wd:B/><wd:D/><wd:D/>"), &slots, &[], v, "/wd:R[1]").is_ok());
        assert!(sequence(&el("<wd:C/>"), &slots, &[], v, "/wd:R[1]").is_ok());
        let cases = [
            ("<wd:B/><wd:A/>", "out of order"),
            ("<wd:A/>", "One of 'B' or 'C' is required"),
            ("<wd:B/><wd:C/>", "Only one of"),
            ("<wd:B/><wd:B/>", "at most 1"),
            ("<wd:B/><wd:X/>", "not valid in 'R'"),
            ("<wd:B/><wd:E/>", "in version v26.1"),
            ("<B xmlns=\"urn:other\"/>", "not in namespace"),
        ];
        for (xml, want) in cases {
            match sequence(&el(xml), &slots, &[], v, "/wd:R[1]") {
                Err(SoapError::Validation { message, .. }) => assert!(message.contains(want), "{xml}: {message}"),
                other => panic!("{xml}: {other:?}"),
            }
        }
        assert!(sequence(&el("<wd:B/><wd:E/>"), &slots, &[], V31_2, "/wd:R[1]").is_ok());
        assert!(sequence(&el("<wd:B/><wd:T/>"), &slots, &["T"], v, "/wd:R[1]").is_ok());
    }

    #[test]
    fn values() {
        let d = el("<wd:D>2026-05-01-07:00</wd:D>");
        assert!(date(d.child("D").expect("D"), "x").is_ok());
        let bad = el("<wd:D>2026-5-1</wd:D>");
        assert!(date(bad.child("D").expect("D"), "x").is_err());
        let s = el("<wd:S>87.5</wd:S>");
        assert!(whole(s.child("S").expect("S"), 12, "x").is_err());
        assert_eq!(Ver::parse("v26.1"), Some(V26_1));
    }
}
