"""Tests of scripts/check-doc-figures.py (run by scripts/test.sh beside the
check itself): what passes, what is flagged, and that the marker for
figures that are not measurements covers only what it names.

    python3 -m unittest discover -s scripts -p 'test_*.py'
"""
import importlib.util
import io
import os
import shutil
import tempfile
import unittest
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
spec = importlib.util.spec_from_file_location("check_doc_figures", os.path.join(HERE, "check-doc-figures.py"))
cdf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cdf)


class CheckDocFigures(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="doc-figures-")
        os.makedirs(os.path.join(self.root, "docs"))
        os.makedirs(os.path.join(self.root, "bench", "results"))
        open(os.path.join(self.root, "bench", "results", "x-2026-12-06.md"), "w").close()

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def flags(self, text):
        path = os.path.join(self.root, "docs", "t.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return cdf.check(path, self.root)

    def test_unlinked_figure_is_flagged_and_a_link_passes(self):
        self.assertEqual(self.flags("weft parses at 3.2 GB/s.\n"),
                         ["docs/t.md:1: 3.2 GB/s (no bench/results/ file in its paragraph)"])
        self.assertEqual(self.flags("weft parses at 3.2 GB/s (bench/results/x-2026-12-06.md).\n"), [])
        out = self.flags("weft parses at 3.2 GB/s (bench/results/y-2026-12-06.md).\n")
        self.assertEqual(out, ["docs/t.md:1: 3.2 GB/s (links a missing file bench/results/y-2026-12-06.md)"])

    def test_table_takes_its_captions_link_only(self):
        table = "| a | b |\n| --- | --- |\n| weft | 12.5 ms |\n"
        self.assertEqual(self.flags("Run 1, bench/results/x-2026-12-06.md:\n\n" + table), [])
        self.assertEqual(len(self.flags("Run 1, no file:\n\n" + table)), 1)
        # a paragraph after the table does not inherit the caption
        self.assertEqual(len(self.flags("Run 1, bench/results/x-2026-12-06.md:\n\n" + table + "\nIt took 3 s.\n")), 1)

    def test_indented_table_in_a_list_item_and_an_output_prefix(self):
        # a table inside a list item (indented) takes its caption's link too
        table = "  | a | b |\n  | --- | --- |\n  | weft | 12.5 ms |\n"
        self.assertEqual(self.flags("- Run 1 (bench/results/x-2026-12-06.md):\n\n" + table), [])
        self.assertEqual(len(self.flags("- Run 1, no file:\n\n" + table)), 1)
        # OUT=bench/results/x-label (a prefix, no extension) is not a missing file
        self.assertEqual(self.flags("It took 3 s, bench/results/x-2026-12-06.md\n"
                                    "(OUT=bench/results/x-2026-12-06-label make bench).\n"), [])

    def test_marker_covers_only_the_figures_it_names(self):
        text = ("Responses are flushed past 64 KiB, scanned 8 bytes at a time.\n"
                "<!-- not measured: 64 KiB = the flush threshold; 8 bytes = the scan width -->\n")
        self.assertEqual(self.flags(text), [])
        # a new figure written beside them is still flagged
        out = self.flags(text.replace("at a time.", "at a time, at 2.1 GB/s."))
        self.assertEqual(out, ["docs/t.md:1: 2.1 GB/s (no bench/results/ file in its paragraph)"])
        # several figures for one reason; "2,000 ×" keeps its comma
        self.assertEqual(self.flags("Speeds 1×, 2×; 2,000 × 4 KiB.\n"
                                    "<!-- not measured: 1×, 2× = menu entries; 2,000 × = a test input; 4 KiB = a size -->\n"), [])
        # only its own paragraph
        self.assertEqual(len(self.flags("<!-- not measured: 64 KiB = the threshold -->\nA 64 KiB flush.\n\n"
                                         "A 64 KiB read.\n")), 1)

    def test_stale_marker_and_marker_without_why_are_flagged(self):
        out = self.flags("No figure here.\n<!-- not measured: 64 KiB = the flush threshold -->\n")
        self.assertEqual(out, ["docs/t.md:1: marker names '64 KiB', which its paragraph does not have (stale)"])
        out = self.flags("A 64 KiB flush.\n<!-- not measured: 64 KiB -->\n")
        self.assertIn("docs/t.md:1: marker item '64 KiB' needs 'figure = why'", out)

    def test_a_marker_shown_as_code_is_not_a_marker(self):
        self.assertEqual(self.flags("Write it so:\n\n    <!-- not measured: 64 KiB = why -->\n"), [])
        self.assertEqual(len(self.flags("A 64 KiB flush.\n```\n<!-- not measured: 64 KiB = why -->\n```\n")), 1)

    def test_settings_words_and_code_are_not_figures(self):
        self.assertEqual(self.flags("A timeout of 5 s and at most 8 KB per connection.\n"), [])
        self.assertEqual(self.flags("```\nran in 3.2 s\n```\n"), [])
        self.assertEqual(self.flags("Text:\n\n    indented 3.2 s\n"), [])

    def test_committed_docs_pass_and_a_new_unlinked_figure_fails(self):
        with redirect_stdout(io.StringIO()):
            self.assertEqual(cdf.main([]), 0)  # the repository's docs/ as committed
        shutil.rmtree(os.path.join(self.root, "docs"))
        shutil.copytree(os.path.join(ROOT, "docs"), os.path.join(self.root, "docs"))
        shutil.rmtree(os.path.join(self.root, "bench"))
        shutil.copytree(os.path.join(ROOT, "bench", "results"), os.path.join(self.root, "bench", "results"))
        with open(os.path.join(self.root, "docs", "http.md"), "a", encoding="utf-8") as f:
            f.write("\nweft now answers plaintext at 1.2M req/s.\n")
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(cdf.main(["--root", self.root]), 1)
        self.assertRegex(out.getvalue(), r"docs/http\.md:\d+: 1\.2M req/s \(no bench/results/ file in its paragraph\)\n")


if __name__ == "__main__":
    unittest.main()
