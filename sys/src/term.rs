//! Terminals: a pty's two sides, window sizes, the controlling terminal, and termios modes.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::{SysResult, check, owned};

/// Unlocks the peer of the pty master `master` (TIOCSPTLCK 0), as unlockpt(3) does. Runs in
/// the child: no allocation, no locks.
pub fn unlock_pty(master: BorrowedFd<'_>) -> SysResult<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which lives across the call.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &raw const unlock) }).map(drop)
}

/// Opens the peer of the pty master `master` with `flags` (`O_CLOEXEC | O_NOCTTY` added), with
/// no path walked (TIOCGPTPEER). Runs in the child: no allocation, no locks.
pub fn pty_peer(master: BorrowedFd<'_>, flags: libc::c_int) -> SysResult<OwnedFd> {
    // SAFETY: TIOCGPTPEER takes open flags as an integer and returns a new fd or -1.
    check(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            flags | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    })
    .map(owned)
}

/// Sets the window size of the terminal `fd` (TIOCSWINSZ), in rows and columns. Runs in the
/// child: no allocation, no locks.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> SysResult<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which lives across the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &raw const size) }).map(drop)
}

/// The window size of the terminal `fd` (TIOCGWINSZ) as `(rows, columns)`; ENOTTY when `fd` is
/// no terminal. Runs in the parent.
pub fn winsize(fd: BorrowedFd<'_>) -> std::io::Result<(u16, u16)> {
    // SAFETY: winsize is plain data; zeroed is a valid out-parameter.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into the pointer, which lives across the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &raw mut size) }).map_err(crate::io_err)?;
    Ok((size.ws_row, size.ws_col))
}

/// Makes the terminal `fd` the controlling terminal of the caller's session (TIOCSCTTY 0: not
/// stolen from another session). Runs in the child: no allocation, no locks.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0 as libc::c_int) }).map(drop)
}

/// The termios settings of the terminal `fd` (tcgetattr); ENOTTY when `fd` is no terminal.
/// Runs in the parent.
pub fn tcgetattr(fd: BorrowedFd<'_>) -> std::io::Result<libc::termios> {
    // SAFETY: termios is plain data; zeroed is a valid out-parameter.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is writable and `fd` open.
    check(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) }).map_err(crate::io_err)?;
    Ok(t)
}

/// Applies `settings` to the terminal `fd` at once (tcsetattr `TCSANOW`). Runs in the parent.
pub fn tcsetattr(fd: BorrowedFd<'_>, settings: &libc::termios) -> std::io::Result<()> {
    // SAFETY: `settings` is a valid termios and `fd` open.
    check(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, settings) })
        .map(drop)
        .map_err(crate::io_err)
}

/// `settings` in raw mode, as cfmakeraw(3) makes them (no system call).
pub fn make_raw(settings: &libc::termios) -> libc::termios {
    let mut raw = *settings;
    // SAFETY: `raw` is a valid termios that cfmakeraw only rewrites.
    unsafe { libc::cfmakeraw(&mut raw) };
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_pty_s_peer_takes_its_size_and_raw_mode() {
        let master = crate::fs::open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC).unwrap();
        unlock_pty(master.as_fd()).unwrap();
        set_winsize(master.as_fd(), 33, 121).unwrap();
        let peer = pty_peer(master.as_fd(), libc::O_RDWR).unwrap();
        assert_eq!(winsize(peer.as_fd()).unwrap(), (33, 121));
        let cooked = tcgetattr(peer.as_fd()).unwrap();
        assert_ne!(cooked.c_lflag & libc::ICANON, 0);
        tcsetattr(peer.as_fd(), &make_raw(&cooked)).unwrap();
        assert_eq!(tcgetattr(peer.as_fd()).unwrap().c_lflag & libc::ICANON, 0);
        // A pipe is no terminal.
        let (r, _w) = crate::io::pipe().unwrap();
        assert_eq!(winsize(r.as_fd()).unwrap_err().raw_os_error(), Some(libc::ENOTTY));
        assert_eq!(tcgetattr(r.as_fd()).unwrap_err().raw_os_error(), Some(libc::ENOTTY));
    }

    #[test]
    fn a_new_session_takes_a_pty_as_its_controlling_terminal() {
        let master = crate::fs::open(c"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC).unwrap();
        unlock_pty(master.as_fd()).unwrap();
        crate::fd::tests::in_forked_child(|| {
            let Ok(peer) = pty_peer(master.as_fd(), libc::O_RDWR) else {
                return false;
            };
            // Before setsid this child leads no session: TIOCSCTTY is EPERM.
            let refused = set_controlling_tty(peer.as_fd()) == Err(libc::EPERM);
            let sid = crate::process::setsid();
            let taken = set_controlling_tty(peer.as_fd()).is_ok();
            let tty = crate::fs::open(c"/dev/tty", libc::O_RDWR | libc::O_CLOEXEC).is_ok();
            refused && sid == Ok(crate::process::getpid()) && taken && tty
        });
    }
}
