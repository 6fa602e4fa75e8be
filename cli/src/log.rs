//! runc's log output: text or JSON lines with `level`, `msg` and `time`.

use std::io::Write as _;
use std::path::Path;

/// Where messages go: stderr always for errors, and the `--log` file if given.
pub struct Logger {
    file: Option<std::fs::File>,
    json: bool,
    debug: bool,
}

impl Logger {
    /// A logger for runc's `--log`, `--log-format` and `--debug` flags; the log file is kept
    /// clear of the `passed` fds from 3 on that the command hands to a container.
    pub fn new(path: Option<&Path>, format: &str, debug: bool, passed: u32) -> Logger {
        let file = path
            .and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok())
            .and_then(|f| runtime_core::keep_clear_of_passed_fds(f.into(), passed).ok())
            .map(std::fs::File::from);
        Logger {
            file,
            json: format == "json",
            debug,
        }
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = runtime_core::state::now_rfc3339();
        if self.json {
            serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
        } else {
            format!("time={time:?} level={level} msg={msg:?}")
        }
    }

    /// Logs a debug message when `--debug` is set.
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg, false);
        }
    }

    /// Logs a warning (a failed poststart or poststop hook, an ignored spec field), to stderr as well.
    pub fn warn(&self, msg: &str) {
        self.write("warning", msg, true);
    }

    /// Logs an error, to stderr as well.
    pub fn error(&self, msg: &str) {
        self.write("error", msg, true);
    }

    fn write(&self, level: &str, msg: &str, stderr: bool) {
        let line = self.line(level, msg);
        if let Some(mut f) = self.file.as_ref() {
            let _ = writeln!(f, "{line}");
        }
        if stderr || (self.file.is_none() && self.debug) {
            match level {
                "warning" => eprintln!("ocirun: warning: {msg}"),
                _ => eprintln!("ocirun: {msg}"),
            }
        }
    }
}
