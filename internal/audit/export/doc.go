// Package export owns everything that carries audit ledger entries out of
// the ledger: the cursor-driven Follower, the records it produces, and the
// sinks it feeds (JSON lines file, RFC 5424 syslog over TCP or TLS, signed
// HTTPS webhook, and the search indexer that fills the metadata store's
// audit index).
//
// The ledger stays the source of truth and the only buffer. A Follower
// reads durable entries in index order from just after its sink's
// persisted cursor, hands them to the sink in batches, and only after the
// sink has acknowledged a batch writes the new cursor (atomically, with
// fsync) to <state dir>/<sink name>.cursor. A sink that is down is retried
// with capped exponential backoff while the ledger keeps growing; a
// process that stops resumes from the cursor. Delivery is therefore
// at-least-once: a batch acknowledged just before a crash, but not yet in
// the cursor, is sent again after the restart, and never is a record
// skipped. An entry whose data subject has been erased is exported as a
// record with "erased":true and no payload, so a gap in a SIEM copy always
// means something.
//
// Every Record carries the ledger index, the leaf's commitment and RFC 6962
// leaf hash, and (unless erased) the salt and canonical event, so a
// receiver can check a copy against the tree: VerifyRecord checks that the
// event and salt hash to the commitment and that the leaf hash is the
// commitment's, and an inclusion proof (audit.Prove, checked with
// tlog.CheckRecord) places the leaf hash at its index under a signed
// checkpoint.
package export
