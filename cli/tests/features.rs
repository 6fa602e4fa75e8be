//! `ocirun features`: the document has the spec's shape, and what it lists works.

mod common;

use std::process::Stdio;

use common::{ocirun, run_ok};
use serde_json::{Value, json};
use test_support::{Bundle, require_prerequisites, unique_id};

fn features() -> Value {
    let out = run_ok(ocirun(std::path::Path::new("/nonexistent")).arg("features"));
    serde_json::from_slice(&out.stdout).expect("features is JSON")
}

#[test]
fn the_document_has_the_shape_of_the_spec() {
    let doc = features();
    // The runtime-spec's own types read it back to the same JSON: no unknown field, no wrong type.
    let typed: oci_spec::runtime::Features = serde_json::from_value(doc.clone()).expect("it is a features document");
    assert_eq!(serde_json::to_value(&typed).unwrap(), doc);
    let version = |v: &Value| -> Vec<u32> { v.as_str().unwrap().split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(version(&doc["ociVersionMin"]) <= version(&doc["ociVersionMax"]));
    assert_eq!(
        doc["hooks"],
        json!([
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ])
    );
    let seccomp = &doc["linux"]["seccomp"];
    assert_eq!(seccomp["actions"].as_array().unwrap().len(), 9, "{seccomp}");
    assert_eq!(seccomp["operators"].as_array().unwrap().len(), 7, "{seccomp}");
    assert_eq!(doc["linux"]["namespaces"].as_array().unwrap().len(), 8);
    // Id-mapped mounts (containerd asks before it uses them), with their two options.
    assert_eq!(doc["linux"]["mountExtensions"]["idmap"]["enabled"], json!(true));
    let options = doc["mountOptions"].as_array().unwrap();
    assert!(
        options.contains(&json!("idmap")) && options.contains(&json!("ridmap")),
        "{options:?}"
    );
}

/// Runs `args` in `b` through `ocirun run`; returns stdout, panicking with stderr on failure.
fn run(b: &Bundle) -> String {
    b.write();
    let out = ocirun(&b.state_root())
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(unique_id("feat"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_listed_mount_option_namespace_capability_and_seccomp_value_works() {
    require_prerequisites();
    let doc = features();

    // Every mount option on a mount of its own. `remount` is only accepted on a bind (where it
    // changes nothing): on a new filesystem it would reconfigure whatever filesystem is
    // mounted at the destination, a host one under a volume included.
    let mut b = Bundle::new(&["sh", "-c", "grep -c ' /m/' /proc/self/mountinfo"]);
    std::fs::create_dir(b.rootfs().join("m")).unwrap();
    let src = b.path().join("bindsrc");
    std::fs::create_dir(&src).unwrap();
    let mut mounts = b.spec["mounts"].as_array().unwrap().clone();
    let options: Vec<&str> = doc["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    let mut count = 0;
    for option in &options {
        std::fs::create_dir(b.rootfs().join("m").join(option)).unwrap();
        let m = match *option {
            "bind" | "rbind" => {
                json!({"destination": format!("/m/{option}"), "type": "bind", "source": src, "options": [option]})
            }
            // Id-mapped through maps of their own: the container has no user namespace.
            "idmap" | "ridmap" => json!({
                "destination": format!("/m/{option}"), "type": "bind", "source": src, "options": ["rbind", option],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
            }),
            "remount" => {
                json!({"destination": "/m/remount", "type": "bind", "source": src, "options": ["rbind", "remount"]})
            }
            _ => {
                json!({"destination": format!("/m/{option}"), "type": "tmpfs", "source": "tmpfs", "options": [option]})
            }
        };
        count += 1;
        mounts.push(m);
    }
    b.spec["mounts"] = json!(mounts);
    b.spec["root"]["readonly"] = json!(false);
    assert_eq!(run(&b).trim(), count.to_string(), "every mount option mounted");

    // Every namespace at once (the user namespace with maps, the time namespace too).
    let mut b = Bundle::new(&["sh", "-c", "echo ok"]);
    b.spec["linux"]["namespaces"] = json!(
        doc["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| json!({"type": n}))
            .collect::<Vec<_>>()
    );
    // sysfs cannot be mounted in a user namespace without its own network namespace's owner: keep it simple.
    b.spec["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
    b.map_ids_to(100000);
    assert_eq!(run(&b).trim(), "ok");

    // Every capability in every set of a root process, of those this machine's root holds
    // (a VM may withhold some from root itself).
    let mut b = Bundle::new(&["sh", "-c", "grep CapBnd /proc/self/status"]);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap().trim();
    let ours = u64::from_str_radix(ours, 16).unwrap();
    let caps: Vec<&Value> = doc["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(bit, _)| *bit < 64 && ours & (1 << bit) != 0)
        .map(|(_, c)| c)
        .collect();
    for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
        b.spec["process"]["capabilities"][set] = json!(caps);
    }
    assert_eq!(run(&b).trim(), format!("CapBnd:\t{ours:016x}"));

    // Every seccomp action (NOTIFY needs an agent: the seccomp tests cover it), operator and architecture.
    let mut b = Bundle::new(&["sh", "-c", "echo filtered"]);
    let seccomp = &doc["linux"]["seccomp"];
    let rarely = [
        "acct",
        "swapon",
        "swapoff",
        "reboot",
        "kexec_load",
        "init_module",
        "delete_module",
        "syslog",
    ];
    let mut rules = Vec::new();
    for (i, action) in seccomp["actions"].as_array().unwrap().iter().enumerate() {
        if action != "SCMP_ACT_NOTIFY" {
            rules.push(json!({"names": [rarely[i % rarely.len()]], "action": action}));
        }
    }
    for op in seccomp["operators"].as_array().unwrap() {
        rules.push(json!({"names": ["syslog"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 1000, "valueTwo": 1000, "op": op}]}));
    }
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": seccomp["archs"].as_array().unwrap().iter()
            .filter(|a| ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"].contains(&a.as_str().unwrap()))
            .collect::<Vec<_>>(),
        // WAIT_KILLABLE_RECV is for notify rules, which need an agent.
        "flags": seccomp["supportedFlags"].as_array().unwrap().iter()
            .filter(|f| *f != "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
            .collect::<Vec<_>>(),
        "syscalls": rules
    });
    assert_eq!(run(&b).trim(), "filtered");
}
