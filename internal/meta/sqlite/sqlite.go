// Package sqlite implements meta.Store on one SQLite file, the embedded
// default: modernc.org/sqlite (pure Go, no cgo), WAL journal,
// synchronous=FULL (a nil return means the change is on disk), foreign keys
// on and a busy timeout for other processes.
//
// # Writes
//
// Every write runs on one connection in a BEGIN IMMEDIATE transaction, so
// writes are serialized and each operation's reads (the version it
// replaces, the parts it completes) are consistent with its writes. A single
// writer goroutine commits the operations waiting for it together, each
// inside its own SAVEPOINT (group commit): with 16 clients putting small
// objects, one fsync makes a whole batch durable instead of one fsync per
// object, and an operation that fails is rolled back to its savepoint
// without touching its neighbours. A caller returns only after the commit
// that holds its change, or its error.
//
// # Reads
//
// Reads use a separate pool of query-only connections; in WAL mode they
// never block the writer nor wait for it, and each statement sees one
// committed snapshot.
//
// # Errors
//
// Besides the errors the meta.Store documentation names, lookups of an
// object in a missing bucket (GetObject, DeleteObject, SetTags,
// ListObjects, ListUploads) return meta.ErrNoSuchBucket rather than
// meta.ErrNoSuchObject; all errors wrap the meta sentinels for errors.Is.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver

	"github.com/coffer-vault/coffer/internal/meta"
)

const (
	// busyTimeout bounds how long a connection waits for a lock held by
	// another process (a backup tool, the sqlite3 shell) before failing.
	busyTimeout = 10 * time.Second
	// readConns is the size of the read pool.
	readConns = 4
	// maxBatch bounds how many operations one group commit holds, so one
	// transaction stays short.
	maxBatch = 128
)

var errClosed = errors.New("meta/sqlite: store closed")

// Store is a meta.Store on an SQLite file. It is safe for concurrent use.
type Store struct {
	wdb *sql.DB // one connection: all writes
	rdb *sql.DB // query-only pool: all reads outside a write
	wst *stmtCache
	rst *stmtCache

	reqs      chan *writeReq
	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// gen counts write batches; see WriteGeneration.
	gen atomic.Uint64
}

// WriteGeneration changes whenever a write may have changed the database:
// it is bumped after each write batch commits (or fails) and before any
// of the batch's callers is answered. A value read before a read of the
// database and still current later proves that nothing was written in
// between, which lets callers cache records without a time-to-live.
func (s *Store) WriteGeneration() uint64 { return s.gen.Load() }

var _ meta.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, applies pending
// schema migrations and starts the writer. It refuses a database whose
// schema is newer than this build.
func Open(ctx context.Context, path string) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: open %s: %w", path, err)
	}
	wdb, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("meta/sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	if err := checkWAL(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("meta/sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("meta/sqlite: open %s: %w", path, err)
	}

	rdb, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("meta/sqlite: open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	if err := rdb.PingContext(ctx); err != nil {
		rdb.Close()
		wdb.Close()
		return nil, fmt.Errorf("meta/sqlite: open %s: %w", path, err)
	}

	s := &Store{
		wdb:     wdb,
		rdb:     rdb,
		wst:     newStmtCache(wdb),
		rst:     newStmtCache(rdb),
		reqs:    make(chan *writeReq),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// dsn builds a file: URI (so any byte of the path survives) with the
// driver's parameters for the write connection or the read pool.
func dsn(abs string, write bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "FULL")
	if write {
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// checkWAL makes sure the journal really is WAL: a filesystem that cannot
// hold the shared-memory index silently keeps the old mode.
func checkWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	return nil
}

// migrate brings the schema to the newest version, one migration per
// transaction together with the user_version bump.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateStep(ctx, db)
		if err != nil || done {
			return err
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: other processes wait
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("migrate: read schema version: %w", err)
	}
	switch {
	case v > schemaVersion():
		return false, fmt.Errorf("schema version %d is newer than this build understands (%d)", v, schemaVersion())
	case v == schemaVersion():
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	// PRAGMA takes no bound parameters; v+1 is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to schema version %d: %w", v+1, err)
	}
	return false, nil
}

// Close stops the writer (waiting for the batch in flight) and closes the
// database. Calls after the first return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.done
		s.wst.close()
		s.rst.close()
		err1 := s.rdb.Close()
		err2 := s.wdb.Close()
		if err := errors.Join(err1, err2); err != nil {
			s.closeErr = fmt.Errorf("meta/sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// writeReq is one operation waiting for the writer.
type writeReq struct {
	ctx context.Context
	fn  func(r runner) error
	res chan error
}

// write runs fn inside a write transaction and returns once the
// transaction holding fn's changes has committed (nil) or fn's changes have
// been rolled back (an error). fn runs on the writer goroutine; it must not
// call other Store methods. A ctx cancelled before fn starts skips fn; once
// it has started, fn runs to completion so that the result is known.
func (s *Store) write(ctx context.Context, fn func(r runner) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, fn: fn, res: make(chan error, 1)}
	select {
	case s.reqs <- req:
	case <-s.closing:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return classify(<-req.res)
}

// SQLite primary result codes that name a storage condition.
const (
	sqliteReadOnly = 8  // SQLITE_READONLY
	sqliteFull     = 13 // SQLITE_FULL
)

// classify adds the matching syscall error to SQLite's "disk full" and
// "read-only" failures, so callers can tell them apart with errors.Is the
// same way they do for the blob store.
func classify(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqliteFull:
		return fmt.Errorf("%w (%w)", err, syscall.ENOSPC)
	case sqliteReadOnly:
		return fmt.Errorf("%w (%w)", err, syscall.EROFS)
	}
	return err
}

// writer is the single goroutine that owns write transactions.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case <-s.closing:
			return
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		clear(batch)
		s.wst.warm(context.Background())
	}
}

