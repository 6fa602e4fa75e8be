//! Moving host network devices into a container's network namespace (`linux.netDevices`),
//! as runc 1.4 does: its permanent global addresses are read, it is set down, it is
//! moved and renamed in one `RTM_NEWLINK` (`IFLA_NET_NS_FD` + `IFLA_IFNAME`), and in the
//! container's namespace the addresses are added again and the device is set up.
//!
//! The rtnetlink messages are written here by hand: five requests of fixed shape (get a
//! link by name, set a link's flags, move and rename a link, dump addresses, add an
//! address). youki's crates for this (`rtnetlink` with `netlink-packet-route`) bring an
//! async runtime (tokio, futures) and a generic message model of several thousand lines for
//! what is here ~300 lines with no dependency; they would also run a netlink reactor in a
//! program that embeds the runtime. Nothing here runs unless a spec names a device.
//!
//! Runs in the parent (the runtime), never between clone and exec.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use ocirun_sys::{net, socket};

use crate::{NamespaceError, NamespaceKind, join};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 0x1;
/// `struct nlmsghdr`, `struct ifinfomsg` and `struct ifaddrmsg` sizes.
const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;
const IFADDRMSG: usize = 8;

/// The longest interface name the kernel takes (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// Whether `name` is a name the kernel accepts for a network device (its `dev_valid_name`):
/// 1 to 15 bytes, not `.` or `..`, no `/`, `:` or white space.
pub fn valid_device_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name != "."
        && name != ".."
        && !name.bytes().any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
}

/// One device to move: its name in the runtime's namespace and its name in the container's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    /// The name on the host (the key of `linux.netDevices`).
    pub host_name: String,
    /// The name in the container (`name`, else the host name).
    pub name: String,
}

/// An address read from a device before the move, to add again after it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Address {
    family: u8,
    prefix_len: u8,
    local: Vec<u8>,
}

/// Moves each of `devices` from the runtime's network namespace into the one behind `netns`,
/// renamed, with its permanent global addresses, and sets it up there.
///
/// Every device is looked up before any is touched, so a device that does not exist fails
/// with nothing changed. Once moved, a device belongs to the container's namespace: when that
/// namespace dies the kernel moves a physical device back to the initial namespace and
/// destroys a virtual one (dummy, veth, macvlan...), which is what runc relies on too.
pub fn move_into(netns: BorrowedFd<'_>, devices: &[NetDevice]) -> Result<(), NamespaceError> {
    let err = |device: &NetDevice, step: &'static str| {
        let device = device.host_name.clone();
        move |source| NamespaceError::NetDevice { device, step, source }
    };
    let first = match devices.first() {
        Some(d) => d,
        None => return Ok(()),
    };
    let mut host = Netlink::open().map_err(err(first, "open a netlink socket"))?;
    let mut indexes = Vec::with_capacity(devices.len());
    for device in devices {
        let index = host
            .link_index(&device.host_name)
            .map_err(err(device, "find it in the runtime's network namespace"))?;
        indexes.push(index);
    }
    let mut container =
        Netlink::open_in(netns).map_err(err(first, "open a netlink socket in the container's network namespace"))?;
    for (device, index) in devices.iter().zip(indexes) {
        // Read before the device goes down, which drops its IPv6 addresses (runc reads them
        // after, and loses them).
        let addresses = host.addresses(index).map_err(err(device, "read its addresses"))?;
        host.set_up(index, false).map_err(err(device, "set it down"))?;
        host.move_link(index, &device.name, netns)
            .map_err(err(device, "move it into the container's network namespace"))?;
        let moved = container
            .link_index(&device.name)
            .map_err(err(device, "find it in the container's network namespace"))?;
        for address in &addresses {
            container
                .add_address(moved, address)
                .map_err(err(device, "add its address in the container's network namespace"))?;
        }
        container
            .set_up(moved, true)
            .map_err(err(device, "set it up in the container's network namespace"))?;
    }
    Ok(())
}

