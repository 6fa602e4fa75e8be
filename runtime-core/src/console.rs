//! The container's terminal on the runtime's side: where the pty master goes when
//! `process.terminal` is true (runc's `--console-socket` protocol, or the embedding
//! program), and the host-terminal helpers a program needs to relay a pty to its own terminal.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use ocirun_sys::signal::{self, SigSet};
use ocirun_sys::{socket, term};

use crate::{Error, Result};

/// The name runc sends with the pty master over the console socket: the path of the ptmx
/// the init opened (the receiver uses it only to name the file).
const MASTER_NAME: &[u8] = b"/dev/pts/ptmx";

/// Where the pty master of a container with `process.terminal` goes.
#[derive(Debug)]
pub(crate) enum Destination {
    /// No terminal: the container's stdio passes through.
    None,
    /// Sent over a console socket connected before anything else was created, as runc does.
    Socket(FdSocket),
    /// Kept for the embedding program: [`crate::Container::take_pty_master`].
    Caller,
}

impl Destination {
    /// Checks the builder's console settings against `process.terminal` and connects to the
    /// console socket, so that a socket nobody listens on fails before anything is created.
    pub(crate) fn prepare(
        terminal: bool,
        socket: Option<&Path>,
        keep_master: bool,
        stdio_given: bool,
    ) -> Result<Destination> {
        if !terminal {
            if let Some(path) = socket {
                return Err(SocketKind::Console.error(
                    path,
                    "process.terminal is false, so there is no pty to send",
                    None,
                ));
            }
            if keep_master {
                return Err(Error::spec(
                    "process.terminal",
                    "is false, but keep_pty_master asks for the pty master",
                ));
            }
            return Ok(Destination::None);
        }
        if stdio_given {
            return Err(Error::spec(
                "process.terminal",
                "the pty is the container's stdin, stdout and stderr: they cannot be given too",
            ));
        }
        match (socket, keep_master) {
            (Some(path), true) => {
                Err(SocketKind::Console.error(path, "keep_pty_master asks for the pty master too: choose one", None))
            }
            (Some(path), false) => Ok(Destination::Socket(FdSocket::connect(SocketKind::Console, path)?)),
            (None, true) => Ok(Destination::Caller),
            (None, false) => Err(Error::spec(
                "process.terminal",
                "a terminal needs a console socket (--console-socket) to receive its pty master",
            )),
        }
    }

    /// Delivers the master the init sent: over the socket (then closed here), or back to the caller.
    pub(crate) fn deliver(self, master: Option<OwnedFd>) -> Result<Option<OwnedFd>> {
        let master = match (&self, master) {
            (Destination::None, None) => return Ok(None),
            (Destination::None, Some(_)) => {
                return Err(Error::InitDied(
                    "it sent a pty master with process.terminal false".into(),
                ));
            }
            (_, None) => return Err(Error::InitDied("it sent no pty master".into())),
            (_, Some(m)) => m,
        };
        match self {
            Destination::Socket(socket) => {
                socket.send(master.as_fd(), MASTER_NAME, "send the pty master")?;
                Ok(None)
            }
            _ => Ok(Some(master)),
        }
    }
}

/// A terminal put in raw mode; dropping it restores the settings it had.
#[derive(Debug)]
pub struct RawMode<'fd> {
    fd: BorrowedFd<'fd>,
    saved: libc::termios,
}

