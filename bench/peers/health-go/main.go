// Command health is the net/http /health server of the Go-vs-Rust article
// (its "Go HTTP Server"), as written there except for the listen address:
// 127.0.0.1 and the port from the first argument (default 8080), so the
// arena (bench/run-build.sh) can run it beside the others.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
)

type Response struct {
	Message string `json:"message"`
	Status  int    `json:"status"`
}

func healthHandler(w http.ResponseWriter, r *http.Request) {
	resp := Response{Message: "OK", Status: 200}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func main() {
	port := "8080"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", healthHandler)

	log.Println("Server running on 127.0.0.1:" + port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, mux))
}
