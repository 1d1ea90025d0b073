// Go net/http peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
// /plaintext and /json, written the way TFB's Go standard-library entry does
// it (plain ServeMux handlers, explicit headers, encoding/json on a struct per
// request; FrameworkBenchmarks, frameworks/Go/go-std). Go's net/http sets
// TCP_NODELAY on every accepted connection by default, as TFB runs it.
// Listens on 127.0.0.1:PORT, PORT from argv[1] or $PORT (8080).
// Single-threaded: GOMAXPROCS=1 unless the environment says otherwise.
//
// With WEFT_BENCH_PG set, also the database rows of bench/run-db.sh (/db,
// /queries, /fortunes, /updates) on pgx v5 (internal/tfbdb: pgxpool,
// prepared statements); without it those paths are not registered.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"runtime"
	"strconv"

	"weft-bench-http-go/internal/tfbdb"
)

type message struct {
	Message string `json:"message"`
}

var helloWorld = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Server"] = []string{"Go"}
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{"13"}
	w.Write(helloWorld)
}

func jsonHandler(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(&message{Message: "Hello, World!"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h["Server"] = []string{"Go"}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.Write(body)
}

var db *tfbdb.DB

func writeBody(w http.ResponseWriter, ctype string, body []byte) {
	h := w.Header()
	h["Server"] = []string{"Go"}
	h["Content-Type"] = []string{ctype}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	if err == nil {
		var body []byte
		if body, err = json.Marshal(v); err == nil {
			writeBody(w, "application/json", body)
			return
		}
	}
	log.Printf("database error: %v", err)
	w.Header()["Server"] = []string{"Go"}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func dbHandler(w http.ResponseWriter, r *http.Request) {
	world, err := db.World(r.Context())
	writeJSON(w, &world, err)
}

func queriesHandler(w http.ResponseWriter, r *http.Request) {
	worlds, err := db.Worlds(r.Context(), tfbdb.QueriesCount(r.URL.Query().Get("queries")))
	writeJSON(w, worlds, err)
}

func updatesHandler(w http.ResponseWriter, r *http.Request) {
	worlds, err := db.Update(r.Context(), tfbdb.QueriesCount(r.URL.Query().Get("queries")))
	writeJSON(w, worlds, err)
}

func fortunesHandler(w http.ResponseWriter, r *http.Request) {
	fs, err := db.Fortunes(r.Context())
	if err != nil {
		log.Printf("database error: %v", err)
		w.Header()["Server"] = []string{"Go"}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, "text/html; charset=utf-8", tfbdb.AppendFortunesHTML(make([]byte, 0, 1536), fs))
}

func port() string {
	if len(os.Args) > 1 {
		return os.Args[1]
	}
	if p := os.Getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	mux.HandleFunc("/json", jsonHandler)
	rows := ""
	if dsn := tfbdb.DSN(); dsn != "" {
		var err error
		if db, err = tfbdb.Open(dsn); err != nil {
			log.Fatalf("nethttp: cannot connect to postgres: %v", err)
		}
		mux.HandleFunc("/db", dbHandler)
		mux.HandleFunc("/queries", queriesHandler)
		mux.HandleFunc("/fortunes", fortunesHandler)
		mux.HandleFunc("/updates", updatesHandler)
		rows = "; database rows on, pgxpool of " + strconv.Itoa(db.PoolSize())
		if db.Batched() {
			rows += ", reads of a request in one pgx.Batch"
		}
	}
	addr := "127.0.0.1:" + port()
	log.Printf("nethttp listening on %s (GOMAXPROCS=%d%s)", addr, runtime.GOMAXPROCS(0), rows)
	log.Fatal(http.ListenAndServe(addr, mux))
}