/// A NETLINK_ROUTE socket and the sequence number of its next request.
struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    /// A socket in this thread's network namespace.
    fn open() -> io::Result<Netlink> {
        Ok(Netlink {
            fd: net::netlink_route_socket()?,
            seq: 0,
        })
    }

    /// A socket in the network namespace behind `netns`: made by a thread that joins it and
    /// ends (a socket keeps the namespace it was made in), so this thread never changes its own.
    fn open_in(netns: BorrowedFd<'_>) -> io::Result<Netlink> {
        // Spawned through the Builder: a thread the kernel refuses (EAGAIN under a pids limit)
        // is an error, not a panic.
        let fd = std::thread::scope(|s| {
            std::thread::Builder::new()
                .spawn_scoped(s, || {
                    join::setns(netns, NamespaceKind::Network).map_err(io::Error::from_raw_os_error)?;
                    net::netlink_route_socket()
                })?
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the thread joining the namespace panicked")))
        })?;
        Ok(Netlink { fd, seq: 0 })
    }

    /// A new message of `kind` with `flags` (NLM_F_REQUEST added) and its fixed header `body`.
    fn message(&mut self, kind: u16, flags: u16, body: &[u8]) -> Vec<u8> {
        self.seq = self.seq.wrapping_add(1);
        let mut m = Vec::with_capacity(64);
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Sends `m` (its length filled in) and returns the replies up to its ACK, or the last part
    /// of a dump; an NLMSG_ERROR with an errno is that error.
    fn exchange(&mut self, mut m: Vec<u8>) -> io::Result<Vec<(u16, Vec<u8>)>> {
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        socket::send_whole(self.fd.as_fd(), &m).map_err(io::Error::from_raw_os_error)?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = socket::recv(self.fd.as_fd(), &mut buf).map_err(io::Error::from_raw_os_error)?;
            let mut rest = &buf[..n];
            while rest.len() >= NLMSG_HDR {
                let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
                let kind = u16::from_ne_bytes(rest[4..6].try_into().expect("2 bytes"));
                let seq = u32::from_ne_bytes(rest[8..12].try_into().expect("4 bytes"));
                if len < NLMSG_HDR || len > rest.len() {
                    return Err(io::Error::other("malformed netlink reply"));
                }
                let payload = &rest[NLMSG_HDR..len];
                rest = &rest[align(len).min(rest.len())..];
                if seq != self.seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(replies),
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
                            .ok_or_else(|| io::Error::other("short netlink error"))?;
                        return if code == 0 {
                            Ok(replies)
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    _ => replies.push((kind, payload.to_vec())),
                }
            }
        }
    }

    /// The index of the link named `name` (ENODEV when there is none).
    fn link_index(&mut self, name: &str) -> io::Result<u32> {
        let mut m = self.message(RTM_GETLINK, NLM_F_ACK, &ifinfomsg(0, 0, 0));
        put_attr(&mut m, IFLA_IFNAME, &c_name(name));
        let replies = self.exchange(m)?;
        replies
            .iter()
            .find(|(kind, p)| *kind == RTM_NEWLINK && p.len() >= IFINFOMSG)
            .map(|(_, p)| i32::from_ne_bytes(p[4..8].try_into().expect("4 bytes")) as u32)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// Sets the link up or down.
    fn set_up(&mut self, index: u32, up: bool) -> io::Result<()> {
        let m = self.message(
            RTM_NEWLINK,
            NLM_F_ACK,
            &ifinfomsg(index, if up { IFF_UP } else { 0 }, IFF_UP),
        );
        self.exchange(m).map(drop)
    }

    /// Moves the link into the network namespace behind `netns` under `name`, in one request.
    fn move_link(&mut self, index: u32, name: &str, netns: BorrowedFd<'_>) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut m = self.message(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, 0, 0));
        put_attr(&mut m, IFLA_IFNAME, &c_name(name));
        put_attr(&mut m, IFLA_NET_NS_FD, &(netns.as_raw_fd() as u32).to_ne_bytes());
        self.exchange(m).map(drop)
    }

    /// The link's permanent addresses of global scope, as runc keeps them: the others are
    /// dynamic or tied to the host (link-local, host scope).
    fn addresses(&mut self, index: u32) -> io::Result<Vec<Address>> {
        let m = self.message(RTM_GETADDR, NLM_F_DUMP, &[0u8; IFADDRMSG]);
        let mut out = Vec::new();
        for (kind, p) in self.exchange(m)? {
            if kind != RTM_NEWADDR || p.len() < IFADDRMSG {
                continue;
            }
            let (family, prefix_len, flags, scope) = (p[0], p[1], p[2], p[3]);
            if u32::from_ne_bytes(p[4..8].try_into().expect("4 bytes")) != index {
                continue;
            }
            let mut flags = u32::from(flags);
            let (mut local, mut address) = (None, None);
            for (ty, data) in attrs(&p[IFADDRMSG..]) {
                match ty {
                    IFA_LOCAL => local = Some(data.to_vec()),
                    IFA_ADDRESS => address = Some(data.to_vec()),
                    IFA_FLAGS if data.len() >= 4 => flags = u32::from_ne_bytes(data[..4].try_into().expect("4 bytes")),
                    _ => {}
                }
            }
            if flags & IFA_F_PERMANENT == 0 || scope != RT_SCOPE_UNIVERSE {
                continue;
            }
            if let Some(local) = local.or(address) {
                out.push(Address {
                    family,
                    prefix_len,
                    local,
                });
            }
        }
        Ok(out)
    }

    /// Adds `address` to the link, with the broadcast address an IPv4 subnet of /30 or wider
    /// has (as runc's netlink library adds it).
    fn add_address(&mut self, index: u32, address: &Address) -> io::Result<()> {
        let mut body = [0u8; IFADDRMSG];
        body[0] = address.family;
        body[1] = address.prefix_len;
        body[3] = RT_SCOPE_UNIVERSE;
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        let mut m = self.message(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &body);
        put_attr(&mut m, IFA_LOCAL, &address.local);
        put_attr(&mut m, IFA_ADDRESS, &address.local);
        if address.family == libc::AF_INET as u8 && address.prefix_len < 31 && address.local.len() == 4 {
            put_attr(&mut m, IFA_BROADCAST, &broadcast(&address.local, address.prefix_len));
        }
        self.exchange(m).map(drop)
    }
}

