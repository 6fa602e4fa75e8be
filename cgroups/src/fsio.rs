//! Reading and writing cgroup files: one `write(2)` per value, as the kernel expects.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Result};

#[cfg(test)]
thread_local! {
    /// Every write made by this thread, in order, for the fake-tree tests.
    pub(crate) static WRITES: std::cell::RefCell<Vec<(PathBuf, String)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes `value` to `dir/file` in one `write(2)` call, opened `O_WRONLY|O_TRUNC` like runc.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, value).map_err(|source| CgroupError::Write {
        path,
        value: value.to_owned(),
        source,
    })
}

/// Writes `value` to `path`, returning the raw io error so callers can look at the errno.
pub(crate) fn write_path(path: &Path, value: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    let n = file.write(value.as_bytes())?;
    if n != value.len() {
        return Err(std::io::Error::new(ErrorKind::WriteZero, "short write"));
    }
    #[cfg(test)]
    WRITES.with(|w| w.borrow_mut().push((path.to_path_buf(), value.to_owned())));
    Ok(())
}

/// Reads `dir/file` to a string.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    read_path(&path).map_err(|source| CgroupError::Read { path, source })
}

/// Reads `dir/file`, `None` when it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match read_path(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read { path, source }),
    }
}

/// Reads a whole file. By hand rather than `read_to_string`, whose size probe (statx, lseek) and
/// small first reads are wasted system calls on cgroup and proc files, which report size 0.
pub(crate) fn read_path(path: &Path) -> std::io::Result<String> {
    let mut file = OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(path)?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(out).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

/// Parses a single unsigned number, "max" meaning `u64::MAX` (as runc reports it).
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64> {
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        content: s.to_owned(),
    })
}

/// Reads `dir/file` as one number ("max" is `u64::MAX`).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let s = read(dir, file)?;
    parse_u64(&dir.join(file), &s)
}

/// Reads `dir/file` as one number, 0 when the file does not exist.
pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<u64> {
    match read_opt(dir, file)? {
        Some(s) => parse_u64(&dir.join(file), &s),
        None => Ok(0),
    }
}

/// Reads a flat keyed file ("key value" per line) such as memory.stat or cpu.stat.
pub(crate) fn read_keyed(dir: &Path, file: &str) -> Result<Vec<(String, u64)>> {
    let Some(s) = read_opt(dir, file)? else {
        return Ok(Vec::new());
    };
    let path = dir.join(file);
    let mut out = Vec::new();
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(CgroupError::Parse {
                path,
                content: line.to_owned(),
            });
        };
        out.push((k.to_owned(), parse_u64(&path, v)?));
    }
    Ok(out)
}

/// Looks a key up in the output of [`read_keyed`].
pub(crate) fn key(list: &[(String, u64)], name: &str) -> u64 {
    list.iter().find(|(k, _)| k == name).map_or(0, |(_, v)| *v)
}

/// Whether `dir/file` exists.
pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// Joins a cgroup path ("/a/b") under a hierarchy directory.
pub(crate) fn join_cgroup(base: &Path, cgroup: &str) -> PathBuf {
    let rel = cgroup.trim_start_matches('/');
    if rel.is_empty() {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// Writes values to files of one directory, opening each file once and making one `write(2)`
/// per value: for files that take a list one entry per write (devices.allow, devices.deny).
pub(crate) struct Writer<'a> {
    dir: &'a Path,
    open: Vec<(&'static str, std::fs::File)>,
}

impl<'a> Writer<'a> {
    /// A writer for files of `dir`; nothing is opened yet.
    pub(crate) fn new(dir: &'a Path) -> Self {
        Writer { dir, open: Vec::new() }
    }

    /// Writes `value` to `file` for spec field `field`, naming the field in the error.
    pub(crate) fn set(&mut self, file: &'static str, value: &str, field: &'static str) -> Result<()> {
        let path = self.dir.join(file);
        let err = |source| CgroupError::Apply {
            field,
            path: path.clone(),
            value: value.to_owned(),
            source,
        };
        let f = match self.open.iter().position(|(name, _)| *name == file) {
            Some(i) => &mut self.open[i].1,
            None => {
                let f = OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&path)
                    .map_err(err)?;
                self.open.push((file, f));
                &mut self.open.last_mut().expect("pushed just above").1
            }
        };
        let n = f.write(value.as_bytes()).map_err(err)?;
        if n != value.len() {
            return Err(err(std::io::Error::new(ErrorKind::WriteZero, "short write")));
        }
        #[cfg(test)]
        WRITES.with(|w| w.borrow_mut().push((path.clone(), value.to_owned())));
        Ok(())
    }
}

/// Writes a value for spec field `field`, naming the field in the error.
pub(crate) fn set(dir: &Path, file: &str, value: &str, field: &'static str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, value).map_err(|source| CgroupError::Apply {
        field,
        path,
        value: value.to_owned(),
        source,
    })
}
