package audit

import (
	"context"
	"errors"
	"fmt"
)

// Erase crypto-shreds a data subject: it destroys the subject's payload
// keys, so every payload recorded for the subject so far becomes
// unrecoverable. The leaves are commitments to salted payloads, so the
// tree, its checkpoints and every proof stay valid, and Verify reports the
// subject's payloads as erased. Events recorded later for the same subject
// are sealed under a new key.
//
// The caller records the erasure itself as an event (with an actor that is
// not the subject).
func (l *Log) Erase(ctx context.Context, subject string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.opts.Sealer.Erase(SubjectID(subject)); err != nil {
		return fmt.Errorf("audit: erase subject: %w", err)
	}
	return nil
}

// ReadPayloads calls fn with each readable payload's index and event, in
// index order, skipping erased subjects. It reads the files of a ledger
// directory and is meant for tools (export, search reindexing, tests).
func ReadPayloads(ctx context.Context, dir string, s Sealer, fn func(Event) error) error {
	return forEachPayload(ctx, dir, s, fn)
}

func forEachPayload(ctx context.Context, dir string, s Sealer, fn func(Event) error) error {
	it, err := newPayloadIter(dir)
	if err != nil {
		return fmt.Errorf("audit: read payloads: %w", err)
	}
	defer it.close()
	return forEachRecord(ctx, dir, func(n int64, rec []byte, _ string) error {
		p, err := it.next(n)
		if err != nil {
			return err
		}
		pt, err := s.Open(p.subject, p.sealed, payloadAD(rec[:entrySize]))
		if errors.Is(err, ErrErased) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: payload %d: %w", n, err)
		}
		if len(pt) < 32 {
			return fmt.Errorf("audit: payload %d: too short", n)
		}
		ev, err := DecodeEvent(pt[32:])
		if err != nil {
			return fmt.Errorf("audit: payload %d: %w", n, err)
		}
		ev.Index = n
		return fn(ev)
	})
}
