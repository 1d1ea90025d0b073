// Go Fiber v2 peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
// /plaintext and /json, written the way TFB's fiber entry does it
// (FrameworkBenchmarks, frameworks/Go/fiber/fiber-v2/server.go: one
// middleware switching on the path, c.JSON on a pooled struct, the config
// CaseSensitive, StrictRouting, DisableHeaderNormalizing, and its JSON
// encoder and decoder goccy/go-json's Marshal/Unmarshal instead of
// encoding/json; prefork off, as in its non-prefork fiber-v2 test).
// Listens on 127.0.0.1:PORT, PORT from argv[1] or $PORT (8080).
// Single-threaded: GOMAXPROCS=1 unless the environment says otherwise.
//
// With WEFT_BENCH_PG set, also the database rows of bench/run-db.sh (/db,
// /queries, /fortunes, /updates) on pgx v5 (internal/tfbdb: pgxpool,
// prepared statements), switched on in the same middleware as TFB's fiber
// entry does; without it those paths answer 404 as before.
package main

import (
	"log"
	"os"
	"runtime"
	"strconv"
	"sync"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"weft-bench-http-go/internal/tfbdb"
)

type message struct {
	Message string `json:"message"`
}

var msgPool = sync.Pool{New: func() any { return new(message) }}

var helloWorld = []byte("Hello, World!")

var db *tfbdb.DB

func dbFailed(c *fiber.Ctx, err error) error {
	log.Printf("database error: %v", err)
	return c.Status(fiber.StatusInternalServerError).SendString(err.Error())
}

// dbRoutes answers the database paths; handled is false for any other path.
func dbRoutes(c *fiber.Ctx) (handled bool, err error) {
	switch c.Path() {
	case "/db":
		w, err := db.World(c.Context())
		if err != nil {
			return true, dbFailed(c, err)
		}
		return true, c.JSON(&w)
	case "/queries":
		ws, err := db.Worlds(c.Context(), tfbdb.QueriesCount(c.Query("queries")))
		if err != nil {
			return true, dbFailed(c, err)
		}
		return true, c.JSON(ws)
	case "/updates":
		ws, err := db.Update(c.Context(), tfbdb.QueriesCount(c.Query("queries")))
		if err != nil {
			return true, dbFailed(c, err)
		}
		return true, c.JSON(ws)
	case "/fortunes":
		fs, err := db.Fortunes(c.Context())
		if err != nil {
			return true, dbFailed(c, err)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return true, c.Send(tfbdb.AppendFortunesHTML(make([]byte, 0, 1536), fs))
	}
	return false, nil
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
	app := fiber.New(fiber.Config{
		CaseSensitive:            true,
		StrictRouting:            true,
		DisableHeaderNormalizing: true,
		DisableStartupMessage:    true,
		Prefork:                  false,
		ServerHeader:             "Fiber",
		JSONEncoder:              gojson.Marshal, // as TFB's fiber-v2 entry
		JSONDecoder:              gojson.Unmarshal,
	})
	app.Use(func(c *fiber.Ctx) error {
		switch c.Path() {
		case "/plaintext":
			c.Set(fiber.HeaderContentType, fiber.MIMETextPlain)
			return c.Send(helloWorld)
		case "/json":
			m := msgPool.Get().(*message)
			m.Message = "Hello, World!"
			err := c.JSON(m) // serializes the struct (goccy/go-json), sets application/json
			m.Message = ""
			msgPool.Put(m)
			return err
		}
		if db != nil {
			if handled, err := dbRoutes(c); handled {
				return err
			}
		}
		return c.SendStatus(fiber.StatusNotFound)
	})
	rows := ""
	if dsn := tfbdb.DSN(); dsn != "" {
		var err error
		if db, err = tfbdb.Open(dsn); err != nil {
			log.Fatalf("fiber: cannot connect to postgres: %v", err)
		}
		rows = "; database rows on, pgxpool of " + strconv.Itoa(db.PoolSize())
		if db.Batched() {
			rows += ", reads of a request in one pgx.Batch"
		}
	}
	addr := "127.0.0.1:" + port()
	log.Printf("fiber listening on %s (GOMAXPROCS=%d%s)", addr, runtime.GOMAXPROCS(0), rows)
	log.Fatal(app.Listen(addr))
}
