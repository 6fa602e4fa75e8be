//! A minimal D-Bus client: EXTERNAL authentication over a unix socket, method calls, and
//! reading replies and signals. Just what the systemd driver needs: systemd's
//! StartTransientUnit, StopUnit and Subscribe, and its JobRemoved signal.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A value to marshal, in the few D-Bus types the driver sends.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Bool(bool),
    Str(String),
    ObjectPath(String),
    U32Array(Vec<u32>),
    U64(u64),
    Bytes(Vec<u8>),
}

impl Value {
    fn signature(&self) -> &'static str {
        match self {
            Value::Bool(_) => "b",
            Value::Str(_) => "s",
            Value::ObjectPath(_) => "o",
            Value::U32Array(_) => "au",
            Value::U64(_) => "t",
            Value::Bytes(_) => "ay",
        }
    }
}

/// A message body or header being marshalled (little endian), with D-Bus alignment.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n) {
            self.buf.push(0);
        }
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn signature(&mut self, s: &str) {
        self.u8(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// An array whose elements `f` writes; `elem_align` is the alignment of its element type.
    pub(crate) fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut Writer)) {
        self.u32(0);
        let len_at = self.buf.len() - 4;
        self.align(elem_align);
        let start = self.buf.len();
        f(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// The start of a struct (8-byte aligned).
    pub(crate) fn struct_start(&mut self) {
        self.align(8);
    }

    pub(crate) fn value(&mut self, v: &Value) {
        match v {
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::Str(s) | Value::ObjectPath(s) => self.str(s),
            Value::U32Array(a) => self.array(4, |w| a.iter().for_each(|n| w.u32(*n))),
            Value::U64(n) => {
                self.align(8);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
            Value::Bytes(b) => self.array(1, |w| w.buf.extend_from_slice(b)),
        }
    }

    /// A variant: its signature, then the value.
    pub(crate) fn variant(&mut self, v: &Value) {
        self.signature(v.signature());
        self.value(v);
    }
}

/// Reads a received message's body (little endian only: what every Linux bus sends).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn align(&mut self, n: usize) {
        self.pos = self.pos.div_ceil(n) * n;
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.buf.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(b)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.align(4);
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    pub(crate) fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        let s = String::from_utf8(self.bytes(n)?.to_vec()).ok()?;
        self.bytes(1)?;
        Some(s)
    }

    fn signature(&mut self) -> Option<String> {
        let n = *self.bytes(1)?.first()? as usize;
        let s = String::from_utf8(self.bytes(n)?.to_vec()).ok()?;
        self.bytes(1)?;
        Some(s)
    }

    /// A variant holding a string or object path (a `Properties.Get` reply).
    pub(crate) fn variant_str(&mut self) -> Option<String> {
        matches!(self.signature()?.as_str(), "s" | "o").then(|| self.str())?
    }
}

/// What a received message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Return,
    Error,
    Signal,
    Other,
}

/// A received message.
#[derive(Debug)]
pub(crate) struct Message {
    pub kind: Kind,
    pub reply_serial: Option<u32>,
    pub error_name: Option<String>,
    pub member: Option<String>,
    pub body: Vec<u8>,
}

/// A connection to a bus or to systemd's private socket.
pub(crate) struct Connection {
    reader: BufReader<UnixStream>,
    serial: u32,
    /// Signals that arrived while a call waited for its reply.
    pending: std::collections::VecDeque<Message>,
}

/// The socket path of a D-Bus address's first `unix:path=` part.
fn unix_path(address: &str) -> Option<String> {
    address.split(';').find_map(|part| {
        part.strip_prefix("unix:path=")
            .map(|p| p.split(',').next().unwrap_or(p).to_string())
    })
}

/// Where the system bus is: `DBUS_SYSTEM_BUS_ADDRESS` (unix:path=...), else the usual socket.
pub(crate) fn system_bus_path() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .ok()
        .and_then(|a| unix_path(&a))
        .unwrap_or_else(|| "/run/dbus/system_bus_socket".to_string())
}

/// Where the caller's user bus is, as runc's DetectUserDbusSessionBusAddress finds it:
/// `DBUS_SESSION_BUS_ADDRESS` (unix:path=...), else `$XDG_RUNTIME_DIR/bus`.
pub(crate) fn user_bus_path() -> Option<String> {
    std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .and_then(|a| unix_path(&a))
        .or_else(|| {
            std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|d| !d.is_empty())
                .map(|d| std::path::Path::new(&d).join("bus").display().to_string())
        })
}

