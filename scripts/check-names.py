#!/usr/bin/env python3
"""Every weft_ / weft__ name the prose mentions must exist in the code.

Prose is docs/*.md, README.md and the comments of every C file under src/,
include/, apps/, examples/ and tests/. A name exists when some C file of the
tree (those directories plus fuzz/ and bench/micro/, or an assembly file)
declares or defines it: a macro (#define), a function (declared or defined
at file scope), a type (typedef, struct/union/enum tag), an enum constant,
a file-scope variable, or an assembly symbol. A name followed by '*' or
'...' in prose ("weft_http_*") is a prefix: some existing name must start
with it.

Prints each stale name with where it is mentioned and exits 1, or prints a
one-line summary and exits 0. Run from anywhere: paths are relative to the
repository root. Usage: scripts/check-names.py [-v]
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PROSE_C_DIRS = ["src", "include", "apps", "examples", "tests"]
CODE_DIRS = PROSE_C_DIRS + ["fuzz", "bench/micro"]

# Names that prose may use although no code defines them. Keep it short and
# say why for each.
ALLOW = {
    "weft_": "the prefix itself, in prose about naming",
    "weft__": "the internal prefix itself, in prose about naming",
}

# Stale names known to be fixed on another branch: reported, not failed.
# Remove each entry once its branch is merged (the check then says so).
PENDING = {
    "weft__stack_check": "src/rt/stack.c header comment; src/rt is the runtime branch's (issue 14)",
    "weft__wait_arm": "src/rt/rt_int.h wait-protocol comment; the runtime branch's (issue 14)",
}

NAME = re.compile(r"\bweft__?[A-Za-z0-9_]*")


def c_files(dirs, exts=(".c", ".h", ".S")):
    for d in dirs:
        top = os.path.join(ROOT, d)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(x for x in dirnames if x != "corpus")
            for f in sorted(filenames):
                if f.endswith(exts):
                    yield os.path.join(dirpath, f)


def split_c(text):
    """(code, comments) of a C file: code with comments and string/char
    literals blanked (newlines kept, so line numbers hold), and the list of
    (line, comment text)."""
    code = []
    comments = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            comments.append((line, text[i:j]))
            seg = text[i:j]
            code.append(re.sub(r"[^\n]", " ", seg))
            line += seg.count("\n")
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            comments.append((line, text[i:j]))
            code.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            seg = text[i:j]
            code.append(c + re.sub(r"[^\n]", " ", seg[1:-1]) + (seg[-1] if len(seg) > 1 else ""))
            line += seg.count("\n")
            i = j
        else:
            if c == "\n":
                line += 1
            code.append(c)
            i += 1
    return "".join(code), comments


DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(weft__?\w+)", re.M)
TAG = re.compile(r"\b(?:struct|union|enum)\s+(weft__?\w+)")
TYPEDEF_END = re.compile(r"\}\s*(weft__?\w+)\s*(?:,[^;]*)?;")
TYPEDEF_SIMPLE = re.compile(r"\btypedef\b[^;{}]*?\b(weft__?\w+)\s*(?:\[[^\]]*\])?\s*;")
TYPEDEF_FNPTR = re.compile(r"\btypedef\b[^;{}]*?\(\s*\*?\s*(weft__?\w+)\s*\)\s*\(")
TYPEDEF_FN = re.compile(r"\btypedef\b[^;{}(]*?\b(weft__?\w+)\s*\(")
# file scope (column 0): a function declaration or definition, or a variable
FILE_SCOPE_FN = re.compile(r"^(?!return\b|if\b|while\b|for\b|switch\b|case\b|else\b|do\b|goto\b)"
                           r"[A-Za-z_][\w \t\*]*?[\s\*](weft__?\w+)\s*\(", re.M)
FILE_SCOPE_VAR = re.compile(r"^(?!return\b|typedef\b)[A-Za-z_][\w \t\*]*?[\s\*](weft__?\w+)\s*"
                            r"(?:\[[^\]]*\])*\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?(?:=|;|,)", re.M)
ASM_SYM = re.compile(r"^[ \t]*(?:\.globl|\.global|\.type)[ \t]+(weft__?\w+)|^(weft__?\w+):", re.M)


def enum_constants(code):
    out = set()
    for m in re.finditer(r"\benum\b[^{;]*\{([^}]*)\}", code):
        for part in m.group(1).split(","):
            mm = re.match(r"\s*(weft__?\w+)\s*(?:=|$)", part)
            if mm:
                out.add(mm.group(1))
    return out


def defined_names():
    names = set()
    for path in c_files(CODE_DIRS):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        if path.endswith(".S"):
            names.update(a or b for a, b in ASM_SYM.findall(text))
            continue
        code, _ = split_c(text)
        # join backslash-continued lines (multi-line macros) for the regexes
        code = code.replace("\\\n", "  ")
        names.update(DEFINE.findall(code))
        names.update(TAG.findall(code))
        names.update(TYPEDEF_END.findall(code))
        names.update(TYPEDEF_SIMPLE.findall(code))
        names.update(TYPEDEF_FNPTR.findall(code))
        names.update(TYPEDEF_FN.findall(code))
        names.update(FILE_SCOPE_FN.findall(code))
        names.update(FILE_SCOPE_VAR.findall(code))
        names.update(enum_constants(code))
    return names


def mentions():
    """name -> [(file, line, is_prefix)]"""
    found = {}

    def scan(path, lineno, text):
        for m in NAME.finditer(text):
            name = m.group(0)
            after = text[m.end():m.end() + 3]
            prefix = after.startswith("*") or after.startswith("...") or after.startswith("<")
            if not prefix and name.endswith("_") and name not in ALLOW:
                prefix = True  # "weft_http_" in prose: a prefix
            ln = lineno + text.count("\n", 0, m.start())
            found.setdefault((name, prefix), []).append((os.path.relpath(path, ROOT), ln))

    docs = [os.path.join(ROOT, "README.md")]
    ddir = os.path.join(ROOT, "docs")
    if os.path.isdir(ddir):
        docs += [os.path.join(ddir, f) for f in sorted(os.listdir(ddir)) if f.endswith(".md")]
    for path in docs:
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                scan(path, 1, f.read())
    for path in c_files(PROSE_C_DIRS, (".c", ".h")):
        with open(path, encoding="utf-8", errors="replace") as f:
            _, comments = split_c(f.read())
        for line, text in comments:
            scan(path, line, text)
    return found


def main():
    verbose = "-v" in sys.argv[1:]
    defined = defined_names()
    stale = []
    found = mentions()
    pending = []
    for (name, prefix), where in sorted(found.items()):
        if name in ALLOW:
            continue
        ok = any(d.startswith(name) for d in defined) if prefix else name in defined
        if not ok:
            (pending if name in PENDING and not prefix else stale).append((name, prefix, where))
    for name, _, where in pending:
        print("pending (not failing): %s at %s -- %s" % (name, where[0][0], PENDING[name]))
    for name in sorted(set(PENDING) - {p[0] for p in pending}):
        why = "it exists now" if name in defined else "nothing mentions it now"
        print("note: PENDING entry %s can go (%s)" % (name, why))
    if verbose:
        print("%d names defined, %d mentioned" % (len(defined), len(found)))
    if stale:
        for name, prefix, where in stale:
            shown = ", ".join("%s:%d" % w for w in where[:6])
            more = " (+%d more)" % (len(where) - 6) if len(where) > 6 else ""
            what = "no name starts with" if prefix else "not declared anywhere:"
            print("stale name: %s %s -- mentioned at %s%s" % (what, name, shown, more))
        print("check-names: %d stale name(s) in docs/comments" % len(stale))
        return 1
    print("check-names: every weft_/weft__ name in docs and comments exists (%d checked)" % len(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
