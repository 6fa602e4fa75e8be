"""A stand-in for systemd's D-Bus Manager, for ocirun's systemd cgroup driver tests.

Owns org.freedesktop.systemd1 on the bus given as argv[1], answers Subscribe,
StartTransientUnit and StopUnit, records each call as a JSON line in argv[2], and
emits JobRemoved for each job: "failed" for a unit whose name contains "fail",
"done" otherwise. It makes no cgroups: the runtime's driver writes them itself.
"""
import json
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

IFACE = "org.freedesktop.systemd1.Manager"


def plain(value):
    if isinstance(value, (dbus.Array, list)):
        return [plain(v) for v in value]
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.UInt32, dbus.Int32, dbus.UInt64, dbus.Int64)):
        return int(value)
    return str(value)


class Manager(dbus.service.Object):
    def __init__(self, bus, log):
        super().__init__(bus, "/org/freedesktop/systemd1")
        self.jobs = 0
        self.log = log

    def record(self, call):
        with open(self.log, "a") as f:
            f.write(json.dumps(call) + "\n")

    def job(self, unit, result):
        self.jobs += 1
        n, path = self.jobs, "/org/freedesktop/systemd1/job/%d" % self.jobs
        GLib.idle_add(lambda: self.JobRemoved(n, path, unit, result) and False)
        return dbus.ObjectPath(path)

    @dbus.service.method(IFACE, in_signature="", out_signature="")
    def Subscribe(self):
        pass

    @dbus.service.method(IFACE, in_signature="ssa(sv)a(sa(sv))", out_signature="o")
    def StartTransientUnit(self, name, mode, props, aux):
        self.record({"call": "start", "unit": str(name), "mode": str(mode),
                     "props": {str(k): plain(v) for k, v in props}})
        return self.job(str(name), "failed" if "fail" in name else "done")

    @dbus.service.method(IFACE, in_signature="ss", out_signature="o")
    def StopUnit(self, name, mode):
        self.record({"call": "stop", "unit": str(name), "mode": str(mode)})
        return self.job(str(name), "done")

    @dbus.service.signal(IFACE, signature="uoss")
    def JobRemoved(self, n, path, unit, result):
        pass


dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
name = dbus.service.BusName("org.freedesktop.systemd1", bus)
manager = Manager(bus, sys.argv[2])
print("ready", flush=True)
GLib.MainLoop().run()
