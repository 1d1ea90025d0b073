// weft-bench-json-simdjson: the simdjson peer of bench/micro/json.c (C++,
// Debian's libsimdjson-dev). Parses a JSON file with simdjson's DOM API
// (simdjson::dom::parser::parse) and writes the DOM back out
// (simdjson::minify of the root element), timed the same way as the weft
// program, with the same RESULT lines (see bench/run-json.sh).
//
// How it holds memory, as simdjson intends its DOM API to be used: one
// parser object is reused for every parse; its tape and string buffers are
// allocated on the first parse and reused after (as weft reuses its arena),
// and each parse overwrites the previous document. The input is copied once,
// outside the timer, into a padded_string (simdjson reads up to 64 bytes past
// the end). The DOM is a tape: objects keep their members in document order,
// and a lookup by key scans them, as in weft's flat member array.
//
// Usage: jsonbench FILE
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

static const double TARGET_NS = 1.5e9;
static const size_t MIN_ITERS = 20, MAX_ITERS = 2000;

static double now_ns() {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static void result(const char *name, double v, const char *unit) { std::printf("RESULT %s %.6f %s\n", name, v, unit); }

// Three warm-up runs estimate the cost, then N timed runs (N so the whole
// takes ~1.5 s, clamped to [20, 2000]); returns the median ns, or -1 when fn
// fails.
template <class F> static double measure(F fn, size_t *iters) {
    double t0 = now_ns();
    for (int i = 0; i < 3; i++)
        if (!fn()) return -1;
    double est = std::max((now_ns() - t0) / 3, 1.0);
    size_t n = std::clamp((size_t)(TARGET_NS / est), MIN_ITERS, MAX_ITERS);
    std::vector<double> t(n);
    for (size_t i = 0; i < n; i++) {
        double a = now_ns();
        if (!fn()) return -1;
        t[i] = now_ns() - a;
    }
    std::sort(t.begin(), t.end());
    *iters = n;
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static size_t count_values(simdjson::dom::element e) {
    size_t n = 1;
    if (e.is_array())
        for (simdjson::dom::element x : simdjson::dom::array(e)) n += count_values(x);
    else if (e.is_object())
        for (simdjson::dom::key_value_pair kv : simdjson::dom::object(e)) n += count_values(kv.value);
    return n;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: jsonbench FILE\n");
        return 2;
    }
    simdjson::padded_string doc;
    if (simdjson::padded_string::load(argv[1]).get(doc)) {
        std::fprintf(stderr, "json-simdjson: %s: cannot read\n", argv[1]);
        return 1;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::error_code err = simdjson::SUCCESS;
    auto parse = [&]() {
        err = parser.parse(doc).get(root);
        return err == simdjson::SUCCESS;
    };
    if (!parse()) {
        std::fprintf(stderr, "json-simdjson: parse: %s\n", simdjson::error_message(err));
        return 1;
    }
    std::printf("# simdjson: %zu bytes, %zu values; implementation %s\n", doc.size(), count_values(root),
                simdjson::get_active_implementation()->name().c_str());
    size_t n = 0;
    double ns = measure(parse, &n);
    if (ns < 0) {
        std::fprintf(stderr, "json-simdjson: parse: %s\n", simdjson::error_message(err));
        return 1;
    }
    result("parse_ms", ns / 1e6, "ms");
    result("parse_mbps", (double)doc.size() / (ns / 1e9) / 1e6, "MB/s");
    std::printf("# simdjson: parse: %zu runs\n", n);
    if (!parse()) return 1;
    std::string out;
    ns = measure(
        [&]() {
            out = simdjson::minify(root);
            return !out.empty();
        },
        &n);
    if (ns < 0) return 1;
    result("encode_ms", ns / 1e6, "ms");
    result("encode_mbps", (double)doc.size() / (ns / 1e9) / 1e6, "MB/s");
    std::printf("# simdjson: encode: %zu runs; output %zu bytes\n", n, out.size());
    return 0;
}
