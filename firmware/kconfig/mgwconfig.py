#!/usr/bin/python3
"""mgwconfig.py - the Kconfig verbs of the build, on Debian's kconfiglib.

usage: mgwconfig.py KCONFIG DOTCONFIG VERB [ARG]
  defconfig FILE      start .config from a board's defconfig (unset symbols: defaults)
  olddefconfig        bring .config up to date with Kconfig, new symbols at their default
  savedefconfig FILE  write the minimal defconfig that reproduces .config
  header FILE         write the C header: every symbol always defined (0/1, number,
                      string), rewritten only when its text changes so that an unchanged
                      configuration rebuilds nothing
  mk FILE             the same values as make variables (CONFIG_X := value)
"""
import os
import sys

import kconfiglib


def load(kconfig, dotconfig):
    kc = kconfiglib.Kconfig(kconfig, warn_to_stderr=False)
    for w in kc.warnings:
        print(w, file=sys.stderr)
    if os.path.exists(dotconfig):
        kc.load_config(dotconfig)
    return kc


def write_if_changed(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def values(kc):
    for sym in kc.unique_defined_syms:
        if sym.type in (kconfiglib.BOOL, kconfiglib.TRISTATE):
            yield sym.name, "bool", sym.tri_value == 2
        elif sym.type in (kconfiglib.INT, kconfiglib.HEX):
            yield sym.name, "int", sym.str_value or "0"
        elif sym.type == kconfiglib.STRING:
            yield sym.name, "string", sym.str_value


def header(kc):
    out = ["/* Generated from Kconfig by mgwconfig.py: do not edit. */",
           "#ifndef MGW_CONFIG_H", "#define MGW_CONFIG_H"]
    for name, kind, val in values(kc):
        if kind == "bool":
            val = "1" if val else "0"
        elif kind == "string":
            val = c_string(val)
        out.append("#define CONFIG_%s %s" % (name, val))
    out.append("#endif")
    return "\n".join(out) + "\n"


def mk(kc):
    out = ["# Generated from Kconfig by mgwconfig.py: do not edit."]
    for name, kind, val in values(kc):
        if kind == "bool":
            val = "y" if val else "n"
        out.append("CONFIG_%s := %s" % (name, val))
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    kconfig, dotconfig, verb = argv[1:4]
    arg = argv[4] if len(argv) > 4 else None
    if verb == "defconfig":
        kc = kconfiglib.Kconfig(kconfig, warn_to_stderr=False)
        if not os.path.exists(arg):
            print("%s: no such defconfig" % arg, file=sys.stderr)
            return 1
        kc.load_config(arg)
        kc.write_config(dotconfig, save_old=False)
    elif verb == "olddefconfig":
        kc = load(kconfig, dotconfig)
        kc.write_config(dotconfig, save_old=False)
    elif verb == "savedefconfig":
        kc = load(kconfig, dotconfig)
        kc.write_min_config(arg)
        print("wrote %s" % arg)
    elif verb == "header":
        write_if_changed(arg, header(load(kconfig, dotconfig)))
    elif verb == "mk":
        write_if_changed(arg, mk(load(kconfig, dotconfig)))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
