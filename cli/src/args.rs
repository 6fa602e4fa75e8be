//! runc's command-line syntax, parsed by hand from static tables.
//!
//! The grammar is Go's `flag` package as runc's urfave/cli uses it: `--name value`,
//! `--name=value`, `-name value` (one dash works for long names too), `-n value` for the short
//! ones, and `--flag=false` for booleans. Global flags come before the command (and are also
//! taken after it); a command's flags may follow its positionals, except for `exec` and `ps`,
//! whose flags end at the container id because what follows is the process's own command line.
//! `--` ends the flags. The tables also print `--help`.
//!
//! A table instead of clap: clap builds its whole command tree on every start, which took about
//! 0.5 ms (mostly page faults on its code) of a 7 ms `ocirun run`, and was a tenth of the binary.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;

/// One flag: its long name, its one-letter short name, and the name of its value (None: a switch).
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The long name, without dashes.
    pub long: &'static str,
    /// Other long names it answers to.
    pub aliases: &'static [&'static str],
    /// The one-letter name, if any.
    pub short: Option<char>,
    /// What the value is, for `--help`; None for a switch.
    pub value: Option<&'static str>,
    /// One line for `--help`.
    pub help: &'static str,
}

impl Flag {
    /// A switch: `--name`, `--name=true|false`.
    pub const fn switch(long: &'static str, short: Option<char>, help: &'static str) -> Flag {
        Flag {
            long,
            aliases: &[],
            short,
            value: None,
            help,
        }
    }

    /// A flag that takes a value.
    pub const fn value(long: &'static str, short: Option<char>, value: &'static str, help: &'static str) -> Flag {
        Flag {
            long,
            aliases: &[],
            short,
            value: Some(value),
            help,
        }
    }

    fn answers_to(&self, name: &str) -> bool {
        self.long == name
            || self.aliases.contains(&name)
            || (name.chars().count() == 1 && self.short == name.chars().next())
    }
}

/// One command: its name, what it takes, and its flags.
#[derive(Debug)]
pub struct CommandSpec {
    /// The command's name.
    pub name: &'static str,
    /// The positionals, for `--help` (`"<id> [signal]"`).
    pub usage: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// Flags it shares with other commands (create's with run), listed first.
    pub shared: &'static [Flag],
    /// Its own flags.
    pub flags: &'static [Flag],
    /// Flags end at the first positional (exec, ps: the rest is another program's command line).
    pub flags_end_at_first_positional: bool,
}

/// The flags every command takes, before the command or after it.
pub const GLOBAL: &[Flag] = &[
    Flag::value("root", None, "dir", "Root directory for the state of containers."),
    Flag::value("log", None, "file", "Log file; errors are also printed to stderr."),
    Flag::value(
        "log-format",
        None,
        "text|json",
        "Log format (default text); given without --log, stderr gets log lines too.",
    ),
    Flag::switch("debug", None, "Log debug messages too."),
    Flag::switch("systemd-cgroup", None, "Use systemd to manage cgroups."),
    Flag::value(
        "rootless",
        None,
        "true|false|auto",
        "Rootless mode (default auto: when not root or in a user namespace).",
    ),
    Flag::value(
        "criu",
        None,
        "path",
        "The CRIU binary for checkpoint and restore (default criu).",
    ),
];

/// What the command line asked for.
#[derive(Debug)]
pub enum Parsed {
    /// `--version`.
    Version,
    /// `--help` or `help`: the text to print.
    Help(String),
    /// A command to run: its table, the global flags and its own matches.
    Command {
        /// The command's table entry.
        spec: &'static CommandSpec,
        /// The global flags.
        global: Matches,
        /// The command's flags and positionals.
        matches: Matches,
    },
}

/// A command-line mistake, named for the user.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> Usage {
    Usage(msg.into())
}

/// The flags and positionals one command was given.
#[derive(Debug, Default)]
pub struct Matches {
    /// The command's name, for errors ("" for the globals).
    command: &'static str,
    flags: Vec<(&'static str, Option<OsString>)>,
    /// The positionals, in order.
    pub positionals: Vec<OsString>,
}

impl Matches {
    fn flag_name(&self, long: &str) -> String {
        if self.command.is_empty() {
            format!("--{long}")
        } else {
            format!("{} --{long}", self.command)
        }
    }

