//! The console's files, embedded in the binary (`include_str!`): plain
//! HTML, CSS and JavaScript modules, no build step, no request to any other
//! host (the Content-Security-Policy says so too, and a test greps them).

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Its name under `/console/assets/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its text.
    pub body: &'static str,
}

/// The page shell, served at `/` to a logged-in session.
pub(crate) const INDEX: &str = include_str!("../../console/index.html");
/// The login page, served at `/console/login` and, with 401, at `/` without a session.
pub(crate) const LOGIN: &str = include_str!("../../console/login.html");

const JS: &str = "text/javascript; charset=utf-8";

/// The files under `/console/assets/`.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../console/console.css"),
    },
    Asset { name: "app.js", content_type: JS, body: include_str!("../../console/app.js") },
    Asset { name: "api.js", content_type: JS, body: include_str!("../../console/api.js") },
    Asset { name: "runs.js", content_type: JS, body: include_str!("../../console/runs.js") },
    Asset { name: "run.js", content_type: JS, body: include_str!("../../console/run.js") },
    Asset { name: "events.js", content_type: JS, body: include_str!("../../console/events.js") },
    Asset { name: "workflows.js", content_type: JS, body: include_str!("../../console/workflows.js") },
    Asset { name: "overview.js", content_type: JS, body: include_str!("../../console/overview.js") },
    Asset { name: "connections.js", content_type: JS, body: include_str!("../../console/connections.js") },
];

/// Every embedded file with its name, the two pages included (for the test
/// that looks for URLs to other hosts).
pub fn all() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("index.html", INDEX), ("login.html", LOGIN)];
    v.extend(ASSETS.iter().map(|a| (a.name, a.body)));
    v
}

/// The asset with this name.
pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}
