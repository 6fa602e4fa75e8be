//! regex-lite's `Regex`, `RegexBuilder` and friends under the `regex` crate's name.
//!
//! The syntax is regex's, without Unicode classes: `\d`, `\w` and `\s` are ASCII only and
//! `\p{..}` is refused. What our dependencies match with it is ASCII: oci-spec's
//! `process.execCPUAffinity` check (`^(\d+(-\d+)?)(,\d+(-\d+)?)*$`, CPU numbers that the
//! kernel's cpulist parser also reads as ASCII) and criterion's benchmark filter.

pub use regex_lite::*;

#[cfg(test)]
mod tests {
    use super::Regex;

    #[test]
    fn oci_spec_cpu_list_pattern_accepts_cpu_lists_only() {
        let re = Regex::new(r"^(\d+(-\d+)?)(,\d+(-\d+)?)*$").unwrap();
        for ok in ["0", "0-3", "0-3,5", "1,2,7-9"] {
            assert!(re.is_match(ok), "{ok}");
        }
        // "٣" is an Arabic-Indic three: a Unicode digit, which no cpulist parser reads.
        for bad in ["", "1-x", ",1", "1,", "1--2", "٣", "0-3 "] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }
}
