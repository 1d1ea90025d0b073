// Go Fiber v2 peer of weft's HTTP arena (bench/run-http.sh): TechEmpower
// /plaintext and /json, written the way TFB's fiber entry does it (one
// middleware switching on the path, c.JSON on a pooled struct, prefork off).
// Listens on 127.0.0.1:PORT, PORT from argv[1] or $PORT (8080).
// Single-threaded: GOMAXPROCS=1 unless the environment says otherwise.
package main

import (
	"log"
	"os"
	"runtime"
	"sync"

	"github.com/gofiber/fiber/v2"
)

type message struct {
	Message string `json:"message"`
}

var msgPool = sync.Pool{New: func() any { return new(message) }}

var helloWorld = []byte("Hello, World!")

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
	})
	app.Use(func(c *fiber.Ctx) error {
		switch c.Path() {
		case "/plaintext":
			c.Set(fiber.HeaderContentType, fiber.MIMETextPlain)
			return c.Send(helloWorld)
		case "/json":
			m := msgPool.Get().(*message)
			m.Message = "Hello, World!"
			err := c.JSON(m) // serializes the struct (encoding/json), sets application/json
			m.Message = ""
			msgPool.Put(m)
			return err
		}
		return c.SendStatus(fiber.StatusNotFound)
	})
	addr := "127.0.0.1:" + port()
	log.Printf("fiber listening on %s (GOMAXPROCS=%d)", addr, runtime.GOMAXPROCS(0))
	log.Fatal(app.Listen(addr))
}
