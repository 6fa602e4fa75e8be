//! The parser of `/proc/<pid>/mountinfo` lines (proc_pid_mountinfo(5)), the one every crate
//! uses. Runs in the parent.
//!
//! A line is `id parent major:minor root mount-point options [optional...] - fstype source
//! super-options`; the paths escape a space, tab, newline and backslash as three octal digits
//! (`\040`, `\011`, `\012`, `\134`), so a separator is a plain space and the first ` - ` ends
//! the optional fields.

/// One line of mountinfo, borrowed from the text: the paths as they are written (escaped; see
/// [`unescape`]), the rest as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountLine<'a> {
    /// The mount id.
    pub id: u64,
    /// The parent mount's id.
    pub parent: u64,
    /// The root of the mount within its filesystem, escaped.
    pub root: &'a [u8],
    /// The mount point, relative to the reader's root, escaped.
    pub point: &'a [u8],
    /// The per-mount options (`rw,nosuid,relatime`).
    pub options: &'a [u8],
    /// The filesystem type (`proc`, `cgroup2`, ...).
    pub fstype: &'a [u8],
    /// The mount source, escaped.
    pub source: &'a [u8],
    /// The per-superblock options (`rw,cpu,cpuacct`).
    pub super_options: &'a [u8],
}

impl<'a> MountLine<'a> {
    /// Parses one line (without its newline); `None` for a line that lacks a field.
    pub fn parse(line: &'a [u8]) -> Option<MountLine<'a>> {
        let sep = line.windows(3).position(|w| w == b" - ")?;
        let (mount, fs) = (&line[..sep], &line[sep + 3..]);
        let mut fields = mount.split(|b| *b == b' ');
        let number = |f: &[u8]| std::str::from_utf8(f).ok()?.parse::<u64>().ok();
        let id = number(fields.next()?)?;
        let parent = number(fields.next()?)?;
        let _dev = fields.next()?;
        let root = fields.next()?;
        let point = fields.next()?;
        let options = fields.next()?;
        let mut fs = fs.split(|b| *b == b' ');
        Some(MountLine {
            id,
            parent,
            root,
            point,
            options,
            fstype: fs.next()?,
            source: fs.next()?,
            super_options: fs.next()?,
        })
    }

    /// The mount point, unescaped.
    pub fn mount_point(&self) -> Vec<u8> {
        unescape(self.point)
    }

    /// The mount's root within its filesystem, unescaped.
    pub fn mount_root(&self) -> Vec<u8> {
        unescape(self.root)
    }
}

/// The lines of a mountinfo text that parse, in order.
pub fn lines(text: &[u8]) -> impl Iterator<Item = MountLine<'_>> {
    text.split(|b| *b == b'\n').filter_map(MountLine::parse)
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a backslash, ...); a
/// backslash not followed by three octal digits stays as it is.
pub fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while let Some(&b) = field.get(i) {
        if b == b'\\'
            && let Some(digits) = field.get(i + 1..i + 4)
            && digits.iter().all(|d| (b'0'..=b'7').contains(d))
        {
            out.push(digits.iter().fold(0u8, |n, d| n.wrapping_mul(8).wrapping_add(d - b'0')));
            i += 4;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_optional_fields_and_escapes_is_parsed() {
        let line = b"99 31 0:32 /sub\\134d /mnt/mem\\040x rw,relatime shared:4 master:1 - cgroup my\\040src rw,memory";
        let m = MountLine::parse(line).unwrap();
        assert_eq!((m.id, m.parent), (99, 31));
        assert_eq!(m.mount_point(), b"/mnt/mem x");
        assert_eq!(m.mount_root(), b"/sub\\d");
        assert_eq!(m.options, b"rw,relatime");
        assert_eq!(m.fstype, b"cgroup");
        assert_eq!(unescape(m.source), b"my src");
        assert_eq!(m.super_options, b"rw,memory");
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let text = b"1 0 0:1 / / rw - ext4 /dev/sda rw\n\nnot a line\n2 1 0:2 / /proc rw - proc\nx 1 0:3 / /a rw - tmpfs t rw\n3 1 0:4 / /b rw - tmpfs t rw\n";
        let ids: Vec<u64> = lines(text).map(|m| m.id).collect();
        assert_eq!(ids, [1, 3]);
    }

    #[test]
    fn unescape_keeps_a_backslash_without_octal_digits() {
        assert_eq!(unescape(b"a\\040b"), b"a b");
        assert_eq!(unescape(b"a\\09b\\"), b"a\\09b\\");
        assert_eq!(unescape(b"\\011\\012\\134"), b"\t\n\\");
    }

    #[test]
    fn this_process_s_mountinfo_has_its_root() {
        let text = std::fs::read("/proc/self/mountinfo").unwrap();
        assert!(lines(&text).any(|m| m.mount_point() == b"/"));
    }
}
