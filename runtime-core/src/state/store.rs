//! The store itself: one directory per container under the root, its lock, the atomic
//! writes of `state.json` and the spec, and the process checks a record is read with.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Record;
use crate::{Error, Result};

/// The file that names the rootfs bind of a container in the runtime's mount namespace.
const ROOT_BIND: &str = "rootfs-bind.json";

/// The rootfs bind a container that shares the runtime's mount namespace made there
/// ([`rootfs::HostRootBind`]), which the removal of its directory detaches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootBind {
    /// The rootfs the bind is on.
    rootfs: PathBuf,
    /// The bind's mount id.
    mount_id: u64,
}

/// The state store rooted at one directory (`--root`).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// One container's directory, locked for as long as this value lives.
#[derive(Debug)]
pub struct ContainerDir {
    id: String,
    path: PathBuf,
    _lock: File,
}

/// Whether `id` is one runc would accept.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
}

impl Store {
    /// A store rooted at `root`; nothing is created until a container is.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// Makes the directory of a new container, failing if the id is taken.
    pub fn create(&self, id: &str) -> Result<ContainerDir> {
        if !valid_id(id) {
            return Err(Error::InvalidId(id.to_string()));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|e| Error::io("create state root", &self.root, e))?;
        let path = self.root.join(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists(id.to_string()));
            }
            Err(e) => return Err(Error::io("create state directory", path, e)),
        }
        match lock(&path) {
            Ok(lock) => Ok(ContainerDir {
                id: id.to_string(),
                path,
                _lock: lock,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                Err(e)
            }
        }
    }

    /// Opens and locks the directory of an existing container.
    pub fn open(&self, id: &str) -> Result<ContainerDir> {
        if !valid_id(id) {
            return Err(Error::InvalidId(id.to_string()));
        }
        let path = self.root.join(id);
        let lock = lock(&path).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::NotFound(id.to_string())
            }
            e => e,
        })?;
        // A delete may have removed the directory while we waited for the lock.
        if !path.exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            _lock: lock,
        })
    }

    /// The record of container `id`, read without its lock (see the module doc): `state.json`
    /// is replaced by a rename, so a reader sees a whole record, the one before or after a
    /// write. [`Error::NotFound`] when there is none (never created, deleted, or a create
    /// that has not written it yet).
    pub fn read(&self, id: &str) -> Result<Record> {
        if !valid_id(id) {
            return Err(Error::InvalidId(id.to_string()));
        }
        load_record(&self.root.join(id), id)?.ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// The spec kept beside the record of container `id` ([`ContainerDir::save_spec`]), read
    /// without its lock: it is written once, before the record that names the container.
    pub fn read_spec(&self, id: &str) -> Result<oci_spec::runtime::Spec> {
        if !valid_id(id) {
            return Err(Error::InvalidId(id.to_string()));
        }
        load_spec(&self.root.join(id), id)
    }

    /// The directory of container `id`, whether or not it exists.
    pub fn dir_path(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The ids of all containers in the store, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list state root", &self.root, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| valid_id(id))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn lock(path: &Path) -> Result<File> {
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("open state directory", path, e))?;
    ocirun_sys::fs::flock(dir.as_fd(), libc::LOCK_EX).map_err(|e| Error::io("lock state directory", path, e))?;
    Ok(dir)
}

impl ContainerDir {
    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the exec fifo lives while the container is created and not started.
    pub fn fifo_path(&self) -> PathBuf {
        fifo_in(&self.path)
    }

    /// Reads state.json; `Ok(None)` if create never got as far as writing it.
    pub fn load(&self) -> Result<Option<Record>> {
        load_record(&self.path, &self.id)
    }