/// The IPv4 broadcast address of `addr`/`prefix_len`.
fn broadcast(addr: &[u8], prefix_len: u8) -> Vec<u8> {
    let ip = u32::from_be_bytes(addr.try_into().expect("an IPv4 address"));
    let host_bits = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
    (ip | host_bits).to_be_bytes().to_vec()
}

/// A `struct ifinfomsg` for link `index` with `flags` of the bits in `change`.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; IFINFOMSG] {
    let mut b = [0u8; IFINFOMSG];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// `name` with its NUL.
fn c_name(name: &str) -> Vec<u8> {
    let mut b = name.as_bytes().to_vec();
    b.push(0);
    b
}

/// Rounds up to netlink's 4-byte alignment.
fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends a `struct rtattr` of type `ty` with `data`, padded.
fn put_attr(m: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = (4 + data.len()) as u16;
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(data);
    m.resize(align(m.len()), 0);
}

/// The attributes in `b`: (type, data).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            return None;
        }
        let data = &b[4..len];
        b = &b[align(len).min(b.len())..];
        Some((ty, data))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_follow_the_kernel() {
        for ok in ["eth0", "a", "ctr_dummy0", "123456789012345", "dev-1.2"] {
            assert!(valid_device_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "1234567890123456"] {
            assert!(!valid_device_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn broadcast_of_a_subnet() {
        assert_eq!(broadcast(&[10, 1, 2, 3], 24), vec![10, 1, 2, 255]);
        assert_eq!(broadcast(&[169, 254, 169, 13], 16), vec![169, 254, 255, 255]);
        assert_eq!(broadcast(&[10, 0, 0, 1], 0), vec![255, 255, 255, 255]);
    }

    #[test]
    fn attributes_round_trip() {
        let mut m = Vec::new();
        put_attr(&mut m, IFLA_IFNAME, &c_name("eth0"));
        put_attr(&mut m, IFA_FLAGS, &0x80u32.to_ne_bytes());
        let got: Vec<_> = attrs(&m).collect();
        assert_eq!(
            got,
            vec![(IFLA_IFNAME, &b"eth0\0"[..]), (IFA_FLAGS, &0x80u32.to_ne_bytes()[..])]
        );
    }

    #[test]
    fn a_missing_link_is_enodev() {
        let mut nl = Netlink::open().unwrap();
        let err = nl.link_index("ocirun-nodev9").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
        assert!(nl.link_index("lo").unwrap() > 0);
    }
}