    /// Whether a switch is on: given bare or `=true`, the last one winning.
    pub fn switch(&self, long: &str) -> bool {
        self.flags
            .iter()
            .rev()
            .find(|(l, _)| *l == long)
            .is_some_and(|(_, v)| v.as_deref() != Some(OsStr::new("false")))
    }

    /// The last value of a flag.
    pub fn os(&self, long: &str) -> Option<&OsStr> {
        self.flags
            .iter()
            .rev()
            .find(|(l, _)| *l == long)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The last value of a flag, as a path.
    pub fn path(&self, long: &str) -> Option<PathBuf> {
        self.os(long).map(PathBuf::from)
    }

    /// Every value of a repeatable flag, in order, as UTF-8.
    pub fn strings(&self, long: &str) -> Result<Vec<String>, Usage> {
        self.flags
            .iter()
            .filter(|(l, _)| *l == long)
            .filter_map(|(_, v)| v.as_deref())
            .map(|v| self.utf8(long, v))
            .collect()
    }

    /// The last value of a flag, as UTF-8.
    pub fn string(&self, long: &str) -> Result<Option<String>, Usage> {
        self.os(long).map(|v| self.utf8(long, v)).transpose()
    }

    /// The last value of a flag, parsed.
    pub fn parse<T: FromStr>(&self, long: &str) -> Result<Option<T>, Usage>
    where
        T::Err: std::fmt::Display,
    {
        self.string(long)?.map(|s| self.parse_str(long, &s)).transpose()
    }

    /// Every value of a repeatable flag, parsed.
    pub fn parse_all<T: FromStr>(&self, long: &str) -> Result<Vec<T>, Usage>
    where
        T::Err: std::fmt::Display,
    {
        self.strings(long)?.iter().map(|s| self.parse_str(long, s)).collect()
    }

    /// The last value of a flag that must be one of `choices`, or `default`.
    pub fn choice(&self, long: &str, choices: &[&'static str], default: &'static str) -> Result<&'static str, Usage> {
        match self.string(long)? {
            None => Ok(default),
            Some(v) => choices.iter().copied().find(|c| *c == v).ok_or_else(|| {
                usage(format!(
                    "invalid value {v:?} for {}: expected one of {}",
                    self.flag_name(long),
                    choices.join(", ")
                ))
            }),
        }
    }

    fn parse_str<T: FromStr>(&self, long: &str, s: &str) -> Result<T, Usage>
    where
        T::Err: std::fmt::Display,
    {
        s.parse()
            .map_err(|e| usage(format!("invalid value {s:?} for {}: {e}", self.flag_name(long))))
    }

    fn utf8(&self, long: &str, v: &OsStr) -> Result<String, Usage> {
        v.to_str()
            .map(str::to_owned)
            .ok_or_else(|| usage(format!("invalid value {v:?} for {}: not UTF-8", self.flag_name(long))))
    }

    /// Positional `index`, which the command requires; `what` names it in the error.
    pub fn required(&self, index: usize, what: &str) -> Result<String, Usage> {
        self.optional(index, what)?
            .ok_or_else(|| usage(format!("{}: missing {what}", self.command)))
    }

    /// Positional `index`, if given; `what` names it in the error.
    pub fn optional(&self, index: usize, what: &str) -> Result<Option<String>, Usage> {
        self.positionals
            .get(index)
            .map(|v| {
                v.to_str()
                    .map(str::to_owned)
                    .ok_or_else(|| usage(format!("{}: the {what} {v:?} is not UTF-8", self.command)))
            })
            .transpose()
    }

    /// Fails if more than `n` positionals were given.
    pub fn at_most(&self, n: usize) -> Result<(), Usage> {
        match self.positionals.get(n) {
            Some(extra) => Err(usage(format!("{}: unexpected argument {extra:?}", self.command))),
            None => Ok(()),
        }
    }
}

/// A flag as written: its name (without dashes) and an `=value`, if any.
fn split_flag(arg: &str) -> Option<(&str, Option<&str>)> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    if body.is_empty() || body.starts_with('-') {
        return None;
    }
    Some(match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    })
}