// commitBatch runs the operations of batch in one transaction, each inside
// a savepoint, commits, and answers every caller.
func (s *Store) commitBatch(batch []*writeReq) {
	// Statements run under a context that is never cancelled: interrupting
	// a statement inside a transaction makes SQLite roll back the whole
	// transaction, which would take the neighbours' work with it.
	ctx := context.Background()
	errs := make([]error, len(batch))
	reply := func() {
		s.gen.Add(1) // before any caller learns of the write
		for i, r := range batch {
			r.res <- errs[i]
		}
	}
	failAll := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		reply()
	}

	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		failAll(fmt.Errorf("meta/sqlite: begin: %w", err))
		return
	}
	r := runner{ctx: ctx, tx: tx, c: s.wst}
	ok := 0
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := r.exec("SAVEPOINT op"); err != nil {
			tx.Rollback()
			failAll(fmt.Errorf("meta/sqlite: savepoint: %w", err))
			return
		}
		if err := req.fn(r); err != nil {
			errs[i] = err
			// If SQLite already rolled the whole transaction back (disk
			// full, I/O error), the savepoint is gone: everything done in
			// this batch is lost, so fail it all.
			if _, rerr := r.exec("ROLLBACK TO op"); rerr != nil {
				tx.Rollback()
				failAll(fmt.Errorf("meta/sqlite: transaction lost: %w", rerr))
				return
			}
		} else {
			ok++
		}
		if _, err := r.exec("RELEASE op"); err != nil {
			tx.Rollback()
			failAll(fmt.Errorf("meta/sqlite: release savepoint: %w", err))
			return
		}
	}
	if ok == 0 {
		tx.Rollback()
		reply()
		return
	}
	if err := tx.Commit(); err != nil {
		failAll(fmt.Errorf("meta/sqlite: commit: %w", err))
		return
	}
	reply()
}

// read returns a runner on the read pool.
func (s *Store) read(ctx context.Context) runner {
	return runner{ctx: ctx, c: s.rst}
}

// stmtCache prepares each query once per database handle; database/sql
// then prepares it lazily on each connection that runs it and reuses it
// inside transactions on that connection.
//
// The write handle has one connection, held by the open transaction while
// operations run, so a query first seen inside a transaction cannot be
// prepared on the handle then (that would wait for the connection forever):
// it is prepared on the transaction for this once and recorded, and the
// writer prepares it on the handle after the transaction ends (warm).
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	missed map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt), missed: make(map[string]bool)}
}

// get returns the statement for q, preparing it on the handle if needed.
func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = st
	return st, nil
}

// lookup returns the statement for q if it is prepared, and otherwise
// records q for warm.
func (c *stmtCache) lookup(q string) (*sql.Stmt, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[q]
	if !ok {
		c.missed[q] = true
	}
	return st, ok
}

// warm prepares the queries lookup missed. Call it with no transaction open.
func (c *stmtCache) warm(ctx context.Context) {
	c.mu.Lock()
	var qs []string
	for q := range c.missed {
		qs = append(qs, q)
	}
	clear(c.missed)
	c.mu.Unlock()
	for _, q := range qs {
		// A query that fails to prepare fails again, with its error, when
		// an operation runs it; nothing to report here.
		c.get(ctx, q)
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// runner runs cached statements, inside the write transaction (tx set) or
// on the read pool.
type runner struct {
	ctx context.Context
	tx  *sql.Tx
	c   *stmtCache
}

func (r runner) stmt(q string) (*sql.Stmt, error) {
	if r.tx == nil {
		return r.c.get(r.ctx, q)
	}
	if st, ok := r.c.lookup(q); ok {
		return r.tx.StmtContext(r.ctx, st), nil
	}
	return r.tx.PrepareContext(r.ctx, q) // closed with the transaction
}

func (r runner) exec(q string, args ...any) (sql.Result, error) {
	st, err := r.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(r.ctx, args...)
}

// execCount runs q and returns how many rows it changed.
func (r runner) execCount(q string, args ...any) (int64, error) {
	res, err := r.exec(q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// execSome runs q and returns none when it changed no row.
func (r runner) execSome(none error, q string, args ...any) error {
	n, err := r.execCount(q, args...)
	if err == nil && n == 0 {
		err = none
	}
	return err
}

func (r runner) query(q string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(r.ctx, args...)
}

// queryRow scans the single row of q into dest; sql.ErrNoRows when none.
func (r runner) queryRow(q string, args []any, dest ...any) error {
	st, err := r.stmt(q)
	if err != nil {
		return err
	}
	return st.QueryRowContext(r.ctx, args...).Scan(dest...)
}

// exists reports whether q returns a row.
func (r runner) exists(q string, args ...any) (bool, error) {
	var one int
	err := r.queryRow(q, args, &one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// emptyListing is the error for a listing that found nothing: none when
// its parent (the row q selects) does not exist either, else nil.
func emptyListing(r runner, none error, q string, args ...any) error {
	ok, err := r.exists(q, args...)
	if err == nil && !ok {
		err = none
	}
	return err
}

// nanos stores t as UTC unix nanoseconds; the zero time is 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// nilIfEmpty normalizes empty byte slices read back from BLOB columns.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// prefixEnd returns the smallest string greater than every string with the
// given prefix, comparing bytes, and false when there is none (empty
// prefix or all 0xff bytes). Keys with the prefix are then exactly
// prefix <= key < end, with no LIKE and no escaping.
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}