    /// Writes state.json atomically: a temp file renamed over it.
    pub fn save(&self, record: &Record) -> Result<()> {
        let bytes = serde_json::to_vec(record).map_err(|source| Error::State {
            id: self.id.clone(),
            source,
        })?;
        let tmp = self.path.join(".state.json.tmp");
        let file = self.path.join("state.json");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            // No fsync (as runc): the rename alone keeps readers from a half-written record
            // whenever this process dies, and after a host crash no container of the record
            // is alive anyway. On a disk-backed root, fdatasync cost 1-4 ms of every create.
            std::fs::rename(&tmp, &file)
        };
        write().map_err(|e| Error::io("write", &file, e))
    }

    /// Keeps the container's spec beside its state, for `exec` (runc keeps it in state.json).
    pub fn save_spec(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        self.write_new_json("config.json", spec)
    }

    /// Writes `value` as JSON into a new file `name` of this directory (0600; an existing one
    /// is an error: each of these files is written once).
    fn write_new_json(&self, name: &str, value: &impl serde::Serialize) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|source| Error::State {
            id: self.id.clone(),
            source,
        })?;
        let file = self.path.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&file)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(|e| Error::io("write", &file, e))
    }

    /// The spec [`save_spec`](Self::save_spec) kept.
    pub fn load_spec(&self) -> Result<oci_spec::runtime::Spec> {
        load_spec(&self.path, &self.id)
    }

    /// Records, before it is attached, the rootfs bind of a container that shares the
    /// runtime's mount namespace: whenever this directory is removed (delete, a failed create,
    /// `delete --force` after a killed create), the bind is detached with every mount below it.
    pub fn save_root_bind(&self, rootfs: &Path, mount_id: u64) -> Result<()> {
        let bind = RootBind {
            rootfs: rootfs.to_path_buf(),
            mount_id,
        };
        self.write_new_json(ROOT_BIND, &bind)
    }

    /// Detaches the rootfs bind [`save_root_bind`](Self::save_root_bind) recorded, if any.
    /// One that another mount now covers is left, with a warning: detaching it would take
    /// that mount along.
    fn release_root_bind(&self) -> Result<()> {
        let file = self.path.join(ROOT_BIND);
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("read", file, e)),
        };
        let bind: RootBind = serde_json::from_slice(&bytes).map_err(|source| Error::State {
            id: self.id.clone(),
            source,
        })?;
        match rootfs::release_host_root(&bind.rootfs, bind.mount_id).map_err(Error::Rootfs)? {
            rootfs::Released::Detached | rootfs::Released::Gone => {}
            rootfs::Released::Covered => crate::hooks::warn(&format!(
                "container {:?}: its rootfs bind (mount {}) at {} is covered by another mount and stays mounted",
                self.id,
                bind.mount_id,
                bind.rootfs.display()
            )),
        }
        Ok(())
    }

    /// Removes the directory and everything in it, after detaching the rootfs bind of a
    /// container in the runtime's mount namespace: the files this store writes, by name, then
    /// the directory (four system calls, where a walk takes a dozen); a walk only for what
    /// else is there.
    pub fn remove(self) -> Result<()> {
        self.release_root_bind()?;
        for name in ["state.json", "config.json", "exec.fifo", ROOT_BIND] {
            // A file that is not there is fine; anything else in the way makes rmdir fail below.
            let _ = std::fs::remove_file(self.path.join(name));
        }
        let removed = match std::fs::remove_dir(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => std::fs::remove_dir_all(&self.path),
            other => other,
        };
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove state directory", &self.path, e)),
        }
    }
}

/// The exec fifo's path in the container directory `dir`.
pub(crate) fn fifo_in(dir: &Path) -> PathBuf {
    dir.join("exec.fifo")
}

/// The record in the container directory `dir`; `Ok(None)` without one (a missing directory too).
fn load_record(dir: &Path, id: &str) -> Result<Option<Record>> {
    let file = dir.join("state.json");
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|source| Error::State {
            id: id.to_string(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", file, e)),
    }
}

/// The spec kept in the container directory `dir`.
fn load_spec(dir: &Path, id: &str) -> Result<oci_spec::runtime::Spec> {
    let file = dir.join("config.json");
    let bytes = std::fs::read(&file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if !dir.exists() => Error::NotFound(id.to_string()),
        _ => Error::io("read", &file, e),
    })?;
    serde_json::from_slice(&bytes).map_err(|source| Error::State {
        id: id.to_string(),
        source,
    })
}

