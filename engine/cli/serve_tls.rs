//! `reqflow serve`'s TLS flags and what they mean for each listener:
//! - `--tls-cert/--tls-key`: the public listener serves HTTPS only (and so do
//!   the admin routes with `--admin-listen same`);
//! - `--admin-tls-cert/--admin-tls-key`: the admin listener serves HTTPS
//!   only. Without them it stays plaintext, whatever the public listener
//!   does (it is meant for loopback or a private network); with
//!   `--admin-listen same` they are refused (the public listener's TLS applies).
//!
//! A certificate without its key (or the reverse), an unreadable file or one
//! that is not PEM stops the start with a message naming the flag or the file.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use reqflow_server::edge::TlsConfig;

use crate::serve::AdminListen;

/// TLS of the two listeners (PEM files, read once at start: a renewed
/// certificate takes a restart).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct TlsArgs {
    /// Serve the public listener over HTTPS with this certificate chain (PEM, leaf first). Needs
    /// --tls-key. With `--admin-listen same` the admin routes share it. See docs/deploy.md.
    #[arg(long, env = "REQFLOW_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "REQFLOW_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Serve the admin listener over HTTPS with this certificate chain (PEM). Needs
    /// --admin-tls-key. Without it the admin listener is plaintext (keep it on loopback or a
    /// private network), even when the public one has TLS.
    #[arg(long, env = "REQFLOW_ADMIN_TLS_CERT", value_name = "FILE")]
    admin_tls_cert: Option<PathBuf>,
    /// The private key of --admin-tls-cert (PEM).
    #[arg(long, env = "REQFLOW_ADMIN_TLS_KEY", value_name = "FILE")]
    admin_tls_key: Option<PathBuf>,
}

/// The TLS settings of the public and the admin listener (`None`: plaintext).
pub(crate) struct ListenerTls {
    pub public: Option<TlsConfig>,
    pub admin: Option<TlsConfig>,
}

impl TlsArgs {
    /// Checks the flags together and loads the files.
    pub(crate) fn load(&self, admin_listen: AdminListen) -> anyhow::Result<ListenerTls> {
        let public = pair(&self.tls_cert, &self.tls_key, "--tls-cert", "--tls-key")?;
        let admin = pair(&self.admin_tls_cert, &self.admin_tls_key, "--admin-tls-cert", "--admin-tls-key")?;
        if admin.is_some() && matches!(admin_listen, AdminListen::Same) {
            bail!(
                "--admin-tls-cert/--admin-tls-key do not apply with `--admin-listen same`: the admin routes are \
                 served by the public listener, with its TLS (--tls-cert/--tls-key)"
            );
        }
        let load = |(cert, key): (&PathBuf, &PathBuf), flags: &str| {
            TlsConfig::from_pem_files(cert, key).with_context(|| format!("cannot set up TLS ({flags})"))
        };
        Ok(ListenerTls {
            public: public.map(|p| load(p, "--tls-cert/--tls-key")).transpose()?,
            admin: admin.map(|p| load(p, "--admin-tls-cert/--admin-tls-key")).transpose()?,
        })
    }
}

/// Both files of a pair, neither, or an error naming the missing one.
fn pair<'a>(
    cert: &'a Option<PathBuf>,
    key: &'a Option<PathBuf>,
    cert_flag: &str,
    key_flag: &str,
) -> anyhow::Result<Option<(&'a PathBuf, &'a PathBuf)>> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Some((c, k))),
        (None, None) => Ok(None),
        (Some(_), None) => {
            bail!("{cert_flag} is given but {key_flag} is missing: TLS needs the certificate and its private key")
        }
        (None, Some(_)) => {
            bail!("{key_flag} is given but {cert_flag} is missing: TLS needs the certificate and its private key")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_half_names_the_missing_flag() {
        let args = TlsArgs { tls_key: Some("k.pem".into()), ..TlsArgs::default() };
        let msg = format!("{:#}", args.load(AdminListen::Same).err().expect("refused"));
        assert!(msg.contains("--tls-key is given but --tls-cert is missing"), "{msg}");
        let args = TlsArgs { admin_tls_cert: Some("c.pem".into()), ..TlsArgs::default() };
        let msg = format!("{:#}", args.load(AdminListen::Same).err().expect("refused"));
        assert!(msg.contains("--admin-tls-key is missing"), "{msg}");
    }

    #[test]
    fn admin_tls_with_a_shared_listener_is_refused() {
        let args =
            TlsArgs { admin_tls_cert: Some("c.pem".into()), admin_tls_key: Some("k.pem".into()), ..TlsArgs::default() };
        let msg = format!("{:#}", args.load(AdminListen::Same).err().expect("refused"));
        assert!(msg.contains("--admin-listen same"), "{msg}");
    }

    #[test]
    fn no_flags_is_plaintext() {
        let tls = TlsArgs::default().load(AdminListen::Same).expect("plaintext");
        assert!(tls.public.is_none() && tls.admin.is_none());
    }
}
