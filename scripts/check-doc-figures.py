#!/usr/bin/env python3
"""Flag every measured-looking figure in docs/*.md that has no result file
behind it (issue 13, A.7: every figure in docs/ comes from a committed
result file in bench/results/).

A figure is a number with a unit of time, rate, size or ratio (21.7 ns,
65,931 req/s, 4 KB, 2.2-7.1x, 38 %). A paragraph (lines up to a blank line;
a table is one paragraph) passes when it names a bench/results/ file, and
that file exists. Limits and sizes that are settings, not measurements, are
told apart by the words around them (limit, max, default, timeout, ...):
those are skipped, and so is a table whose header row says limit or
default. Fenced and indented code is skipped. Prints file:line: figure for
each one left; exit 1 when
there is any.

    python3 scripts/check-doc-figures.py [docs/x.md ...]
"""
import glob
import os
import re
import sys

UNIT = (r"(?:ns|µs|us|ms|s|sec|seconds|minutes|min|req/s|requests/s|k req/s|rps|fixes/s|msgs/s|MB/s|"
        r"GB/s|MB|KB|GB|MiB|KiB|GiB|B|bytes|%|×|x)")
FIGURE = re.compile(r"(?<![\w.-])(~?\d[\d,]*(?:\.\d+)?(?:\s?[-–]\s?\d[\d,]*(?:\.\d+)?)?k?)\s?" + UNIT + r"(?![\w/])")
# words that make a number a setting or a limit rather than a measurement
SETTING = re.compile(r"\b(limit|limits|max|maximum|min|minimum|default|defaults|timeout|deadline|at most|"
                     r"at least|up to|cap|capped|budget|configur\w*|--\w[\w-]*|[A-Z_]{4,}=|every|after|"
                     r"within|interval|period|size of|buffer|window|retry|Retry-After|keep-?alive|idle for|"
                     r"target|goal|≤|≥|<=|>=)\b", re.I)
LINK = re.compile(r"bench/results/[\w.+-]+")


def paragraphs(lines):
    start, block = 0, []
    fence = False
    for i, line in enumerate(lines + [""]):
        if line.startswith("```"):
            fence = not fence
        if not line.strip() and not fence:
            if block:
                yield start, block
            block, start = [], i + 1
        else:
            block.append(line)


def check(path, root):
    lines = open(path, encoding="utf-8").read().split("\n")
    bad = []
    for start, block in paragraphs(lines):
        text = "\n".join(block)
        # a path pattern (bench/results/db-<date>.md) is not a link to a file
        links = [l for l in LINK.findall(text) if not l.endswith(("-", "_", "."))]
        if links and all(os.path.exists(os.path.join(root, l.rstrip(".)"))) for l in links):
            continue
        if block[0].startswith("|") and SETTING.search(block[0]):
            continue  # a table of limits or defaults (its header says so)
        fence = False
        offset = 0  # where this line starts in text
        for j, line in enumerate(block):
            at, offset = offset, offset + len(line) + 1
            if line.startswith("```"):
                fence = not fence
                continue
            if fence or line.startswith("    "):
                continue
            for m in FIGURE.finditer(line):
                # the words before a figure may sit at the end of the previous line
                before = text[max(0, at + m.start() - 40):at + m.start()]
                if SETTING.search(before) or SETTING.search(line[m.end():m.end() + 12]):
                    continue
                missing = [l for l in links if not os.path.exists(os.path.join(root, l.rstrip(".)")))]
                why = f"links a missing file {missing[0]}" if missing else "no bench/results/ file in its paragraph"
                bad.append(f"{os.path.relpath(path, root)}:{start + j + 1}: {m.group(0).strip()} ({why})")
    return bad


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files = argv or sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    bad = [b for f in files for b in check(f, root)]
    for b in bad:
        print(b)
    print(f"check-doc-figures: {len(bad)} figure(s) without a result file in {len(files)} file(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
