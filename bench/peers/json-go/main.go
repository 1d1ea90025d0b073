// weft-bench-json-go: the Go peers of bench/micro/json.c. Parses a JSON file
// into interface{} and encodes it back, timed the same way as the weft
// program, with the same RESULT lines (see bench/run-json.sh):
//
//	encoding_json  the standard library: json.Unmarshal / json.Marshal
//	go_json        github.com/goccy/go-json, a drop-in replacement of
//	               encoding/json built for speed: Unmarshal / Marshal
//
// Both build the same DOM: objects are map[string]interface{} (a hash map),
// numbers float64. Memory comes from Go's garbage-collected heap with the
// default GOGC; the previous DOM is unreachable before each timed parse and
// the collector runs whenever it decides to (inside or outside the timer).
//
// Usage: jsonbench encoding_json|go_json FILE
package main

import (
	"encoding/json"
	"fmt"

	gojson "github.com/goccy/go-json"
	"os"
	"sort"
	"time"
)

const (
	targetNs = 1.5e9
	minIters = 20
	maxIters = 2000
)

func result(name string, v float64, unit string) {
	fmt.Printf("RESULT %s %.6f %s\n", name, v, unit)
}

// measure: three warm-up runs estimate the cost, then N timed runs (N so the
// whole takes ~1.5 s, clamped to [20, 2000]); returns the median ns.
func measure(fn func() error) (float64, int, error) {
	t0 := time.Now()
	for i := 0; i < 3; i++ {
		if err := fn(); err != nil {
			return 0, 0, err
		}
	}
	est := float64(time.Since(t0).Nanoseconds()) / 3
	if est < 1 {
		est = 1
	}
	n := int(targetNs / est)
	if n < minIters {
		n = minIters
	}
	if n > maxIters {
		n = maxIters
	}
	t := make([]float64, n)
	for i := range t {
		a := time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		t[i] = float64(time.Since(a).Nanoseconds())
	}
	sort.Float64s(t)
	med := t[n/2]
	if n%2 == 0 {
		med = (t[n/2-1] + t[n/2]) / 2
	}
	return med, n, nil
}

func countValues(v interface{}) int {
	n := 1
	switch x := v.(type) {
	case []interface{}:
		for _, e := range x {
			n += countValues(e)
		}
	case map[string]interface{}:
		for _, e := range x {
			n += countValues(e)
		}
	}
	return n
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: jsonbench encoding_json|go_json FILE")
		os.Exit(2)
	}
	name := os.Args[1]
	unmarshal, marshal := json.Unmarshal, json.Marshal
	switch name {
	case "encoding_json":
	case "go_json":
		unmarshal, marshal = gojson.Unmarshal, gojson.Marshal
	default:
		fmt.Fprintf(os.Stderr, "json-go: unknown parser %q (encoding_json, go_json)\n", name)
		os.Exit(2)
	}
	doc, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "json-go:", err)
		os.Exit(1)
	}
	var root interface{}
	parse := func() error {
		root = nil
		return unmarshal(doc, &root)
	}
	if err := parse(); err != nil {
		fmt.Fprintln(os.Stderr, "json-go: parse:", err)
		os.Exit(1)
	}
	fmt.Printf("# %s: %d bytes, %d values\n", name, len(doc), countValues(root))
	ns, n, err := measure(parse)
	if err != nil {
		fmt.Fprintln(os.Stderr, "json-go: parse:", err)
		os.Exit(1)
	}
	result("parse_ms", ns/1e6, "ms")
	result("parse_mbps", float64(len(doc))/(ns/1e9)/1e6, "MB/s")
	fmt.Printf("# %s: parse: %d runs\n", name, n)
	var out []byte
	encode := func() error {
		var e error
		out, e = marshal(root)
		return e
	}
	ns, n, err = measure(encode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "json-go: encode:", err)
		os.Exit(1)
	}
	result("encode_ms", ns/1e6, "ms")
	result("encode_mbps", float64(len(doc))/(ns/1e9)/1e6, "MB/s")
	fmt.Printf("# %s: encode: %d runs; output %d bytes\n", name, n, len(out))
}
