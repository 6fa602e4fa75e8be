#!/usr/bin/env python3
"""Checks that the code the `ocirun` binary runs before the C library starts can run there.

Usage: scripts/check-entry.py BINARY

The binary's ELF entry (ocirun-exeseal's `ocirun_entry`, x86_64) runs before a static-pie
binary has relocated itself and before the C library (glibc or musl) has set up a thread
pointer. Everything it reaches must therefore make no indirect call or jump (through the GOT, a
PLT or a table), read nothing from the sections that hold addresses to relocate (.got, .got.plt,
.data.rel.ro, .init_array, .fini_array, .data), use no %fs/%gs (thread-local storage) and call
nothing but its own code, until its one jump to the C library's `_start`. The compiler decides
most of that, so the shipped binary is checked, by recursive disassembly from the ELF entry
(objdump), symbols or not. Exits 1 with the offending instructions.
"""
import re
import subprocess
import sys

FORBIDDEN_SECTIONS = (".got", ".got.plt", ".data.rel.ro", ".init_array", ".fini_array", ".data")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(.*)$")


def sections(binary):
    """(name, start, end) of each allocated section."""
    out = subprocess.run(["readelf", "-SW", binary], check=True, capture_output=True, text=True).stdout
    result = []
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m:
            start, size = int(m.group(2), 16), int(m.group(3), 16)
            result.append((m.group(1), start, start + size))
    return result


def entry_address(binary):
    out = subprocess.run(["readelf", "-hW", binary], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"Entry point address:\s+0x([0-9a-f]+)", out).group(1), 16)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check-entry.py BINARY")
    binary = sys.argv[1]
    secs = sections(binary)
    text = next((s for s in secs if s[0] == ".text"), None)
    entry = entry_address(binary)
    if text is None or not text[1] <= entry < text[2]:
        sys.exit(f"check-entry: the entry {entry:#x} is not in .text")
    dump = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", "-M", "att", f"--start-address={text[1]:#x}",
         f"--stop-address={text[2]:#x}", binary],
        check=True, capture_output=True, text=True).stdout
    insns = {}
    order = []
    for line in dump.splitlines():
        m = INSN.match(line)
        if m:
            addr = int(m.group(1), 16)
            insns[addr] = m.group(2).split("#")[0].strip(), line.strip()
            order.append(addr)
    following = {a: b for a, b in zip(order, order[1:])}

    problems = []
    seen = set()
    # (address, whether this is the entry's own code, which alone may jump to _start)
    work = [(entry, True)]
    while work:
        addr, in_entry = work.pop()
        while addr is not None and addr not in seen:
            seen.add(addr)
            if addr not in insns:
                problems.append(f"{addr:#x}: reached, but objdump decoded no instruction there")
                break
            insn, line = insns[addr]
            mnemonic = insn.split()[0] if insn else ""
            # A direct target: "2ac7c4 <name>" with symbols, "0x2ac7c4" without.
            operands = insn.split()[1:]
            target = re.fullmatch(r"(?:0x)?([0-9a-f]+)", operands[0]) if operands else None
            direct = int(target.group(1), 16) if target else None
            if "%fs:" in insn or "%gs:" in insn:
                problems.append(f"thread-local storage: {line}")
            for m in re.finditer(r"(-?0x[0-9a-f]+)?\(%rip\)", insn):
                ref = re.search(r"#\s*([0-9a-f]+)", line)
                if ref:
                    where = int(ref.group(1), 16)
                    for name, start, end in secs:
                        if start <= where < end and name in FORBIDDEN_SECTIONS:
                            problems.append(f"reads {name}, not relocated yet: {line}")
            if mnemonic.startswith("call"):
                if "*" in insn or direct is None:
                    problems.append(f"indirect call: {line}")
                else:
                    work.append((direct, False))
                addr = following.get(addr)
            elif mnemonic.startswith("j"):
                unconditional = mnemonic in ("jmp", "jmpq")
                if "*" in insn or direct is None:
                    problems.append(f"indirect jump: {line}")
                    break
                if unconditional and in_entry:
                    # The entry's jump to the C library's _start: where the checked code ends.
                    break
                work.append((direct, in_entry))
                if unconditional:
                    break
                addr = following.get(addr)
            elif mnemonic.startswith("ret") or mnemonic in ("ud2", "hlt"):
                break
            else:
                addr = following.get(addr)
    if problems:
        print(f"check-entry: {binary}: the code before the C library starts cannot run there:")
        for p in sorted(set(problems)):
            print(f"  {p}")
        sys.exit(1)
    print(f"check-entry: {binary}: {len(seen)} instructions reachable from the entry, none needs "
          "relocation, a thread pointer or the C library")


if __name__ == "__main__":
    main()
