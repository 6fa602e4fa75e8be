//! The runtime's side of its talk with the container's init: fixed-size messages over a
//! socketpair (encoding and decoding never allocate), the fds the init sends along, and the
//! wait for its Ready.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use namespaces::pidfd::{self, ExitStatus};
use ocirun_sys::io::{self, PollFd};
use ocirun_sys::socket;

use crate::hooks;
use crate::init::{InitPlan, InitStep};
use crate::{Error, Result};

/// What a message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Tag {
    /// Parent to child: the uid/gid maps are written.
    MapsWritten = 1,
    /// Parent to child: the cgroup is joined; finish and wait for start.
    Go = 2,
    /// Child to parent: everything is done, the init waits on the exec fifo.
    Ready = 3,
    /// Child to parent: a step failed.
    Error = 4,
    /// Child to parent: an fd rides along (SCM_RIGHTS); `step` says which [`FdKind`].
    Fd = 5,
    /// Child to parent: the mounts are in place, before pivot_root: run the create hooks.
    Hooks = 6,
    /// Parent to child: the create hooks have run.
    HooksDone = 7,
    /// Child to parent: a step could not be done and the init carries on without it, as the
    /// runtime spec asks (an ambient capability that cannot be raised); like [`Tag::Error`].
    Warning = 8,
    /// Parent to child: the state names the process an init made in the pid namespace it
    /// joined (it was not known at Go): it may clear its parent-death signal.
    Recorded = 9,
    /// Child to parent (rootless): the child is dumpable, so that the unprivileged runtime
    /// can open its /proc files: write the id maps now.
    MapsWanted = 10,
}

/// What an fd sent with [`Tag::Fd`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum FdKind {
    /// The seccomp notify listener.
    SeccompListener = 1,
    /// The master side of the container's pty.
    PtyMaster = 2,
    /// A pidfd of the process an exec's first child made in the container's pid namespace;
    /// the message's `index` is its pid.
    Process = 3,
}

impl FdKind {
    /// The kind a message's `step` names.
    pub fn from_u32(n: u32) -> Option<FdKind> {
        [FdKind::SeccompListener, FdKind::PtyMaster, FdKind::Process]
            .into_iter()
            .find(|k| *k as u32 == n)
    }
}

/// One message: a tag, and for errors the step, an index within it and the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Msg {
    pub tag: Tag,
    pub step: u32,
    pub index: u32,
    pub errno: i32,
}

impl Msg {
    /// The encoded size.
    pub const SIZE: usize = 16;

    pub fn new(tag: Tag, step: u32, index: u32, errno: i32) -> Msg {
        Msg {
            tag,
            step,
            index,
            errno,
        }
    }

    /// Encodes into a stack array. Runs in the child: no allocation, no locks.
    pub fn encode(&self) -> [u8; Msg::SIZE] {
        let mut out = [0u8; Msg::SIZE];
        let words = [self.tag as u32, self.step, self.index, self.errno as u32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        out
    }

    /// Decodes; `None` for an unknown tag. Runs in the child: no allocation, no locks.
    pub fn decode(buf: &[u8; Msg::SIZE]) -> Option<Msg> {
        let mut words = [0u32; 4];
        for (word, chunk) in words.iter_mut().zip(buf.chunks_exact(4)) {
            let mut b = [0u8; 4];
            b.copy_from_slice(chunk);
            *word = u32::from_ne_bytes(b);
        }
        let tag = match words[0] {
            1 => Tag::MapsWritten,
            2 => Tag::Go,
            3 => Tag::Ready,
            4 => Tag::Error,
            5 => Tag::Fd,
            6 => Tag::Hooks,
            7 => Tag::HooksDone,
            8 => Tag::Warning,
            9 => Tag::Recorded,
            10 => Tag::MapsWanted,
            _ => return None,
        };
        Some(Msg {
            tag,
            step: words[1],
            index: words[2],
            errno: words[3] as i32,
        })
    }
}

/// The sync socketpair between the runtime and the init: `SOCK_SEQPACKET`, close-on-exec.
pub(crate) fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    socket::socketpair(libc::SOCK_SEQPACKET).map_err(|source| Error::Sys {
        op: "create the sync socketpair",
        source,
    })
}

/// Sends `tag` to the init; whether it reached it, as [`delivered`] says.
pub(crate) fn send_tag(sock: &OwnedFd, tag: Tag) -> Result<bool> {
    delivered(socket::send_whole(sock.as_fd(), &Msg::new(tag, 0, 0, 0).encode()))
}

/// Whether a message the init waits for reached it: `Ok(false)` when the init is gone (its
/// error or exit is read next), an error when the send failed otherwise, since the init, alive,
/// would wait for it for ever.
pub(crate) fn delivered(sent: std::result::Result<(), i32>) -> Result<bool> {
    match sent {
        Ok(()) => Ok(true),
        Err(libc::EPIPE | libc::ECONNRESET | libc::ECONNREFUSED) => Ok(false),
        Err(e) => Err(Error::Sys {
            op: "send to the container init",
            source: std::io::Error::from_raw_os_error(e),
        }),
    }
}

