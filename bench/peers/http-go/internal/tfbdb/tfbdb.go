// Package tfbdb holds the database rows of weft's arena (bench/run-db.sh),
// shared by the Go peers (cmd/nethttp, cmd/fiber): TechEmpower /db,
// /queries, /fortunes and /updates on jackc/pgx v5 with pgxpool, written the
// way TFB's Go entries (go-std's pgx variants, fiber) use it:
//
//   - a pgxpool whose connections prepare their statements once, in
//     AfterConnect, and are then queried by statement name;
//   - one SELECT per row, one after another on the pool (no IN (...), no
//     batching of the reads, as TFB's Go entries do);
//   - /updates writes its rows back with ONE statement (UPDATE ... FROM
//     unnest($1::int[]), unnest($2::int[])), ids sorted so concurrent
//     requests lock rows in the same order (TFB's fiber sorts for the same
//     reason).
//
// Pool size: TFB's fiber entry opens runtime.NumCPU()*4 connections per
// process (go-std a similar handful per core). The arena's servers run on
// one core (GOMAXPROCS=1, taskset), which would give 4; PostgreSQL runs
// unpinned on both of the machine's 2 cores, so the arena takes the same
// formula over the machine: DefaultPool = 8 connections, opened up front
// (MinConns = MaxConns). WEFT_BENCH_PG_POOL overrides it.
//
// Pipeline mode (WEFT_BENCH_PG_BATCH=1; the arena's "nethttp_batch"
// variant): /queries and the reads of /updates go out as ONE pgx.Batch
// (SendBatch: the N SELECTs are written together and their results read
// back in order, one round trip on one connection: pgx's pipeline mode), as
// the Rust peers pipeline a request's queries on one connection and TFB's
// fiber entry batches its updates. /db and /fortunes are one query each and
// do not change.
//
// The DSN is WEFT_BENCH_PG (libpq key=value conninfo, which pgx parses) or
// WEFT_BENCH_PG_URL when that one is unset; with neither, the peers do not
// register the routes and serve /plaintext and /json only, as before.
package tfbdb

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type World struct {
	ID           int32 `json:"id"`
	RandomNumber int32 `json:"randomNumber"`
}

type Fortune struct {
	ID      int32
	Message string
}

const (
	worldCount = 10000
	stmtWorld  = "world_by_id"
	stmtFort   = "all_fortunes"
	stmtUpdate = "update_worlds"
)

