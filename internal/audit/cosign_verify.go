package audit

// Offline verification of the witness cosignatures stored with the
// checkpoints (cosignatures/<seq>), part of Verify.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// maxCosignatureFile bounds one cosignatures/<seq> file.
const maxCosignatureFile = 64 << 10

// verifyCosignatures checks every stored cosignature against its
// checkpoint and, with a quorum, that the latest checkpoint is witnessed.
//
// With a quorum, some checkpoint must carry it, and the report's
// WitnessedSize says how much of the log the latest such checkpoint
// covers (Verify proves every earlier checkpoint a prefix of later ones,
// so one witnessed checkpoint covers all before it). Checkpoints after it
// may legitimately lack cosignatures (a witness was down, the final
// checkpoint at shutdown was signed after the peer stopped); that tail is
// protected by the log's signature alone, which the report makes visible.
// RequireLatestWitnessed demands the quorum of the latest checkpoint.
func verifyCosignatures(dir, vkey string, opts VerifyOptions, rep *VerifyReport) error {
	verifiers, err := witnessVerifiers(opts)
	if err != nil {
		return err
	}
	hist, err := readCheckpointHistory(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return verr(-1, "checkpoints", "%v", err)
	}
	bySeq := make(map[int64][]byte, len(hist))
	for _, h := range hist {
		bySeq[h.seq] = h.data
	}
	ents, err := os.ReadDir(filepath.Join(dir, "cosignatures"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return verr(-1, "cosignatures", "%v", err)
	}
	signers := make(map[int64][]string) // seq -> distinct valid witnesses
	for _, e := range ents {
		name := "cosignatures/" + e.Name()
		seq, ok := parseSegmentName(e.Name())
		if !ok {
			if strings.HasSuffix(e.Name(), ".tmp") {
				continue
			}
			return verr(-1, name, "unexpected file")
		}
		msg, ok := bySeq[seq]
		if !ok {
			return verr(-1, name, "cosignatures of a checkpoint that is not in checkpoints/")
		}
		if fi, err := e.Info(); err != nil || fi.Size() > maxCosignatureFile {
			return verr(-1, name, "unreadable or larger than %d bytes", maxCosignatureFile)
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			return verr(-1, name, "malformed (no final newline)")
		}
		if signers[seq], err = checkCosignatureLines(msg, splitLines(b), verifiers, rep, name, "checkpoints/"+e.Name()); err != nil {
			return err
		}
	}
	need := max(opts.WitnessQuorum, 1)
	for i := len(hist) - 1; i >= 0 && len(verifiers) > 0; i-- {
		if len(signers[hist[i].seq]) >= need {
			if c, err := OpenCheckpoint(hist[i].data, vkey); err == nil {
				rep.WitnessedSize = c.Tree.N
			}
			break
		}
	}
	if len(hist) > 0 {
		rep.LatestCosigners = signers[hist[len(hist)-1].seq]
	}
	if opts.WitnessQuorum > 0 {
		if len(hist) == 0 {
			return verr(-1, "checkpoints", "no checkpoint to meet the witness quorum")
		}
		last := hist[len(hist)-1]
		if rep.WitnessedSize == 0 && len(signers[last.seq]) < opts.WitnessQuorum {
			return verr(-1, last.name, "witness quorum not met: no checkpoint has %d valid cosignature(s)", opts.WitnessQuorum)
		}
		if got := len(signers[last.seq]); opts.RequireLatestWitnessed && got < opts.WitnessQuorum {
			return verr(-1, last.name, "witness quorum not met: the latest checkpoint has %d valid cosignature(s), the quorum is %d", got, opts.WitnessQuorum)
		}
	}
	return nil
}

// witnessVerifiers returns the verifiers of opts.Witnesses, refusing a
// quorum larger than they can meet.
func witnessVerifiers(opts VerifyOptions) ([]note.Verifier, error) {
	var verifiers []note.Verifier
	for _, k := range opts.Witnesses {
		v, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			return nil, fmt.Errorf("audit: verify: witness key %q: %w", k, err)
		}
		verifiers = append(verifiers, v)
	}
	if opts.WitnessQuorum > len(verifiers) {
		return nil, fmt.Errorf("audit: verify: witness quorum %d with %d witness keys", opts.WitnessQuorum, len(verifiers))
	}
	return verifiers, nil
}

// checkCosignatureLines checks the cosignature lines (read from the file
// name) of checkpoint msg (named ckpt): each must be a note signature
// line, and each by one of verifiers must verify. It counts them in rep
// and returns the distinct witnesses with a valid cosignature.
func checkCosignatureLines(msg []byte, lines [][]byte, verifiers []note.Verifier, rep *VerifyReport, name, ckpt string) ([]string, error) {
	var signers []string
	for i, line := range lines {
		key, ok := lineKey(line)
		if !ok {
			return nil, verr(-1, name, "line %d is not a note signature line", i+1)
		}
		signer, _, _ := strings.Cut(key, " ")
		if len(verifiers) == 0 {
			rep.UnknownCosignatures++
			continue
		}
		err := verifyCosignatureLine(msg, line, verifiers...)
		var une *note.UnverifiedNoteError
		switch {
		case errors.As(err, &une):
			rep.UnknownCosignatures++
		case err != nil:
			return nil, verr(-1, name, "cosignature by %s does not verify on %s: %v", signer, ckpt, err)
		default:
			rep.Cosignatures++
			if !slices.Contains(signers, signer) {
				signers = append(signers, signer)
			}
		}
	}
	return signers, nil
}

// verifyPublishedCosignatures is verifyCosignatures for VerifyRemote,
// which sees only the cosignatures carried by the published checkpoint
// pub (checkpoint msg of the history, named ckpt, followed by its
// cosignature lines): with a quorum, that checkpoint must meet it.
func verifyPublishedCosignatures(msg, pub []byte, ckpt, vkey string, opts VerifyOptions, rep *VerifyReport) error {
	verifiers, err := witnessVerifiers(opts)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(pub, msg) {
		return verr(-1, "checkpoint", "published checkpoint is not %s", ckpt)
	}
	signers, err := checkCosignatureLines(msg, splitLines(pub[len(msg):]), verifiers, rep, "checkpoint", ckpt)
	if err != nil {
		return err
	}
	rep.LatestCosigners = signers
	if len(verifiers) > 0 && len(signers) >= max(opts.WitnessQuorum, 1) {
		if c, err := OpenCheckpoint(msg, vkey); err == nil {
			rep.WitnessedSize = c.Tree.N
		}
	}
	if got := len(signers); got < opts.WitnessQuorum {
		return verr(-1, "checkpoint", "witness quorum not met: the published checkpoint has %d valid cosignature(s), the quorum is %d", got, opts.WitnessQuorum)
	}
	return nil
}
