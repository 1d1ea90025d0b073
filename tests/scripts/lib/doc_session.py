#!/usr/bin/env python3
"""tests/scripts/lib/doc_session.py — run a shell session written in a doc
and check that every command prints what the doc shows.

    doc_session.py DOC MARKER WORKDIR [FROM=TO ...]

The session is the first ```sh block after the line MARKER in DOC. A line
"$ command" (continued by lines while it ends with a backslash) is run; the
lines after it, up to the next "$ ", are what it prints. All commands run in
one bash, in order, in WORKDIR (so variables and cookie files carry over),
after replacing each FROM with TO in them (the doc's ports by the test's).

Matching, line by line, trailing spaces and blank lines ignored:
  - "..." in a shown line stands for any text;
  - a time with milliseconds other than .000 is the server's clock: any time;
  - an API token (wft_...) is any token; Retry-After and "try again in N s"
    any number of seconds (run-to-run values the doc says differ);
  - the headers of a response shown with -i (the lines from "HTTP/1.1" to
    the first blank line) are a subset: the ones shown, in order.
Prints "  ok   $ command" or "  FAIL $ command" and the difference, per
command (the caller counts them); exit status 0 only when all passed.
"""
import re
import subprocess
import sys

VOLATILE = re.compile(
    r"(?P<any>\.\.\.)"
    r"|(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(?!000)\d{3}Z)"
    r"|(?P<token>wft_[A-Za-z0-9_-]{20,})"
    r"|(?P<retry>(?<=Retry-After: )\d+|(?<=try again in )\d+(?= s))"
)
REPL = {
    "any": ".*",
    "time": r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
    "token": r"wft_[A-Za-z0-9_-]{20,}",
    "retry": r"\d+",
}


def line_re(shown):
    out, pos = [], 0
    for m in VOLATILE.finditer(shown):
        out.append(re.escape(shown[pos : m.start()]))
        out.append(REPL[m.lastgroup])
        pos = m.end()
    out.append(re.escape(shown[pos:]))
    return re.compile("".join(out) + r"\Z")


def session(doc, marker):
    lines = open(doc, encoding="utf-8").read().split("\n")
    try:
        i = lines.index(marker)
    except ValueError:
        sys.exit(f"{doc}: no line {marker!r}")
    while i < len(lines) and lines[i] != "```sh":
        i += 1
    cmds = []
    for ln in lines[i + 1 :]:
        if ln == "```":
            break
        if cmds and cmds[-1][0][-1].endswith("\\") and not cmds[-1][1]:
            cmds[-1][0].append(ln)  # the command goes on
        elif ln.startswith("$ "):
            cmds.append(([ln[2:]], []))
        elif cmds:
            cmds[-1][1].append(ln)
    return [("\n".join(c), trim(o)) for c, o in cmds]


def trim(ls):
    ls = [x.rstrip() for x in ls]
    while ls and not ls[-1]:
        ls.pop()
    return ls


def matches(shown, got):
    """None when got (lines) is what shown (lines) shows, else why not."""
    si = gi = 0
    if shown and shown[0].startswith("HTTP/"):
        while si < len(shown) and shown[si]:  # the headers shown, in order, among those sent
            while gi < len(got) and got[gi] and not line_re(shown[si]).match(got[gi]):
                gi += 1
            if gi == len(got) or not got[gi]:
                return f"no header line like {shown[si]!r}"
            si, gi = si + 1, gi + 1
        while gi < len(got) and got[gi]:
            gi += 1
    if len(shown) - si != len(got) - gi:
        return f"{len(got) - gi} lines printed, the doc shows {len(shown) - si}"
    for s, g in zip(shown[si:], got[gi:]):
        if not line_re(s).match(g):
            return f"the doc shows\n        {s}\n      printed\n        {g}"
    return None


def main():
    doc, marker, workdir, *subs = sys.argv[1:]
    cmds = session(doc, marker)
    if not cmds:
        sys.exit(f"{doc}: no commands after {marker!r}")
    script = []
    for n, (cmd, _) in enumerate(cmds):
        for s in subs:
            a, b = s.split("=", 1)
            cmd = cmd.replace(a, b)
        script.append(f"printf '\\n@@@ {n} @@@\\n'\n{cmd}")
    script.append("printf '\\n@@@ end @@@\\n'")
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir, capture_output=True, text=True, timeout=120)
    parts = re.split(r"\n@@@ (\d+|end) @@@\n", "\n" + run.stdout)
    got = {}
    for k in range(1, len(parts) - 1, 2):
        got[parts[k]] = trim(parts[k + 1].split("\n"))
    passed = failed = 0
    for n, (cmd, shown) in enumerate(cmds):
        first = cmd.split("\n")[0]
        why = matches(shown, got[str(n)]) if str(n) in got else "did not run"
        if why is None:
            passed += 1
            print(f"  ok   $ {first}")
        else:
            failed += 1
            print(f"  FAIL $ {first}\n      {why}")
            if "lines printed" in why or "header" in why:
                print("      printed:\n" + "\n".join("        " + g for g in got.get(str(n), [])))
    if run.stderr.strip():
        print("  stderr of the session:\n" + "\n".join("    " + x for x in run.stderr.strip().split("\n")))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