impl<'fd> RawMode<'fd> {
    /// Puts the terminal behind `fd` in raw mode (as `cfmakeraw`); `Ok(None)` when `fd` is not a terminal.
    pub fn enable(fd: BorrowedFd<'fd>) -> std::io::Result<Option<RawMode<'fd>>> {
        let saved = match term::tcgetattr(fd) {
            Ok(saved) => saved,
            Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => return Ok(None),
            Err(e) => return Err(e),
        };
        term::tcsetattr(fd, &term::make_raw(&saved))?;
        Ok(Some(RawMode { fd, saved }))
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = term::tcsetattr(self.fd, &self.saved);
    }
}

/// Gives `to` (a pty master) the window size of the terminal `from`; `Ok(false)` when `from` is not a terminal.
pub fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> std::io::Result<bool> {
    let (rows, cols) = match term::winsize(from) {
        Ok(size) => size,
        Err(e) if e.raw_os_error() == Some(libc::ENOTTY) => return Ok(false),
        Err(e) => return Err(e),
    };
    term::set_winsize(to, rows, cols).map_err(std::io::Error::from_raw_os_error)?;
    Ok(true)
}

/// Relays this process's stdio to a container's pty master, as `runc run` does in the
/// foreground: stdin is copied to the master, and the master to stdout until the container's
/// side of the pty is closed. While it runs, a terminal on stdin is raw and has the size of
/// the container's pty follow its own (SIGWINCH).
///
/// Meant for a program that ends with its container (like `ocirun run`): the thread copying
/// stdin and the one forwarding window sizes stay behind, and SIGWINCH stays blocked in the
/// calling thread, so call it after the container was created.
pub fn relay_stdio(master: &OwnedFd) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    let stdin = std::io::stdin();
    let raw = RawMode::enable(stdin.as_fd())?;
    if raw.is_some() {
        copy_window_size(stdin.as_fd(), master.as_fd())?;
        forward_window_changes(master.try_clone()?)?;
    }
    let mut to_pty = std::fs::File::from(master.try_clone()?);
    std::thread::spawn(move || {
        // Ends at EOF on stdin; the pty stays open for the container's output.
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_pty);
    });
    let mut from_pty = std::fs::File::from(master.try_clone()?);
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 8192];
    loop {
        match from_pty.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                stdout.write_all(&buf[..n])?;
                stdout.flush()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // EIO: every fd of the container's side is closed.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => return Err(e),
        }
    }
    drop(raw);
    Ok(())
}

/// Blocks SIGWINCH in the calling thread and starts a thread that, at each one, gives
/// `master` the window size of the terminal on stdin.
fn forward_window_changes(master: OwnedFd) -> std::io::Result<()> {
    let set = SigSet::of(&[libc::SIGWINCH]).map_err(std::io::Error::from_raw_os_error)?;
    signal::sigmask(libc::SIG_BLOCK, &set).map_err(std::io::Error::from_raw_os_error)?;
    std::thread::spawn(move || {
        use std::os::fd::AsFd;
        loop {
            // The thread inherited SIGWINCH blocked.
            if signal::sigwait(&set).is_ok() {
                let _ = copy_window_size(std::io::stdin().as_fd(), master.as_fd());
            }
        }
    });
    Ok(())
}

/// Which socket receives an fd from ocirun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketKind {
    /// `--console-socket`: the pty master.
    Console,
    /// `--pidfd-socket`: a pidfd of the process.
    Pidfd,
}

impl SocketKind {
    /// The error about the socket of this kind at `path`.
    fn error(self, path: &Path, reason: &'static str, source: Option<std::io::Error>) -> Error {
        let (socket, flag) = match self {
            SocketKind::Console => ("console socket", "--console-socket"),
            SocketKind::Pidfd => ("pidfd socket", "--pidfd-socket"),
        };
        Error::Socket {
            socket,
            flag,
            path: path.to_path_buf(),
            reason,
            source,
        }
    }
}

/// A unix socket that receives an fd from ocirun (the pty master, or a pidfd), connected
/// before anything is created so that one nobody listens on fails early.
#[derive(Debug)]
pub(crate) struct FdSocket {
    kind: SocketKind,
    path: PathBuf,
    stream: UnixStream,
}

impl FdSocket {
    /// Connects to the socket of `kind` at `path`.
    pub(crate) fn connect(kind: SocketKind, path: &Path) -> Result<FdSocket> {
        let stream = UnixStream::connect(path).map_err(|e| kind.error(path, "connect", Some(e)))?;
        Ok(FdSocket {
            kind,
            path: path.to_path_buf(),
            stream,
        })
    }

    /// Sends `fd` as runc's utils.SendFd does: one message whose data is `name`, the fd as
    /// SCM_RIGHTS. `what` says what was being sent, for the error.
    pub(crate) fn send(self, fd: BorrowedFd<'_>, name: &[u8], what: &'static str) -> Result<()> {
        socket::send_whole_with_fds(self.stream.as_fd(), name, &[fd]).map_err(|e| {
            self.kind
                .error(&self.path, what, Some(std::io::Error::from_raw_os_error(e)))
        })
    }
    /// Sends a pidfd, named "pidfd".
    pub(crate) fn send_pidfd(self, pidfd: BorrowedFd<'_>) -> Result<()> {
        self.send(pidfd, b"pidfd", "send the pidfd")
    }
}