/// The init's wait for the runtime's `tag`, with up to `fds.len()` fds riding along; returns
/// how many came. A closed socket or a short message is EPIPE, another message EPROTO.
///
/// Without room for fds it reads with recv(2) (recvfrom), not recvmsg: a wait may come after
/// the container's seccomp filter is loaded, and so makes the call it always made.
///
/// Runs in the child: no allocation, no locks.
pub(crate) fn wait_for(sync: BorrowedFd<'_>, tag: Tag, fds: &mut [Option<OwnedFd>]) -> std::result::Result<usize, i32> {
    let mut buf = [0u8; Msg::SIZE];
    let received = if fds.is_empty() {
        (socket::recv(sync, &mut buf)?, 0)
    } else {
        socket::recv_with_fds(sync, &mut buf, fds)?
    };
    match received {
        (n, count) if n == Msg::SIZE => match Msg::decode(&buf) {
            Some(m) if m.tag == tag => Ok(count),
            _ => Err(libc::EPROTO),
        },
        _ => Err(libc::EPIPE),
    }
}

/// Blocks until `fd` or the init's pidfd has an event; returns both `revents`.
pub(crate) fn poll_with_init(fd: &impl AsFd, init: &OwnedFd, op: &'static str) -> Result<(i16, i16)> {
    let mut fds = [
        PollFd::new(fd.as_fd(), libc::POLLIN),
        PollFd::new(init.as_fd(), libc::POLLIN),
    ];
    io::poll(&mut fds, -1).map_err(|e| Error::Sys {
        op,
        source: std::io::Error::from_raw_os_error(e),
    })?;
    Ok((fds[0].revents(), fds[1].revents()))
}

/// The fds the init sent the runtime before Ready (but the seccomp listener, which
/// [`wait_ready`] hands on as it comes).
#[derive(Debug, Default)]
pub(crate) struct InitFds {
    /// The master side of the container's pty, when process.terminal is set.
    pub pty_master: Option<OwnedFd>,
    /// The process a child made outside the container's pid namespace made there, its pid and
    /// a pidfd ([`InitPlan::clone_in_pid_namespace`]): [`wait_ready`] returns as it comes, and
    /// is called again to wait for that process's Ready.
    pub process: Option<(i32, OwnedFd)>,
}

impl InitFds {
    /// Takes in the fds of a later [`wait_ready`] (after the hand-over of the process).
    pub(crate) fn absorb(&mut self, later: InitFds) {
        self.pty_master = self.pty_master.take().or(later.pty_master);
        self.process = later.process;
    }
}

/// Waits for the init's Ready or Error, or its death, keeping the fds it sends on the way;
/// returns early with [`InitFds::process`] when the child hands over the process it made in
/// the container's pid namespace, which `child` no longer is then.
/// `on_hooks` runs when the init stops before its root switch for the create hooks;
/// `on_listener` gets the seccomp notify listener as soon as it comes, since the init may
/// make a notified call of its own before its Ready, which only the agent can answer.
pub(crate) fn wait_ready(
    sock: &OwnedFd,
    child: &OwnedFd,
    plan: &InitPlan,
    on_hooks: &mut dyn FnMut() -> Result<()>,
    on_listener: &mut dyn FnMut(&OwnedFd) -> Result<()>,
) -> Result<InitFds> {
    let mut fds = InitFds::default();
    loop {
        let (sock_events, child_events) = poll_with_init(sock, child, "wait for the container init")?;
        if sock_events & libc::POLLIN != 0 {
            let mut buf = [0u8; Msg::SIZE];
            let mut received: [Option<OwnedFd>; 1] = [None];
            let (n, _) = socket::recv_with_fds(sock.as_fd(), &mut buf, &mut received).unwrap_or((0, 0));
            let [fd] = received;
            match Msg::decode(&buf) {
                Some(m) if n == Msg::SIZE && m.tag == Tag::Fd => {
                    let slot = match FdKind::from_u32(m.step) {
                        Some(FdKind::SeccompListener) => {
                            let fd = fd.ok_or_else(|| Error::InitDied("its listener message carried no fd".into()))?;
                            on_listener(&fd)?;
                            continue;
                        }
                        Some(FdKind::PtyMaster) => &mut fds.pty_master,
                        Some(FdKind::Process) if plan.namespaces.clone_in_pid_namespace => {
                            let fd =
                                fd.ok_or_else(|| Error::InitDied("its process message carried no pidfd".into()))?;
                            fds.process = Some((m.index as i32, fd));
                            return Ok(fds);
                        }
                        Some(FdKind::Process) | None => {
                            return Err(Error::InitDied(format!("it sent an fd of unknown kind {}", m.step)));
                        }
                    };
                    *slot = Some(fd.ok_or_else(|| Error::InitDied("its fd message carried no fd".into()))?);
                    continue;
                }
                Some(m) if n == Msg::SIZE && m.tag == Tag::Hooks => {
                    on_hooks()?;
                    // An init gone meanwhile is reported by the next poll.
                    send_tag(sock, Tag::HooksDone)?;
                    continue;
                }
                Some(m) if n == Msg::SIZE && m.tag == Tag::Warning => {
                    hooks::warn(&init_warning(plan, m));
                    continue;
                }
                Some(m) if n == Msg::SIZE && m.tag == Tag::Ready => return Ok(fds),
                Some(m) if n == Msg::SIZE && m.tag == Tag::Error => return Err(init_error(plan, m)),
                _ => return Err(Error::InitDied("it closed the sync socket".into())),
            };
        }
        if child_events != 0 || sock_events != 0 {
            let status = pidfd::reap(child, false).ok().flatten();
            return Err(Error::InitDied(match status {
                Some(ExitStatus::Exited(c)) => format!("exit code {c}"),
                Some(ExitStatus::Signaled(s)) => format!("killed by signal {s}"),
                None => "it closed the sync socket".into(),
            }));
        }
    }
}