impl Connection {
    /// Connects to the bus at `path`, authenticates as this process's uid and says Hello.
    pub(crate) fn open(path: &str, timeout: Duration) -> std::io::Result<Connection> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(timeout))?;
        let uid = ocirun_sys::process::getuid();
        let hex: String = uid.to_string().bytes().map(|b| format!("{b:02x}")).collect();
        let mut w = stream.try_clone()?;
        w.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if !line.starts_with("OK ") {
            return Err(std::io::Error::other(format!(
                "D-Bus authentication refused: {}",
                line.trim()
            )));
        }
        w.write_all(b"BEGIN\r\n")?;
        let mut c = Connection {
            reader,
            serial: 0,
            pending: std::collections::VecDeque::new(),
        };
        let hello = c.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            "",
            Writer::default(),
        )?;
        if hello.kind == Kind::Error {
            return Err(std::io::Error::other("D-Bus Hello refused"));
        }
        Ok(c)
    }

    /// Sends a method call and waits for its reply; signals that arrive meanwhile are kept
    /// for [`next_signal`](Self::next_signal).
    pub(crate) fn call(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        signature: &str,
        body: Writer,
    ) -> std::io::Result<Message> {
        self.serial += 1;
        let serial = self.serial;
        let mut fields: Vec<(u8, Value)> = vec![
            (1, Value::ObjectPath(path.into())),
            (2, Value::Str(interface.into())),
            (3, Value::Str(member.into())),
            (6, Value::Str(destination.into())),
        ];
        let mut h = Writer::default();
        h.u8(b'l');
        h.u8(1); // METHOD_CALL
        h.u8(0);
        h.u8(1);
        h.u32(body.buf.len() as u32);
        h.u32(serial);
        if !signature.is_empty() {
            fields.push((8, Value::Str(String::new())));
        }
        h.array(8, |w| {
            for (code, v) in &fields {
                w.struct_start();
                w.u8(*code);
                if *code == 8 {
                    w.signature("g");
                    w.signature(signature);
                } else {
                    w.variant(v);
                }
            }
        });
        h.align(8);
        h.buf.extend_from_slice(&body.buf);
        self.reader.get_mut().write_all(&h.buf)?;
        loop {
            let m = self.read()?;
            if matches!(m.kind, Kind::Return | Kind::Error) && m.reply_serial == Some(serial) {
                return Ok(m);
            }
            if m.kind == Kind::Signal {
                self.pending.push_back(m);
            }
        }
    }

    /// The next signal: one that came during a call, else the next one read.
    pub(crate) fn next_signal(&mut self) -> std::io::Result<Message> {
        if let Some(m) = self.pending.pop_front() {
            return Ok(m);
        }
        loop {
            let m = self.read()?;
            if m.kind == Kind::Signal {
                return Ok(m);
            }
        }
    }

    /// Reads one message.
    pub(crate) fn read(&mut self) -> std::io::Result<Message> {
        let mut fixed = [0u8; 16];
        self.reader.read_exact(&mut fixed)?;
        if fixed[0] != b'l' {
            return Err(std::io::Error::other("big-endian D-Bus message"));
        }
        let kind = match fixed[1] {
            2 => Kind::Return,
            3 => Kind::Error,
            4 => Kind::Signal,
            _ => Kind::Other,
        };
        let body_len = u32::from_le_bytes(fixed[4..8].try_into().expect("4 bytes")) as usize;
        let fields_len = u32::from_le_bytes(fixed[12..16].try_into().expect("4 bytes")) as usize;
        let padded = (fields_len).div_ceil(8) * 8;
        let mut rest = vec![0u8; padded + body_len];
        self.reader.read_exact(&mut rest)?;
        // The fields, read with the 16 fixed bytes in front so that alignment holds.
        let mut header = fixed.to_vec();
        header.extend_from_slice(&rest[..fields_len]);
        let mut r = Reader::new(&header);
        r.pos = 16;
        let (mut reply_serial, mut error_name, mut member) = (None, None, None);
        while r.pos < header.len() {
            r.align(8);
            let Some(code) = r.bytes(1).map(|b| b[0]) else { break };
            let Some(sig) = r.signature() else { break };
            match sig.as_str() {
                "u" => {
                    let v = r.u32();
                    if code == 5 {
                        reply_serial = v;
                    }
                }
                "s" | "o" => {
                    let v = r.str();
                    match code {
                        4 => error_name = v,
                        3 => member = v,
                        _ => {}
                    }
                }
                "g" => {
                    r.signature();
                }
                _ => break,
            }
        }
        Ok(Message {
            kind,
            reply_serial,
            error_name,
            member,
            body: rest[padded..].to_vec(),
        })
    }
}
