#!/usr/bin/env python3
"""The include rules that keep weft's layers apart.

`-Isrc` is on every compile line, so a wrong include builds and passes; this
check is what stops it. Three rules, over every #include of the C files
under src/, include/, apps/, tests/, fuzz/, bench/ and examples/:

1. Nothing outside src/rt/ includes a file of src/rt/: rt_int.h and io_int.h
   are the runtime's private headers. Modules get what they need from the
   documented tier, include/weft/impl.h (docs/runtime.md, "For module
   authors"); tests reach the runtime through weft__test_* hooks.
2. src/base/ is the bottom layer: it includes only weft/base.h, weft/log.h,
   its own headers and system headers (the log's task names come through a
   callback, weft_log_set_context, not an include of the runtime).
3. A module (a directory src/M/ or apps/A/) includes no other module's
   private header (a *_int.h). Tests and fuzz targets may: they test the
   module's internals.

An include is resolved as the compiler would: "x.h" against the including
file's directory, then (as <x.h> is) against src/ and include/, then as a
path ending in x.h anywhere checked (for the apps' extra -I directories).
An unresolved <x.h> is a system header.

Prints each violation as path:line: what and why, and exits 1; or prints a
one-line summary and exits 0. Usage: scripts/check-layers.py [--root DIR]
"""
import os
import re
import sys

DIRS = ["src", "include", "apps", "tests", "fuzz", "bench", "examples"]
SKIP = {"build", "corpus", "node_modules", "target", ".git"}
EXTS = (".c", ".h", ".S")
# What src/base/ may include beyond its own files.
BASE_MAY = {"include/weft/base.h", "include/weft/log.h"}

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def files(root):
    for d in DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, d)):
            dirnames[:] = sorted(x for x in dirnames if x not in SKIP)
            for f in sorted(filenames):
                if f.endswith(EXTS):
                    yield os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")


def includes(text):
    """(line, '<' or '"', name) of each #include outside comments."""
    # blank comments but keep their newlines, so line numbers hold
    text = COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    for m in INCLUDE.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2).strip()


def resolve(src, quote, name, known):
    """The repository path (relative, '/') that src's #include names, or None."""
    cands = []
    if quote == '"':
        cands.append(os.path.join(os.path.dirname(src), name))
    cands += [os.path.join("src", name), os.path.join("include", name)]
    for c in cands:
        c = os.path.normpath(c).replace(os.sep, "/")
        if c in known:
            return c
    if quote == '"':  # an app's -I directory (fleet-sim builds with -Iapps/fleet)
        hits = [k for k in known if k.endswith("/" + name)]
        if len(hits) == 1:
            return hits[0]
    return None


def module(path):
    """'src/http' for src/http/server.c; None outside src/ and apps/."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] in ("src", "apps"):
        return parts[0] + "/" + parts[1]
    return None


def check(root):
    known = set(files(root))
    out = []
    for src in sorted(known):
        with open(os.path.join(root, src), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for line, quote, name in includes(text):
            dst = resolve(src, quote, name, known)
            spelled = '"%s"' % name if quote == '"' else "<%s>" % name
            in_rt, m = src.startswith("src/rt/"), module(src)
            why = None  # the first rule the include breaks: one line per include
            if dst and dst.startswith("src/rt/") and not in_rt:
                why = "src/rt/ is the runtime's own; use include/weft/impl.h (or a weft__test_* hook in a test)"
            elif not dst and not in_rt and os.path.basename(name) in ("rt_int.h", "io_int.h"):
                why = "the runtime's private header, outside src/rt/"
            elif src.startswith("src/base/") and dst and not dst.startswith("src/base/") and dst not in BASE_MAY:
                why = "src/base/ is the bottom layer (weft/base.h, weft/log.h and its own headers only)"
            elif src.startswith("src/base/") and not dst and quote == '"':
                why = "src/base/ includes a file this check cannot find"
            elif m and dst and dst.endswith("_int.h") and module(dst) != m:
                why = "%s's private header, included from %s" % (module(dst) or os.path.dirname(dst), m)
            if why:
                out.append("%s:%d: #include %s: %s" % (src, line, spelled, why))
    return out, len(known)


def main(argv):
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if argv[:1] == ["--root"] and len(argv) > 1:
        root = argv[1]
    out, n = check(root)
    for line in out:
        print(line)
    if out:
        print("layers: %d include(s) cross a layer (rules: scripts/check-layers.py)" % len(out))
        return 1
    print("layers: %d C files, no include crosses a layer" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
