package export

// The search indexer is a sink like the others: the same Follower feeds
// it, its cursor lives in the state directory, and after a crash it
// catches up from there. Indexing is idempotent (a record indexed again
// replaces itself), so the batch re-delivered after a crash is harmless.
// Erased records have nothing to index and are passed over; their index
// numbers are simply absent from search results.

import (
	"context"
	"fmt"

	"github.com/coffer-vault/coffer/internal/audit"
	"github.com/coffer-vault/coffer/internal/meta"
)

// AuditIndexer is what the indexer needs of the metadata store
// (meta.Store has it).
type AuditIndexer interface {
	IndexAuditEvents(ctx context.Context, recs []meta.AuditIndexRecord) error
}

// Indexer is the sink that fills the metadata store's audit index.
type Indexer struct {
	name  string
	store AuditIndexer
	buf   []meta.AuditIndexRecord
}

// NewIndexer returns the indexer sink, named "search-index".
func NewIndexer(store AuditIndexer) *Indexer {
	return &Indexer{name: "search-index", store: store}
}

// Name returns the sink's name.
func (ix *Indexer) Name() string { return ix.name }

// Deliver indexes the batch's events in one transaction.
func (ix *Indexer) Deliver(ctx context.Context, batch []Record) error {
	ix.buf = ix.buf[:0]
	for i := range batch {
		ev, ok, err := batch[i].Decode()
		if err != nil {
			return Permanent(fmt.Errorf("export: index record %d: %w", batch[i].Index, err))
		}
		if ok {
			ix.buf = append(ix.buf, IndexRecord(ev))
		}
	}
	if len(ix.buf) == 0 {
		return nil
	}
	if err := ix.store.IndexAuditEvents(ctx, ix.buf); err != nil {
		return fmt.Errorf("export: index: %w", err)
	}
	return nil
}

// Close does nothing: the store belongs to the caller.
func (ix *Indexer) Close() error { return nil }

// IndexRecord returns the search index record of an event (whose Index is
// set).
func IndexRecord(ev audit.Event) meta.AuditIndexRecord {
	res := ev.Resource.Admin
	if ev.Resource.Bucket != "" {
		res = ev.Resource.Bucket
		if ev.Resource.Key != "" {
			res += "/" + ev.Resource.Key
		}
	}
	return meta.AuditIndexRecord{
		Index:     ev.Index,
		Time:      ev.Time.UTC(),
		Actor:     ev.Actor.User,
		AccessKey: ev.Actor.AccessKeyID,
		Action:    ev.Action,
		Resource:  res,
		Outcome:   ev.Outcome.Result,
		SourceIP:  ev.Actor.SourceIP,
	}
}
