"""Tests of scripts/check-layers.py (run by scripts/test.sh beside the check
itself): each rule flags a bad include with its file:line, and what the
rules allow passes.

    python3 -m unittest discover -s scripts -p 'test_check_layers.py'
"""
import importlib.util
import io
import os
import shutil
import tempfile
import unittest
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("check_layers", os.path.join(HERE, "check-layers.py"))
cl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cl)

# A small tree shaped like weft's: every include in it is allowed.
TREE = {
    "include/weft/base.h": "#include <stdint.h>\n",
    "include/weft/log.h": "",
    "include/weft/rt.h": '#include "weft/base.h"\n',
    "include/weft/impl.h": '#include "weft/rt.h"\n',
    "src/rt/rt_int.h": '#include "weft/rt.h"\n',
    "src/rt/io_int.h": '#include "rt_int.h"\n',
    "src/rt/sched.c": '#include "rt_int.h"\n',
    "src/rt/io.c": '#include "io_int.h"\n',
    "src/base/utf8.h": "",
    "src/base/str.c": '#include "weft/base.h"\n#include "weft/log.h"\n#include "utf8.h"\n'
                      "#include <string.h>\n#include <sanitizer/asan_interface.h>\n",
    "src/http/http_int.h": '#include "weft/impl.h"\n',
    "src/http/server.c": '#include "http/http_int.h"\n#include "weft/impl.h"\n#include "base/utf8.h"\n',
    "src/db/db_int.h": "",
    "src/db/pg.c": '#include "db_int.h"\n',
    "apps/fleet/api_int.h": "",
    "apps/fleet/fix.h": "",
    "apps/fleet/api.c": '#include "api_int.h"\n',
    "apps/fleet-sim/encode.c": '#include "fix.h"\n',  # through -Iapps/fleet
    "tests/unit/db_pg.c": '#include "db/db_int.h"\n#include "http/http_int.h"\n',
    "fuzz/router.c": '#include "http/http_int.h"\n',
}


class CheckLayers(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="layers-")
        for path, text in TREE.items():
            self.write(path, text)

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)

    def flags(self):
        return cl.check(self.root)[0]

    def test_the_tree_passes(self):
        self.assertEqual(self.flags(), [])

    def test_runtime_private_header_outside_rt(self):
        self.write("src/http/server.c", '#include "http/http_int.h"\n\n#include "rt/rt_int.h"\n')
        out = self.flags()
        self.assertEqual(len(out), 1)
        self.assertRegex(out[0], r'^src/http/server\.c:3: #include "rt/rt_int\.h": src/rt/ is the runtime')
        # io_int.h, a relative path from a fuzz target, and a test: the same
        self.write("src/http/server.c", TREE["src/http/server.c"])
        self.write("fuzz/router.c", '#include "../src/rt/io_int.h"\n')
        self.write("tests/unit/chan.c", '#include <stdio.h>\n#include "rt/rt_int.h"\n')
        out = self.flags()
        self.assertEqual([o.split(": ")[0] for o in out], ["fuzz/router.c:1", "tests/unit/chan.c:2"])
        # including one of the runtime's .c files is including its header
        self.write("fuzz/router.c", '#include "../src/rt/sched.c"\n')
        self.assertEqual([o.split(": ")[0] for o in self.flags()], ["fuzz/router.c:1", "tests/unit/chan.c:2"])

    def test_rt_int_h_by_its_bare_name_or_an_unknown_path_still_fails(self):
        # found by its name (as an extra -Isrc/rt would find it)
        self.write("apps/fleet/api.c", '#include "api_int.h"\n#include "rt_int.h"\n')
        self.assertRegex(self.flags()[0], r'^apps/fleet/api\.c:2: #include "rt_int\.h": src/rt/ is the runtime')
        # not found at all: the name alone decides
        self.write("apps/fleet/api.c", '#include "api_int.h"\n#include "old/rt_int.h"\n')
        self.assertEqual(self.flags(), ['apps/fleet/api.c:2: #include "old/rt_int.h": the runtime\'s private '
                                        "header, outside src/rt/"])

    def test_base_includes_nothing_above_base(self):
        self.write("src/base/log.c", '#include "weft/log.h"\n#include "weft/rt.h"\n')
        out = self.flags()
        self.assertEqual(len(out), 1)
        self.assertRegex(out[0], r'^src/base/log\.c:2: #include "weft/rt\.h": src/base/ is the bottom layer')
        self.write("src/base/log.c", "#include <weft/impl.h>\n")  # the <> spelling too
        self.assertRegex(self.flags()[0], r"^src/base/log\.c:1: #include <weft/impl\.h>: src/base/")
        self.write("src/base/log.c", '#include "http/http_int.h"\n')
        self.assertRegex(self.flags()[0], r"^src/base/log\.c:1: .*src/base/ is the bottom layer")
        self.write("src/base/log.c", '#include "nowhere.h"\n')
        self.assertEqual(self.flags(), ['src/base/log.c:1: #include "nowhere.h": src/base/ includes a file '
                                        "this check cannot find"])

    def test_a_module_includes_no_other_modules_int_h(self):
        self.write("src/db/pg.c", '#include "db_int.h"\n#include "http/http_int.h"\n')
        self.assertEqual(self.flags(), ['src/db/pg.c:2: #include "http/http_int.h": src/http\'s private '
                                        "header, included from src/db"])
        self.write("src/db/pg.c", TREE["src/db/pg.c"])
        self.write("apps/fleet-sim/encode.c", '#include "fix.h"\n#include "api_int.h"\n')
        self.assertEqual(self.flags(), ['apps/fleet-sim/encode.c:2: #include "api_int.h": apps/fleet\'s '
                                        "private header, included from apps/fleet-sim"])

    def test_commented_out_includes_are_not_includes(self):
        self.write("src/http/server.c", '/* #include "rt/rt_int.h"\n#include "rt/rt_int.h" */\n'
                                        '// #include "rt/rt_int.h"\n#include "http/http_int.h"\n')
        self.assertEqual(self.flags(), [])

    def test_committed_tree_passes_and_main_reports_a_violation(self):
        with redirect_stdout(io.StringIO()):
            self.assertEqual(cl.main([]), 0)  # the repository as committed
        self.write("src/json/parse.c", '#include "weft/json.h"\n#include "rt/rt_int.h"\n')
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(cl.main(["--root", self.root]), 1)
        self.assertRegex(out.getvalue(), r'^src/json/parse\.c:2: #include "rt/rt_int\.h": .*\n'
                                         r"layers: 1 include\(s\) cross a layer")


if __name__ == "__main__":
    unittest.main()
