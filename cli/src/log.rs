//! runc's log output: text or JSON lines with `level`, `msg` and `time`.

use std::io::Write as _;
use std::path::Path;

/// Where messages go, as runc sends them: with `--log`, every message to the file as a log line
/// and errors to stderr as plain text too; without it, to stderr, as log lines when
/// `--log-format` is given (what a client that parses them asks for), else as `ocirun: ...`.
pub struct Logger {
    file: Option<std::fs::File>,
    json: bool,
    /// Whether stderr gets log lines (`--log-format` given and no `--log`).
    stderr_lines: bool,
    debug: bool,
}

impl Logger {
    /// A logger for runc's `--log`, `--log-format` and `--debug` flags; `format_given` says
    /// whether `--log-format` was on the command line. The log file is kept clear of the
    /// `passed` fds from 3 on that the command hands to a container.
    pub fn new(path: Option<&Path>, format: &str, format_given: bool, debug: bool, passed: u32) -> Logger {
        let file = path
            .and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok())
            .and_then(|f| runtime_core::keep_clear_of_passed_fds(f.into(), passed).ok())
            .map(std::fs::File::from);
        Logger {
            stderr_lines: file.is_none() && format_given,
            file,
            json: format == "json",
            debug,
        }
    }

    /// One log line in runc's (logrus's) text or JSON form.
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
            self.write("debug", msg);
        }
    }

    /// Logs a warning (a failed poststart or poststop hook, an ignored spec field).
    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    /// Logs an error; it reaches stderr in every case.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    fn write(&self, level: &str, msg: &str) {
        if let Some(mut f) = self.file.as_ref() {
            let _ = writeln!(f, "{}", self.line(level, msg));
            // runc's fatal(): the error goes to stderr as well, as plain text.
            if level == "error" {
                eprintln!("{msg}");
            }
        } else if self.stderr_lines {
            eprintln!("{}", self.line(level, msg));
        } else if level == "error" {
            eprintln!("ocirun: {msg}");
        } else {
            eprintln!("ocirun: {level}: {msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Logger;

    #[test]
    fn log_lines_are_logrus_lines() {
        let text = Logger::new(None, "text", true, false, 0).line("error", "container does not exist: \"x\"");
        assert!(text.starts_with("time=\""), "{text}");
        assert!(
            text.ends_with(r#" level=error msg="container does not exist: \"x\"""#),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&Logger::new(None, "json", true, false, 0).line("error", "gone")).unwrap();
        assert_eq!(
            (json["level"].as_str(), json["msg"].as_str()),
            (Some("error"), Some("gone"))
        );
    }
}