/// The state and start time of process `pid`, from `/proc/<pid>/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    // One read into a stack buffer: read_to_string would stat and probe-read this size-0 file
    // in 32-byte steps (7 system calls); a stat line is far shorter than 2 KiB.
    let mut buf = [0u8; 2048];
    let n = std::io::Read::read(&mut File::open(format!("/proc/{pid}/stat")).ok()?, &mut buf).ok()?;
    let line = buf.get(..n)?;
    // The command name is in parentheses and may hold spaces, ')' or bytes that are not UTF-8
    // (the process names itself): parse only the fields after the last ')'.
    let after = line.iter().rposition(|&b| b == b')')? + 2;
    let rest = std::str::from_utf8(line.get(after..)?).ok()?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // After the state come 18 fields before starttime (field 22 of the whole line).
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is still the process that started at `start_time` and has not exited.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    pid > 0 && matches!(proc_stat(pid), Some((state, start)) if start == start_time && state != 'Z' && state != 'X')
}

/// Whether `pid` is a live process that started no later than `ticks` (clock ticks since boot).
pub fn is_alive_since(pid: i32, ticks: u64) -> bool {
    pid > 0 && matches!(proc_stat(pid), Some((state, start)) if start <= ticks && state != 'Z' && state != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::now_rfc3339;

    #[test]
    fn ids_follow_runc_rules() {
        assert!(valid_id("abc-1_2.3+x"));
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            assert!(!valid_id(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let (state, start) = proc_stat(pid).unwrap();
        assert!(state != 'Z' && state != 'X');
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
        assert!(!is_alive(i32::MAX, start));
        // The clock of the intent's creator time is that of start times.
        assert!(is_alive_since(pid, ocirun_sys::process::boot_ticks_now()));
        assert!(!is_alive_since(pid, start - 1));
    }

    #[test]
    fn create_refuses_a_duplicate_and_open_an_unknown_id() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("root"));
        let dir = store.create("one").unwrap();
        drop(dir);
        assert!(matches!(store.create("one"), Err(Error::AlreadyExists(_))));
        assert!(matches!(store.open("two"), Err(Error::NotFound(_))));
        assert_eq!(store.ids().unwrap(), vec!["one".to_string()]);
        store.open("one").unwrap().remove().unwrap();
        assert!(store.ids().unwrap().is_empty());
    }

    #[test]
    fn remove_takes_the_store_files_and_anything_else() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("root"));
        // The files the store writes, by name.
        let dir = store.create("plain").unwrap();
        for name in ["state.json", "config.json", "exec.fifo"] {
            std::fs::write(tmp.path().join("root/plain").join(name), b"x").unwrap();
        }
        dir.remove().unwrap();
        // A temp file a killed write left, and a directory: the walk takes them.
        let dir = store.create("more").unwrap();
        std::fs::write(tmp.path().join("root/more/.state.json.tmp"), b"x").unwrap();
        std::fs::create_dir_all(tmp.path().join("root/more/sub/dir")).unwrap();
        dir.remove().unwrap();
        assert!(store.ids().unwrap().is_empty());
        // Gone already: fine.
        let dir = store.create("gone").unwrap();
        std::fs::remove_dir(tmp.path().join("root/gone")).unwrap();
        dir.remove().unwrap();
    }

    #[test]
    fn rfc3339_has_the_right_shape() {
        let s = now_rfc3339();
        assert_eq!(s.len(), 30, "{s}");
        assert!(s.starts_with("20") && s.ends_with('Z') && &s[10..11] == "T", "{s}");
    }
}
