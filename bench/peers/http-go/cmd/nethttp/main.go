// Go net/http peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
// /plaintext and /json, written the way TFB's Go standard-library entry does
// it (plain ServeMux handlers, explicit headers, encoding/json on a struct per
// request). Listens on 127.0.0.1:PORT, PORT from argv[1] or $PORT (8080).
// Single-threaded: GOMAXPROCS=1 unless the environment says otherwise.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"runtime"
	"strconv"
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
	addr := "127.0.0.1:" + port()
	log.Printf("nethttp listening on %s (GOMAXPROCS=%d)", addr, runtime.GOMAXPROCS(0))
	log.Fatal(http.ListenAndServe(addr, mux))
}
