#!/usr/bin/env python3
"""Flag every measured-looking figure in docs/*.md that has no result file
behind it (issue 13, A.7: every figure in docs/ comes from a committed
result file in bench/results/). Run by `make test` (scripts/test.sh).

A figure is a number with a unit of time, rate, size or ratio (21.7 ns,
65,931 req/s, 4 KB, 2.2-7.1x, 38 %). A paragraph (lines up to a blank line;
a table is one paragraph) passes when it names a bench/results/ file, and
that file exists; a table also passes when the paragraph right before it
(its caption) names one. Fenced and indented code is skipped. Limits and
sizes written with a setting word next to them (limit, max, default,
timeout, at most, ...) are skipped, and so is a table whose header row
says limit or default.

Any other figure that is not a measurement (a design constant, a setting,
a test's input, an RFC's number, someone else's published figure) is
marked in its paragraph with an HTML comment, invisible on the rendered
page, that names each such figure as written and says why:

    <!-- not measured: 64 KiB = the flush threshold; 90% = an oha option -->

Items are separated by ";", each `figure = why` (or `figure, figure = why`:
", " with a space separates figures); the why is required. The
marker covers only the figures it names, only in its own paragraph, so a
new figure written beside them is still flagged, and a marker naming a
figure its paragraph no longer has is flagged too (it went stale).

Prints file:line: figure (why) for each one left; exit 1 when there is any.

    python3 scripts/check-doc-figures.py [docs/x.md ...]
"""
import glob
import os
import re
import sys

UNIT = (r"(?:ns|µs|us|ms|s|sec|seconds|minutes|min|req/s|requests/s|k req/s|rps|fixes/s|msgs/s|MB/s|"
        r"GB/s|MB|KB|GB|MiB|KiB|GiB|B|bytes|%|×|x)")
FIGURE = re.compile(r"(?<![\w.-])(~?\d[\d,]*(?:\.\d+)?(?:\s?[-–]\s?\d[\d,]*(?:\.\d+)?)?[kM]?)\s?" + UNIT + r"(?![\w/])")
# words that make a number a setting or a limit rather than a measurement
SETTING = re.compile(r"\b(limit|limits|max|maximum|min|minimum|default|defaults|timeout|deadline|at most|"
                     r"at least|up to|cap|capped|budget|configur\w*|--\w[\w-]*|[A-Z_]{4,}=|every|after|"
                     r"within|interval|period|size of|buffer|window|retry|Retry-After|keep-?alive|idle for|"
                     r"target|goal|≤|≥|<=|>=)\b", re.I)
LINK = re.compile(r"bench/results/[\w.+-]+")
MARKER = re.compile(r"<!--\s*not measured:(.*?)-->", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)


def norm(fig):
    """A figure as a marker names it and as the text has it compare equal:
    no spaces, no leading ~, case folded."""
    return re.sub(r"\s+", "", fig).lstrip("~").lower()


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


def code_free(block):
    """The lines of a paragraph outside fenced and indented code."""
    fence, out = False, []
    for line in block:
        if line.startswith("```"):
            fence = not fence
        elif not fence and not line.startswith("    "):
            out.append(line)
    return out


def markers(text):
    """{normalised figure: as written} a paragraph's markers declare, and
    the problems with them (an item without a why)."""
    named, bad = {}, []
    for m in MARKER.finditer(text):
        for item in m.group(1).split(";"):
            if not item.strip():
                continue
            fig, eq, why = item.partition("=")
            if not eq or not why.strip() or not fig.strip():
                bad.append(f"marker item '{item.strip()}' needs 'figure = why'")
                continue
            for f in re.split(r",\s+", fig.strip()):  # "1×, 2×, 5× = why" (2,000 has no space)
                named[norm(f)] = f
    return named, bad


def linked(text, root):
    """The paragraph names a bench/results/ file and every one it names exists."""
    # a path pattern (bench/results/db-<date>.md) or an output prefix without an
    # extension (OUT=bench/results/ws-<date>-label) is not a link to a file
    links = [l for l in LINK.findall(text)
             if not l.endswith(("-", "_", ".")) and re.search(r"\.[a-z]+$", l.rstrip(".)"))]
    return links, bool(links) and all(os.path.exists(os.path.join(root, l.rstrip(".)"))) for l in links)


def check(path, root):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    bad = []
    rel = os.path.relpath(path, root)
    prev_ok = False  # the paragraph before names an existing result file (a table's caption)
    for start, block in paragraphs(lines):
        text = "\n".join(block)
        links, ok = linked(text, root)
        caption_ok, prev_ok = prev_ok, ok
        # markers in code (an example of one) do not count
        named, problems = markers("\n".join(code_free(block)))
        bad += [f"{rel}:{start + 1}: {p}" for p in problems]
        seen = set()
        if ok or (block[0].lstrip().startswith("|") and caption_ok):
            continue
        if block[0].lstrip().startswith("|") and SETTING.search(block[0]):
            continue  # a table of limits or defaults (its header says so)
        fence = False
        offset = 0  # where this line starts in text
        for j, raw in enumerate(block):
            at, offset = offset, offset + len(raw) + 1
            if raw.startswith("```"):
                fence = not fence
                continue
            if fence or raw.startswith("    "):
                continue
            # the markers and any other comment are not text; keep the offsets
            line = COMMENT.sub(lambda m: " " * len(m.group(0)), raw)
            for m in FIGURE.finditer(line):
                fig = m.group(0).strip()
                if norm(fig) in named:
                    seen.add(norm(fig))
                    continue
                # the words before a figure may sit at the end of the previous line
                before = text[max(0, at + m.start() - 40):at + m.start()]
                if SETTING.search(before) or SETTING.search(line[m.end():m.end() + 12]):
                    continue
                missing = [l for l in links if not os.path.exists(os.path.join(root, l.rstrip(".)")))]
                why = f"links a missing file {missing[0]}" if missing else "no bench/results/ file in its paragraph"
                bad.append(f"{rel}:{start + j + 1}: {fig} ({why})")
        # a figure a marker names is exempt wherever it appears in the paragraph,
        # also next to a setting word; one it names that is not there went stale
        plain = COMMENT.sub(" ", "\n".join(code_free(block)))
        present = {norm(m.group(0)) for m in FIGURE.finditer(plain)}
        for n, fig in named.items():
            if n not in present and n not in seen:
                bad.append(f"{rel}:{start + 1}: marker names '{fig}', which its paragraph does not have (stale)")
    return bad


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if argv and argv[0] == "--root":
        root, argv = os.path.abspath(argv[1]), argv[2:]
    files = argv or sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    bad = [b for f in files for b in check(f, root)]
    for b in bad:
        print(b)
    print(f"check-doc-figures: {len(bad)} figure(s) without a result file in {len(files)} file(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
