//! Opening a URL in the user's browser (the OAuth authorize URL of `reqflow
//! connect`): `xdg-open` (Linux, BSD), `open` (macOS), Windows' URL handler.
//! Only on an interactive terminal with a display, never in CI, unless asked.

use std::io::IsTerminal;
use std::process::{Command, Stdio};

/// Whether a person is at this terminal with a browser to open: stdin and
/// stderr are terminals, `CI` is not set and, outside macOS and Windows, a
/// display (`DISPLAY` or `WAYLAND_DISPLAY`) is there — so a text browser never
/// takes over the terminal the command is waiting in.
pub(crate) fn interactive() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let display = cfg!(any(target_os = "macos", windows)) || set("DISPLAY") || set("WAYLAND_DISPLAY");
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !set("CI") && display
}

/// Starts the platform's URL opener on `url` without waiting for it (it is
/// reaped on a thread); answers the program used.
pub(crate) fn open(url: &str) -> std::io::Result<&'static str> {
    // Windows: not `cmd /c start`, whose parser would split the URL at `&`.
    let (program, args): (&'static str, &[&str]) = if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(windows) {
        ("rundll32", &["url.dll,FileProtocolHandler"])
    } else {
        ("xdg-open", &[])
    };
    let mut child = Command::new(program)
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::spawn(move || child.wait());
    Ok(program)
}