/// Takes one flag (`arg`, already known to look like one) into `into`, pulling its value from
/// `rest` when it needs one. Returns false when `table` has no such flag.
fn take_flag(
    table: &'static [Flag],
    into: &mut Matches,
    arg: &str,
    rest: &mut impl Iterator<Item = OsString>,
) -> Result<bool, Usage> {
    let Some((name, inline)) = split_flag(arg) else {
        return Ok(false);
    };
    let Some(flag) = table.iter().find(|f| f.answers_to(name)) else {
        return Ok(false);
    };
    let value = match (flag.value, inline) {
        (None, None) => None,
        (None, Some(v)) if v == "true" || v == "false" => Some(OsString::from(v)),
        (None, Some(v)) => {
            return Err(usage(format!(
                "invalid value {v:?} for switch {arg}: expected true or false"
            )));
        }
        (Some(_), Some(v)) => Some(OsString::from(v)),
        (Some(_), None) => Some(
            rest.next()
                .ok_or_else(|| usage(format!("flag {arg} needs a value ({})", flag.value.unwrap_or_default())))?,
        ),
    };
    into.flags.push((flag.long, value));
    Ok(true)
}

/// Parses the arguments after the program name.
pub fn parse(
    commands: &'static [&'static CommandSpec],
    args: impl IntoIterator<Item = OsString>,
) -> Result<Parsed, Usage> {
    let mut args = args.into_iter();
    let mut global = Matches::default();
    let name = loop {
        let Some(arg) = args.next() else {
            return Ok(Parsed::Help(help_main(commands)));
        };
        let Some(text) = arg.to_str() else {
            return Err(usage(format!("unknown command {arg:?}")));
        };
        match text {
            "-v" | "--version" | "-version" => return Ok(Parsed::Version),
            "-h" | "--help" | "-help" => return Ok(Parsed::Help(help_main(commands))),
            _ if text.starts_with('-') => {
                if !take_flag(GLOBAL, &mut global, text, &mut args)? {
                    return Err(usage(format!("unknown global flag {text} (see ocirun --help)")));
                }
            }
            _ => break text.to_owned(),
        }
    };
    if name == "help" {
        return Ok(Parsed::Help(match args.next() {
            None => help_main(commands),
            Some(c) => help_command(lookup(commands, &c.to_string_lossy())?),
        }));
    }
    let spec = lookup(commands, &name)?;
    let mut matches = Matches {
        command: spec.name,
        ..Matches::default()
    };
    while let Some(arg) = args.next() {
        if spec.flags_end_at_first_positional && !matches.positionals.is_empty() {
            matches.positionals.push(arg);
            matches.positionals.extend(args.by_ref());
            break;
        }
        let text = arg.to_str().unwrap_or_default();
        if text == "--" {
            matches.positionals.extend(args.by_ref());
            break;
        }
        if text == "-" || !text.starts_with('-') {
            matches.positionals.push(arg);
            continue;
        }
        if matches!(text, "-h" | "--help" | "-help") {
            return Ok(Parsed::Help(help_command(spec)));
        }
        if !take_flag(spec.shared, &mut matches, text, &mut args)?
            && !take_flag(spec.flags, &mut matches, text, &mut args)?
            && !take_flag(GLOBAL, &mut global, text, &mut args)?
        {
            return Err(usage(format!(
                "unknown flag {text} for {} (see ocirun {} --help)",
                spec.name, spec.name
            )));
        }
    }
    Ok(Parsed::Command { spec, global, matches })
}

fn lookup(commands: &'static [&'static CommandSpec], name: &str) -> Result<&'static CommandSpec, Usage> {
    commands
        .iter()
        .copied()
        .find(|c| c.name == name)
        .ok_or_else(|| usage(format!("unknown command {name:?} (see ocirun --help)")))
}

