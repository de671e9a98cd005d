//! `reqflow sandbox`: the Workable and Workday emulator (`reqflow-sandbox`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `reqflow sandbox`.
#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// JSON file that keeps the sandbox's data across restarts (created when missing).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Do not enforce Workable's rate limits (10 requests per 10 s per account token): for load
    /// tests, with `rate_limit: none` on the workflow's `workable` connection.
    #[arg(long)]
    pub no_rate_limit: bool,
}

/// Runs the sandbox until interrupted.
pub fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    eprintln!(
        "reqflow sandbox on http://{}: Workable at /spi/v3, Workday at /ccx/service/acme/Recruiting/{{version}}, control at /_sandbox{}",
        args.listen,
        if args.no_rate_limit { " (Workable rate limits off)" } else { "" }
    );
    let opts =
        reqflow_sandbox::Options { listen: args.listen, state_file: args.state, rate_limit: !args.no_rate_limit };
    runtime.block_on(reqflow_sandbox::serve(opts)).context("sandbox")
}
