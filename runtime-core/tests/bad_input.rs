//! Bad input gets a clear error naming the problem and leaves nothing behind.

mod common;

use common::expect_create_error;
use runtime_core::{Container, Error};
use serde_json::json;
use test_support::{Bundle, footprint, require_prerequisites, unique_id};

// These run one after another in one test so the footprint counts are not
// disturbed by other tests of this file.
#[test]
fn bad_input_is_named_and_leaves_nothing() {
    require_prerequisites();
    // A malformed config.json.
    let b = Bundle::new(&["true"]);
    std::fs::write(b.path().join("config.json"), "{ not json").unwrap();
    expect_create_error(&b, &["config.json"]);

    // A missing rootfs.
    let b = Bundle::new(&["true"]);
    std::fs::remove_dir_all(b.rootfs()).unwrap();
    b.write();
    expect_create_error(&b, &["root.path"]);

    // An unsupported ociVersion.
    let mut b = Bundle::new(&["true"]);
    b.spec["ociVersion"] = json!("2.0.0");
    b.write();
    expect_create_error(&b, &["ociVersion"]);

    // A process that does not exist in the rootfs.
    let b = Bundle::new(&["no-such-binary"]);
    b.write();
    expect_create_error(&b, &["no-such-binary"]);

    // A mount the kernel refuses.
    let mut b = Bundle::new(&["true"]);
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    mounts.push(json!({"destination": "/bad", "type": "nosuchfs", "source": "x"}));
    b.spec["mounts"] = json!(mounts);
    b.write();
    expect_create_error(&b, &["/bad"]);

    // An rlimit whose soft value is above its hard value.
    let mut b = Bundle::new(&["true"]);
    b.spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}]);
    b.write();
    expect_create_error(&b, &["RLIMIT_NOFILE"]);

    // A hostname without a uts namespace.
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}]);
    b.write();
    expect_create_error(&b, &["hostname"]);

    // A namespace path that is not a namespace.
    let mut b = Bundle::new(&["true"]);
    b.spec["linux"]["namespaces"] =
        json!([{"type": "mount"}, {"type": "uts"}, {"type": "network", "path": "/etc/hostname"}]);
    b.write();
    expect_create_error(&b, &["/etc/hostname"]);

    // Seccomp profiles: an unknown action, operator or architecture, an empty names list.
    for (profile, want) in [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_MAYBE"}]}),
            "syscalls[0].action",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
                   "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ROUGHLY"}]}]}),
            "syscalls[0].args[0].op",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
            "architectures[0]",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PPC64LE"]}),
            "SCMP_ARCH_PPC64LE is not supported",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}),
            "syscalls[0].names is empty",
        ),
    ] {
        let mut b = Bundle::new(&["true"]);
        b.spec["linux"]["seccomp"] = profile;
        b.write();
        expect_create_error(&b, &[want]);
    }
    // A notify listener nobody listens on: no container rather than one without its agent.
    let mut b = Bundle::new(&["true"]);
    let sock = b.path().join("nobody.sock");
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.write();
    expect_create_error(&b, &[&sock.display().to_string()]);

    // Hooks: a relative path, a binary that does not exist, one that fails, one that times out.
    for (kind, hook, want) in [
        ("prestart", json!({"path": "bin/true"}), "hooks.prestart[0].path"),
        (
            "createRuntime",
            json!({"path": "/no/such/hook"}),
            "createRuntime hook 0 (/no/such/hook): exec /no/such/hook: No such file or directory",
        ),
        (
            "createContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 4"]}),
            "createContainer hook 0 (/bin/sh): exited with status 4, stderr: nope",
        ),
        (
            "prestart",
            json!({"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}),
            "prestart hook 0 (/bin/sleep): did not finish within its timeout of 1s",
        ),
        (
            "poststop",
            json!({"path": "/bin/true", "timeout": 0}),
            "hooks.poststop[0].timeout",
        ),
    ] {
        let mut b = Bundle::new(&["true"]);
        b.spec["hooks"] = json!({ kind: [hook] });
        b.write();
        expect_create_error(&b, &[want]);
    }

    // A duplicate id, an unknown id, start twice.
    let b = Bundle::new(&["sleep", "100"]);
    b.write();
    let id = unique_id("dup");
    let before = footprint();
    let c = Container::builder(&id)
        .root(b.state_root())
        .bundle(b.path())
        .create()
        .unwrap();
    let err = Container::builder(&id)
        .root(b.state_root())
        .bundle(b.path())
        .create()
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err}");
    assert!(err.to_string().contains(&id));
    let err = Container::load(b.state_root(), "nope").unwrap_err();
    assert!(
        matches!(err, Error::NotFound(_)) && err.to_string().contains("nope"),
        "{err}"
    );
    c.delete(true).unwrap();
    assert_eq!(footprint(), before, "delete --force left something");

    let b = Bundle::new(&["true"]);
    b.write();
    let mut c = Container::builder(unique_id("twice"))
        .root(b.state_root())
        .bundle(b.path())
        .run()
        .unwrap();
    c.wait().unwrap();
    let err = c.start().unwrap_err();
    assert!(err.to_string().contains("cannot start"), "{err}");
    c.delete(false).unwrap();
}