// DSN is the conninfo from the environment, "" when the rows are off.
func DSN() string {
	for _, k := range []string{"WEFT_BENCH_PG", "WEFT_BENCH_PG_URL"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return ""
}

// DefaultPool is 4 connections per core of the arena's 2-core machine (see
// the package comment).
const DefaultPool = 8

// PoolSize is DefaultPool, or WEFT_BENCH_PG_POOL.
func PoolSize() int {
	if n, err := strconv.Atoi(os.Getenv("WEFT_BENCH_PG_POOL")); err == nil && n >= 1 {
		return n
	}
	return DefaultPool
}

// Batch is true when WEFT_BENCH_PG_BATCH is 1 (see the package comment).
func Batch() bool { return os.Getenv("WEFT_BENCH_PG_BATCH") == "1" }

type DB struct {
	pool  *pgxpool.Pool
	batch bool
}

// Open connects the whole pool and prepares the statements on every
// connection; it fails when the database cannot be reached.
func Open(dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	n := int32(PoolSize())
	cfg.MaxConns = n
	cfg.MinConns = n
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		for name, sql := range map[string]string{
			stmtWorld:  "SELECT id, randomnumber FROM world WHERE id = $1",
			stmtFort:   "SELECT id, message FROM fortune",
			stmtUpdate: "UPDATE world SET randomnumber = v.r FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) AS v WHERE world.id = v.id",
		} {
			if _, err := c.Prepare(ctx, name, sql); err != nil {
				return err
			}
		}
		return nil
	}
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// open every connection now, not during the first measured requests
	conns := make([]*pgxpool.Conn, 0, n)
	for i := int32(0); i < n; i++ {
		c, err := pool.Acquire(ctx)
		if err != nil {
			pool.Close()
			return nil, err
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	return &DB{pool: pool, batch: Batch()}, nil
}

func (db *DB) PoolSize() int { return int(db.pool.Config().MaxConns) }

// Batched says whether the reads of a request go out as one pgx.Batch.
func (db *DB) Batched() bool { return db.batch }

func randomID() int32 { return int32(rand.IntN(worldCount) + 1) }

func (db *DB) World(ctx context.Context) (World, error) {
	var w World
	err := db.pool.QueryRow(ctx, stmtWorld, randomID()).Scan(&w.ID, &w.RandomNumber)
	return w, err
}

// Worlds reads n rows, one query each: one after another, or (batch mode)
// all n in one pgx.Batch on one connection.
func (db *DB) Worlds(ctx context.Context, n int) ([]World, error) {
	ws := make([]World, n)
	if db.batch {
		b := &pgx.Batch{}
		for range ws {
			b.Queue(stmtWorld, randomID())
		}
		br := db.pool.SendBatch(ctx, b)
		for i := range ws {
			if err := br.QueryRow().Scan(&ws[i].ID, &ws[i].RandomNumber); err != nil {
				br.Close()
				return nil, err
			}
		}
		return ws, br.Close()
	}
	for i := range ws {
		if err := db.pool.QueryRow(ctx, stmtWorld, randomID()).Scan(&ws[i].ID, &ws[i].RandomNumber); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

func (db *DB) Fortunes(ctx context.Context) ([]Fortune, error) {
	rows, err := db.pool.Query(ctx, stmtFort)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fs := make([]Fortune, 0, 16)
	for rows.Next() {
		var f Fortune
		if err := rows.Scan(&f.ID, &f.Message); err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, rows.Err()
}

// Update reads n rows one by one, gives each a new random number and writes
// them back with one UPDATE; the rows are returned sorted by id.
func (db *DB) Update(ctx context.Context, n int) ([]World, error) {
	ws, err := db.Worlds(ctx, n)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ws, func(a, b World) int { return int(a.ID - b.ID) })
	ids := make([]int32, n)
	nums := make([]int32, n)
	for i := range ws {
		ws[i].RandomNumber = randomID()
		ids[i] = ws[i].ID
		nums[i] = ws[i].RandomNumber
	}
	if _, err := db.pool.Exec(ctx, stmtUpdate, ids, nums); err != nil {
		return nil, err
	}
	return ws, nil
}

// QueriesCount is the value of ?queries= clamped to 1..500; missing, not a
// number, or below 1 gives 1.
func QueriesCount(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 1
	}
	if n > 500 {
		return 500
	}
	return n
}

// AppendFortunesHTML adds the request-time fortune, sorts by message and
// appends the TFB fortunes page to dst, every message HTML-escaped.
func AppendFortunesHTML(dst []byte, fs []Fortune) []byte {
	fs = append(fs, Fortune{ID: 0, Message: "Additional fortune added at request time."})
	slices.SortFunc(fs, func(a, b Fortune) int { return strings.Compare(a.Message, b.Message) })
	dst = append(dst, "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>"...)
	for _, f := range fs {
		dst = append(dst, "<tr><td>"...)
		dst = strconv.AppendInt(dst, int64(f.ID), 10)
		dst = append(dst, "</td><td>"...)
		dst = appendEscaped(dst, f.Message)
		dst = append(dst, "</td></tr>"...)
	}
	return append(dst, "</table></body></html>"...)
}

func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			rep = "&quot;"
		case '\'':
			rep = "&#39;"
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, rep...)
		start = i + 1
	}
	return append(dst, s[start:]...)
}
