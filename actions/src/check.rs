//! Connection checks shared by the connectors: an [`ActionError`] from a
//! cheap authenticated read turned into the [`FailureClass`] a user acts on
//! (auth, permission, network, TLS, timeout, config).

use reqflow_engine::action::ActionError;
use reqflow_engine::connection::{CheckFailure, FailureClass};
use serde_json::Value;

/// The class of a failed read, from the error's code, status and message.
pub fn classify(e: &ActionError) -> FailureClass {
    let code = e.code.as_deref().unwrap_or("");
    let status = e.details.as_ref().and_then(|d| d.get("status")).and_then(Value::as_u64);
    let lower = e.message.to_ascii_lowercase();
    let tls = ["certificate", "tls", "handshake", "unknownissuer", "invalidcertificate"];
    match code {
        "http.timeout" | "timeout" => FailureClass::Timeout,
        "http.connect" | "http.network" if tls.iter().any(|t| lower.contains(t)) => FailureClass::Tls,
        "http.connect" | "http.network" => FailureClass::Network,
        "connection.invalid"
        | "http.invalid_request"
        | "workday.not_connected"
        | "state.no_key"
        | "state.undecryptable" => FailureClass::Config,
        "soap.authentication_error" | "workable.unauthorized" | "workday.unauthorized" => FailureClass::Auth,
        "workable.forbidden" | "workday.forbidden" => FailureClass::Permission,
        "workday.oauth" => match status {
            Some(400 | 401 | 403) => FailureClass::Auth,
            _ => FailureClass::Unexpected,
        },
        _ => match status {
            Some(401) => FailureClass::Auth,
            Some(403) => FailureClass::Permission,
            _ => FailureClass::Unexpected,
        },
    }
}

/// The check failure for an error.
pub fn failure(e: ActionError) -> CheckFailure {
    CheckFailure::new(classify(&e), e.message)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn codes_and_statuses_map_to_classes() {
        let e = |code: &str, status: Option<u64>| {
            let e = ActionError::permanent("x").with_code(code);
            match status {
                Some(s) => e.with_details(json!({"status": s})),
                None => e,
            }
        };
        assert_eq!(classify(&e("http.timeout", None)), FailureClass::Timeout);
        assert_eq!(classify(&e("http.connect", None)), FailureClass::Network);
        let tls = ActionError::retryable("GET https://x/: cannot connect (invalid peer certificate: UnknownIssuer)")
            .with_code("http.connect");
        assert_eq!(classify(&tls), FailureClass::Tls);
        assert_eq!(classify(&e("workday.oauth", Some(400))), FailureClass::Auth);
        assert_eq!(classify(&e("workday.oauth", Some(503))), FailureClass::Unexpected);
        assert_eq!(classify(&e("http.401", Some(401))), FailureClass::Auth);
        assert_eq!(classify(&e("http.403", Some(403))), FailureClass::Permission);
        assert_eq!(classify(&e("http.500", Some(500))), FailureClass::Unexpected);
        assert_eq!(classify(&e("workday.not_connected", None)), FailureClass::Config);
    }
}
