//! Fixed-size messages between the runtime and the container's init over a
//! socketpair: encoding and decoding never allocate.

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
        let writers: Vec<libc::c_int> = pipes.iter().map(|(_, w)| w.as_raw_fd()).collect();
        let m = Msg::new(Tag::Go, 0, 0, 0);
        crate::sys::send_with_fds(a.as_raw_fd(), &m.encode(), &writers).expect("send");
        let mut buf = [0u8; Msg::SIZE];
        let mut fds: [Option<std::os::fd::OwnedFd>; 4] = Default::default();
        let (n, count) = crate::sys::recv_with_fds(b.as_raw_fd(), &mut buf, &mut fds).expect("recv");
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
        crate::sys::send_with_fds(a.as_raw_fd(), &m.encode(), &[]).expect("send");
        assert_eq!(
            crate::sys::recv_with_fds(b.as_raw_fd(), &mut buf, &mut fds),
            Ok((Msg::SIZE, 0))
        );
        let (_r, w) = std::io::pipe().expect("pipe");
        crate::sys::send_with_fds(a.as_raw_fd(), &m.encode(), &[w.as_raw_fd(); 2]).expect("send");
        let mut one: [Option<std::os::fd::OwnedFd>; 1] = Default::default();
        assert_eq!(
            crate::sys::recv_with_fds(b.as_raw_fd(), &mut buf, &mut one),
            Err(libc::EMSGSIZE)
        );
        assert!(one[0].is_none(), "the fds of a refused message are closed");
        let too_many = [w.as_raw_fd(); crate::sys::MAX_MSG_FDS + 1];
        assert_eq!(
            crate::sys::send_with_fds(a.as_raw_fd(), &m.encode(), &too_many),
            Err(libc::EMSGSIZE)
        );
        assert_eq!(FdKind::from_u32(2), Some(FdKind::PtyMaster));
        assert_eq!(FdKind::from_u32(9), None);
    }
}