fn flag_lines(out: &mut String, flags: &[Flag]) {
    let left = |f: &Flag| {
        let short = f.short.map(|c| format!("-{c}, ")).unwrap_or_else(|| "    ".to_owned());
        let value = f.value.map(|v| format!(" <{v}>")).unwrap_or_default();
        format!("{short}--{}{value}", f.long)
    };
    let width = flags.iter().map(|f| left(f).len()).max().unwrap_or(0);
    for f in flags {
        let _ = writeln!(out, "  {:<width$}  {}", left(f), f.help);
    }
}

fn help_main(commands: &[&CommandSpec]) -> String {
    let mut out = String::from(
        "ocirun: a fast, embeddable OCI container runtime with runc's command line.\n\n\
         Usage: ocirun [global flags] <command> [flags] [arguments]\n\nCommands:\n",
    );
    let width = commands.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in commands {
        let _ = writeln!(out, "  {:<width$}  {}", c.name, c.about);
    }
    out.push_str("\nGlobal flags:\n");
    let mut flags = GLOBAL.to_vec();
    flags.push(Flag::switch("version", Some('v'), "Print the version."));
    flags.push(Flag::switch("help", Some('h'), "Print this help."));
    flag_lines(&mut out, &flags);
    out.push_str("\n`ocirun <command> --help` describes a command.\n");
    out
}

