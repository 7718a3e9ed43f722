// Package audit owns Coffer's audit ledger: the one Event type every request
// path emits, its canonical encoding, and the append-only, tamper-evident log
// the events are committed to.
//
// The ledger follows the transparency-log model of Certificate Transparency
// (RFC 6962) and the Go checksum database: every event becomes a leaf of a
// Merkle tree, and signed checkpoints (C2SP tlog-checkpoint, signed notes)
// commit to the tree's size and root so that nobody, not even the operator,
// can change or drop an entry unseen. The tree is published in the C2SP
// tlog-tiles layout, so any tlog-tiles client can fetch and verify it.
//
// Leaves are commitments, not payloads. A leaf's entry is
// SHA-256(salt || canonical event) with a fresh 32-byte salt per event; the
// salt and the event (the payload) are kept in a side store, sealed under a
// key that belongs to the event's data subject. Destroying that key (Erase)
// makes the subject's payloads unrecoverable while every leaf, proof and
// checkpoint stays valid, and the published tree reveals nothing about the
// events.
//
// Witnesses (C2SP tlog-witness) cosign the checkpoints after checking that
// each extends the last one they saw, so the operator cannot show two
// different histories to two verifiers without a witness noticing.
//
// The package is organised by concept:
//
//   - event.go: the Event type and its canonical, versioned JSON encoding.
//   - sealer.go: the Sealer interface that holds per-subject payload keys.
//   - tree.go: pure Merkle bookkeeping over x/mod/sumdb/tlog (the frontier
//     of a growing tree, tile assembly, C2SP tile paths).
//   - segment.go: the record formats and segment files (leaf log, payloads).
//   - log.go: the durable, group-committed Log (Append, fail closed,
//     backpressure) and its background integrator.
//   - recover.go: crash recovery when a Log is opened.
//   - checkpoint.go: signing keys and signed checkpoints.
//   - verify.go: offline verification, inclusion and consistency proofs.
//   - witness.go: a C2SP tlog-witness (the add-checkpoint server) that
//     cosigns other logs' checkpoints.
//   - cosign.go: collecting witness cosignatures for this log's
//     checkpoints; cosign_verify.go: checking them in Verify.
//   - serve.go: LedgerHandler, the read-only HTTP view of the public files.
//   - verify_remote.go: VerifyRemote, verification over HTTP(S).
//   - erase.go: crypto-shredding a data subject.
//   - reader.go: reading entries back from an index on, beside a live Log
//     (for exporters and the search indexer, in package export).
//
// The on-disk format is specified in docs/ledger-format.md.
package audit
