//! Handing the notify listener fd to the seccomp agent (config-linux.md, "seccomp").

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use oci_spec::runtime::{ContainerProcessState, SECCOMP_FD_NAME, State};

use crate::error::SeccompError;

/// Connect to the agent's socket at `listener_path` and send `state_json` (the
/// ContainerProcessState) with `fd` attached as SCM_RIGHTS, as runc does: one
/// message carries the fd and the start of the JSON, the rest follows on the stream.
pub fn send_to_listener(listener_path: &Path, fd: BorrowedFd<'_>, state_json: &[u8]) -> Result<(), SeccompError> {
    let mut sock = UnixStream::connect(listener_path).map_err(|source| SeccompError::ListenerConnect {
        path: listener_path.to_path_buf(),
        source,
    })?;
    let send_err = |source: std::io::Error| SeccompError::ListenerSend {
        path: listener_path.to_path_buf(),
        source,
    };
    let sent = ocirun_sys::socket::send_with_fds(sock.as_fd(), state_json, &[fd])
        .map_err(|e| send_err(std::io::Error::from_raw_os_error(e)))?;
    let rest = state_json.get(sent..).unwrap_or_default();
    sock.write_all(rest).map_err(send_err)?;
    Ok(())
}

/// The ContainerProcessState JSON an agent receives: `ociVersion` and `state` from
/// `state`, `fds` = `["seccompFd"]`, the container process `pid`, and the profile's
/// `listenerMetadata` as `metadata`.
pub fn container_process_state(state: &State, pid: i32, metadata: Option<&str>) -> Vec<u8> {
    let mut cps = ContainerProcessState::default();
    cps.set_version(state.version().clone());
    cps.set_fds(vec![SECCOMP_FD_NAME.to_owned()]);
    cps.set_pid(pid);
    cps.set_metadata(metadata.map(str::to_owned));
    cps.set_state(state.clone());
    // Serialising strings, integers and a string map into a Vec cannot fail.
    serde_json::to_vec(&cps).expect("ContainerProcessState serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixListener;

    #[test]
    fn state_json_has_the_spec_fields() {
        let mut st = State::default();
        st.set_version("1.2.0".into());
        st.set_id("c1".into());
        st.set_pid(Some(42));
        let json = container_process_state(&st, 42, Some("meta"));
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(v["ociVersion"], "1.2.0");
        assert_eq!(v["fds"][0], "seccompFd");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["metadata"], "meta");
        assert_eq!(v["state"]["id"], "c1");
    }

    #[test]
    fn listener_receives_fd_and_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("agent-{}.sock", std::process::id()));
        let listener = UnixListener::bind(&path).expect("bind");
        let big = vec![b'x'; 300_000];
        let payload = [b"{\"k\":\"".as_slice(), &big, b"\"}"].concat();
        let expect = payload.clone();
        let agent = std::thread::spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            let mut buf = vec![0u8; 400_000];
            let mut fds: [Option<OwnedFd>; 1] = [None];
            let (n, _) = ocirun_sys::socket::recv_with_fds(sock.as_fd(), &mut buf, &mut fds).expect("recvmsg");
            let mut got = buf[..n].to_vec();
            let mut sock = sock;
            sock.read_to_end(&mut got).expect("read rest");
            let [fd] = fds;
            (got, fd.is_some())
        });
        let (r, _w) = std::io::pipe().expect("pipe");
        send_to_listener(&path, r.as_fd(), &payload).expect("send");
        let (got, had_fd) = agent.join().expect("agent");
        assert!(had_fd);
        assert_eq!(got, expect);
    }
}
