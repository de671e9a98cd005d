//! Workday Web Services versions (`v26.1`, `v44.0`, …): parsed so the
//! request builders can tell which elements a version knows.
//!
//! Only additions the reference names are gated on the version: from v31.2
//! `Assessment_Test_Results_URL`, `Created_From`/`Created_Through` and the
//! optional `Assessed_By_Reference`; from v43.0 the nested
//! `Name_Data/Legal_Name/Name_Detail_Data` of a candidate's name.

use std::fmt;

/// A WWS version, e.g. `v26.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WwsVersion {
    /// `26` in `v26.1`.
    pub major: u32,
    /// `1` in `v26.1`.
    pub minor: u32,
}

/// The first version with `Assessment_Test_Results_URL`, `Created_From`/`Created_Through`,
/// and an optional `Assessed_By_Reference` (all seen in the public v31.2 schema).
pub const V31_2: WwsVersion = WwsVersion { major: 31, minor: 2 };
/// The first version known to write a candidate's name as `Legal_Name/Name_Detail_Data`
/// (a public v43.0 sample; the exact release of the change is unknown).
pub const V43_0: WwsVersion = WwsVersion { major: 43, minor: 0 };

impl WwsVersion {
    /// Parses `vNN.N` (the `v` is required, as in Workday's URLs).
    pub fn parse(s: &str) -> Option<WwsVersion> {
        let rest = s.strip_prefix('v')?;
        let (major, minor) = rest.split_once('.')?;
        let digits = |p: &str| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return None;
        }
        Some(WwsVersion { major: major.parse().ok()?, minor: minor.parse().ok()? })
    }

    /// Whether this version is `other` or later.
    pub fn at_least(self, other: WwsVersion) -> bool {
        self >= other
    }
}

impl fmt::Display for WwsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let v26 = WwsVersion::parse("v26.1").expect("valid");
        assert_eq!(v26.to_string(), "v26.1");
        assert!(!v26.at_least(V31_2));
        assert!(WwsVersion::parse("v44.0").expect("valid").at_least(V43_0));
        assert!(WwsVersion::parse("v31.2").expect("valid").at_least(V31_2));
        for bad in ["26.1", "v26", "v.1", "v26.x", "", "v26.1.2"] {
            assert_eq!(WwsVersion::parse(bad), None, "{bad}");
        }
    }
}