fn help_command(spec: &CommandSpec) -> String {
    let mut out = format!("Usage: ocirun {} [flags] {}\n\n{}\n", spec.name, spec.usage, spec.about);
    let flags = [spec.shared, spec.flags].concat();
    if !flags.is_empty() {
        out.push_str("\nFlags:\n");
        flag_lines(&mut out, &flags);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary's entry (ocirun-exeseal) finds the command after the global flags before
    /// this parser runs: it must know each global flag, and which take a value.
    #[test]
    fn the_entry_knows_every_global_flag() {
        for flag in GLOBAL {
            for name in std::iter::once(flag.long).chain(flag.aliases.iter().copied()) {
                let long = format!("--{name}");
                let args: Vec<&[u8]> = match flag.value {
                    Some(_) => vec![long.as_bytes(), b"run", b"run"],
                    None => vec![long.as_bytes(), b"run"],
                };
                assert!(
                    ocirun_exeseal::runs_container_process(&args),
                    "{long} unknown to the entry"
                );
                if flag.value.is_some() {
                    assert!(
                        !ocirun_exeseal::runs_container_process(&args[..2]),
                        "{long} takes a value"
                    );
                }
            }
        }
    }

    const RUN: CommandSpec = CommandSpec {
        name: "run",
        usage: "<id>",
        about: "Run.",
        shared: &[],
        flags: &[
            Flag::value("bundle", Some('b'), "dir", "The bundle."),
            Flag::switch("detach", Some('d'), "Detach."),
            Flag {
                long: "cpu-share",
                aliases: &["cpu-shares"],
                short: None,
                value: Some("n"),
                help: "Shares.",
            },
        ],
        flags_end_at_first_positional: false,
    };
    const EXEC: CommandSpec = CommandSpec {
        name: "exec",
        usage: "<id> <command>",
        about: "Exec.",
        shared: &[],
        flags: &[
            Flag::switch("tty", Some('t'), "A tty."),
            Flag::value("env", Some('e'), "k=v", "Env."),
        ],
        flags_end_at_first_positional: true,
    };
    const COMMANDS: &[&CommandSpec] = &[&RUN, &EXEC];

    fn parse_args(args: &[&str]) -> Result<Parsed, Usage> {
        parse(COMMANDS, args.iter().map(OsString::from))
    }

    fn command(args: &[&str]) -> (Matches, Matches) {
        match parse_args(args).unwrap() {
            Parsed::Command { global, matches, .. } => (global, matches),
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn go_flag_forms_all_give_the_value() {
        for args in [
            &["run", "--bundle", "/b", "id"][..],
            &["run", "--bundle=/b", "id"],
            &["run", "-bundle", "/b", "id"],
            &["run", "-b", "/b", "id"],
            &["run", "id", "-b", "/b"],
            &["run", "-b=/b", "id"],
        ] {
            let (_, m) = command(args);
            assert_eq!(m.path("bundle"), Some(PathBuf::from("/b")), "{args:?}");
            assert_eq!(m.required(0, "container id").unwrap(), "id", "{args:?}");
            m.at_most(1).unwrap();
        }
    }

    #[test]
    fn globals_go_before_or_after_the_command() {
        let (g, m) = command(&["--root", "/r", "run", "--debug", "-d", "id", "--log-format=json"]);
        assert_eq!(g.path("root"), Some(PathBuf::from("/r")));
        assert!(g.switch("debug"));
        assert_eq!(g.choice("log-format", &["text", "json"], "text").unwrap(), "json");
        assert!(m.switch("detach"));
        assert!(!m.switch("bundle"));
    }

    #[test]
    fn switches_take_true_or_false_and_the_last_one_wins() {
        let (_, m) = command(&["run", "--detach", "--detach=false", "id"]);
        assert!(!m.switch("detach"));
        let (_, m) = command(&["run", "-d=true", "id"]);
        assert!(m.switch("detach"));
        let err = parse_args(&["run", "--detach=maybe", "id"]).unwrap_err();
        assert!(err.0.contains("--detach=maybe"), "{err}");
    }

    #[test]
    fn aliases_and_negative_values() {
        let (_, m) = command(&["run", "--cpu-shares", "-1", "id"]);
        assert_eq!(m.parse::<i64>("cpu-share").unwrap(), Some(-1));
        let err = m.parse::<u64>("cpu-share").unwrap_err();
        assert!(err.0.contains("run --cpu-share") && err.0.contains("\"-1\""), "{err}");
    }

    #[test]
    fn exec_flags_end_at_the_container_id() {
        let (_, m) = command(&[
            "exec", "-t", "--env", "A=1", "-e=B=2", "id", "sh", "-c", "--tty", "--", "x",
        ]);
        assert!(m.switch("tty"));
        assert_eq!(m.strings("env").unwrap(), ["A=1", "B=2"]);
        assert_eq!(m.positionals, ["id", "sh", "-c", "--tty", "--", "x"]);
    }

    #[test]
    fn double_dash_ends_the_flags() {
        let (_, m) = command(&["run", "--", "-d"]);
        assert!(!m.switch("detach"));
        assert_eq!(m.required(0, "container id").unwrap(), "-d");
    }

    #[test]
    fn mistakes_are_named() {
        for (args, needle) in [
            (&["run", "--nope", "id"][..], "unknown flag --nope for run"),
            (&["--nope", "run"], "unknown global flag --nope"),
            (&["frobnicate"], "unknown command \"frobnicate\""),
            (&["run", "id", "--bundle"], "flag --bundle needs a value"),
        ] {
            let err = parse_args(args).unwrap_err();
            assert!(err.0.contains(needle), "{args:?}: {err}");
        }
        let (_, m) = command(&["run"]);
        assert!(
            m.required(0, "container id")
                .unwrap_err()
                .0
                .contains("run: missing container id")
        );
        let (_, m) = command(&["run", "a", "b"]);
        assert!(m.at_most(1).unwrap_err().0.contains("unexpected argument \"b\""));
    }

    #[test]
    fn version_and_help() {
        assert!(matches!(parse_args(&["-v"]).unwrap(), Parsed::Version));
        assert!(matches!(parse_args(&["--version"]).unwrap(), Parsed::Version));
        let Parsed::Help(main) = parse_args(&["--help"]).unwrap() else {
            panic!("no help")
        };
        assert!(
            main.contains("  run   Run.") && main.contains("    --root <dir>"),
            "{main}"
        );
        assert!(main.contains("  -v, --version  "), "{main}");
        let Parsed::Help(run) = parse_args(&["run", "--help"]).unwrap() else {
            panic!("no help")
        };
        assert!(
            run.contains("-b, --bundle <dir>") && run.contains("-d, --detach"),
            "{run}"
        );
        let Parsed::Help(exec) = parse_args(&["help", "exec"]).unwrap() else {
            panic!("no help")
        };
        assert!(exec.starts_with("Usage: ocirun exec [flags] <id> <command>"), "{exec}");
    }
}