/// The text of a [`Tag::Warning`] from the init: the step it could not do, and why.
fn init_warning(plan: &InitPlan, m: Msg) -> String {
    let what = match InitStep::from_u32(m.step) {
        Some(step) => plan.describe(step, m.index),
        None => format!("unknown step {}", m.step),
    };
    format!(
        "container init: {what}: {}; the container process runs without it",
        std::io::Error::from_raw_os_error(m.errno)
    )
}

/// The error of a [`Tag::Error`] from the init: [`Error::Rootfs`] for a step of its mount
/// plan, which explains it, else [`Error::Init`].
pub(crate) fn init_error(plan: &InitPlan, m: Msg) -> Error {
    match InitStep::from_u32(m.step) {
        Some(InitStep::Rootfs) if plan.fs.mounts.is_some() => {
            Error::Rootfs(plan.fs.mounts.as_ref().expect("checked").explain(rootfs::StepFailure {
                step: m.index,
                errno: m.errno,
            }))
        }
        Some(step) => plan.error(step, m.index, m.errno),
        None => Error::InitDied(format!(
            "it reported a failure at unknown step {}: {}",
            m.step,
            std::io::Error::from_raw_os_error(m.errno)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let m = Msg::new(Tag::Error, 7, 3, libc::EPERM);
        assert_eq!(Msg::decode(&m.encode()), Some(m));
        assert_eq!(Msg::decode(&[0xff; Msg::SIZE]), None);
    }

    #[test]
    fn fds_ride_with_a_message() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd;
        let (a, b) = std::os::unix::net::UnixDatagram::pair().expect("socketpair");
        let pipes: Vec<_> = (0..3).map(|_| std::io::pipe().expect("pipe")).collect();
        let writers: Vec<_> = pipes.iter().map(|(_, w)| w.as_fd()).collect();
        let m = Msg::new(Tag::Go, 0, 0, 0);
        socket::send_whole_with_fds(a.as_fd(), &m.encode(), &writers).expect("send");
        drop(writers);
        let mut buf = [0u8; Msg::SIZE];
        let mut fds: [Option<std::os::fd::OwnedFd>; 4] = Default::default();
        let (n, count) = socket::recv_with_fds(b.as_fd(), &mut buf, &mut fds).expect("recv");
        assert_eq!((n, count, Msg::decode(&buf)), (Msg::SIZE, 3, Some(m)));
        assert!(fds[3].is_none());
        for (slot, (r, w)) in fds.iter_mut().zip(pipes) {
            let fd = slot.take().expect("an fd arrived");
            assert_ne!(fd.as_raw_fd(), w.as_raw_fd(), "the received fd is a new one");
            // Writing through the received fd reaches the same pipe.
            std::fs::File::from(fd).write_all(b"x").expect("write");
            drop(w);
            let mut r = r;
            let mut byte = [0u8; 1];
            r.read_exact(&mut byte).expect("read");
            assert_eq!(&byte, b"x");
        }
        // A message without fds, and one with more fds than room: refused, nothing kept.
        socket::send_whole_with_fds(a.as_fd(), &m.encode(), &[]).expect("send");
        assert_eq!(socket::recv_with_fds(b.as_fd(), &mut buf, &mut fds), Ok((Msg::SIZE, 0)));
        let (_r, w) = std::io::pipe().expect("pipe");
        socket::send_whole_with_fds(a.as_fd(), &m.encode(), &[w.as_fd(); 2]).expect("send");
        let mut one: [Option<std::os::fd::OwnedFd>; 1] = Default::default();
        assert_eq!(
            socket::recv_with_fds(b.as_fd(), &mut buf, &mut one),
            Err(libc::EMSGSIZE)
        );
        assert!(one[0].is_none(), "the fds of a refused message are closed");
        let too_many = [w.as_fd(); socket::MAX_MSG_FDS + 1];
        assert_eq!(
            socket::send_whole_with_fds(a.as_fd(), &m.encode(), &too_many),
            Err(libc::EMSGSIZE)
        );
        assert_eq!(FdKind::from_u32(2), Some(FdKind::PtyMaster));
        assert_eq!(FdKind::from_u32(9), None);
    }
}
