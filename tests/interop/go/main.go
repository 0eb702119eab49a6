// Command interop checks Vitrina's log formats with Go's golang.org/x/mod/sumdb/note and
// sumdb/tlog, an implementation written independently of ours.
//
// It reads one JSON request on stdin (a signed checkpoint and its verifier key, the log's leaf
// hashes and stored-hash table, proofs that should and should not verify, a signer key and a text
// to sign) and writes one JSON response on stdout: every disagreement found, and notes signed by Go.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proofCase struct {
	Index  int64    `json:"index"`  // inclusion: the entry
	First  int64    `json:"first"`  // consistency: the earlier tree size
	Size   int64    `json:"size"`   // the (later) tree size
	Proof  []string `json:"proof"`  // base64 hashes, leaf first
	Valid  bool     `json:"valid"`  // whether the proof should verify
	Remark string   `json:"remark"` // what was done to the proof, for messages
}

type request struct {
	Checkpoint   string      `json:"checkpoint"`
	VerifierKey  string      `json:"verifier_key"`
	LeafHashes   []string    `json:"leaf_hashes"`
	StoredHashes []string    `json:"stored_hashes"`
	Roots        []string    `json:"roots"` // roots[size] for size 1..len(leaf_hashes); roots[0] unused
	Inclusion    []proofCase `json:"inclusion"`
	Consistency  []proofCase `json:"consistency"`
	SignerKey    string      `json:"signer_key"`
	Text         string      `json:"text"`
	GoKeyName    string      `json:"go_key_name"`
}

type response struct {
	Problems          []string `json:"problems"`
	CheckpointText    string   `json:"checkpoint_text"`
	SignedWithOurKey  string   `json:"signed_with_our_key"`
	GoSignerKey       string   `json:"go_signer_key"`
	GoVerifierKey     string   `json:"go_verifier_key"`
	SignedWithGoKey   string   `json:"signed_with_go_key"`
	InclusionChecks   int      `json:"inclusion_checks"`
	ConsistencyChecks int      `json:"consistency_checks"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "reading request:", err)
		os.Exit(2)
	}
	resp := &response{Problems: []string{}}
	checkStoredHashes(&req, resp)
	checkCheckpoint(&req, resp)
	checkInclusion(&req, resp)
	checkConsistency(&req, resp)
	sign(&req, resp)
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, "writing response:", err)
		os.Exit(2)
	}
}

func (r *response) problem(format string, args ...interface{}) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func decodeHash(s string) tlog.Hash {
	var h tlog.Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fmt.Fprintf(os.Stderr, "bad hash %q in request\n", s)
		os.Exit(2)
	}
	copy(h[:], b)
	return h
}

func decodeHashes(list []string) []tlog.Hash {
	hashes := make([]tlog.Hash, len(list))
	for i, s := range list {
		hashes[i] = decodeHash(s)
	}
	return hashes
}

// goStoredHashes builds Go's own stored-hash table from the leaf hashes.
func goStoredHashes(leaves []tlog.Hash) []tlog.Hash {
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, index := range indexes {
			out[i] = stored[index]
		}
		return out, nil
	})
	for n, leaf := range leaves {
		hashes, err := tlog.StoredHashesForRecordHash(int64(n), leaf, reader)
		if err != nil {
			panic(err)
		}
		stored = append(stored, hashes...)
	}
	return stored
}

func readerOf(stored []tlog.Hash) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, index := range indexes {
			out[i] = stored[index]
		}
		return out, nil
	})
}

func checkStoredHashes(req *request, resp *response) {
	ours := decodeHashes(req.StoredHashes)
	theirs := goStoredHashes(decodeHashes(req.LeafHashes))
	if len(ours) != len(theirs) {
		resp.problem("stored-hash table has %d hashes, Go stores %d", len(ours), len(theirs))
		return
	}
	for i := range ours {
		if ours[i] != theirs[i] {
			level, n := tlog.SplitStoredHashIndex(int64(i))
			resp.problem("stored hash %d (level %d, n %d) differs from Go's", i, level, n)
		}
	}
	reader := readerOf(theirs)
	for size := 1; size < len(req.Roots); size++ {
		h, err := tlog.TreeHash(int64(size), reader)
		if err != nil || h != decodeHash(req.Roots[size]) {
			resp.problem("root of tree size %d differs from Go's TreeHash", size)
		}
	}
}

func checkCheckpoint(req *request, resp *response) {
	verifier, err := note.NewVerifier(req.VerifierKey)
	if err != nil {
		resp.problem("note.NewVerifier refuses our verifier key: %v", err)
		return
	}
	n, err := note.Open([]byte(req.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		resp.problem("note.Open refuses our checkpoint: %v", err)
		return
	}
	resp.CheckpointText = n.Text
	if len(n.Sigs) != 1 || n.Sigs[0].Name != verifier.Name() {
		resp.problem("note.Open found signatures %v, want one by %s", n.Sigs, verifier.Name())
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 || lines[0] != verifier.Name() {
		resp.problem("checkpoint origin is not the key name %s", verifier.Name())
		return
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 || size >= int64(len(req.Roots)) {
		resp.problem("checkpoint tree size %q is not a tree size of the request", lines[1])
		return
	}
	if lines[2] != req.Roots[size] {
		resp.problem("checkpoint root %s is not the root of tree size %d", lines[2], size)
	}
}

func checkInclusion(req *request, resp *response) {
	leaves := decodeHashes(req.LeafHashes)
	reader := readerOf(goStoredHashes(leaves))
	for _, c := range req.Inclusion {
		proof := tlog.RecordProof(decodeHashes(c.Proof))
		err := tlog.CheckRecord(proof, c.Size, decodeHash(req.Roots[c.Size]), c.Index, leaves[c.Index])
		resp.InclusionChecks++
		if (err == nil) != c.Valid {
			resp.problem("tlog.CheckRecord(entry %d, size %d, %s) = %v, want valid=%v", c.Index, c.Size, c.Remark, err, c.Valid)
		}
		if c.Valid {
			want, err := tlog.ProveRecord(c.Size, c.Index, reader)
			if err != nil || !sameHashes(want, proof) {
				resp.problem("inclusion proof for entry %d in size %d differs from tlog.ProveRecord", c.Index, c.Size)
			}
		}
	}
}

func checkConsistency(req *request, resp *response) {
	reader := readerOf(goStoredHashes(decodeHashes(req.LeafHashes)))
	for _, c := range req.Consistency {
		proof := tlog.TreeProof(decodeHashes(c.Proof))
		err := tlog.CheckTree(proof, c.Size, decodeHash(req.Roots[c.Size]), c.First, decodeHash(req.Roots[c.First]))
		resp.ConsistencyChecks++
		if (err == nil) != c.Valid {
			resp.problem("tlog.CheckTree(%d -> %d, %s) = %v, want valid=%v", c.First, c.Size, c.Remark, err, c.Valid)
		}
		if c.Valid {
			want, err := tlog.ProveTree(c.Size, c.First, reader)
			if err != nil || !sameHashes(want, proof) {
				resp.problem("consistency proof %d -> %d differs from tlog.ProveTree", c.First, c.Size)
			}
		}
	}
}

func sameHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sign(req *request, resp *response) {
	signer, err := note.NewSigner(req.SignerKey)
	if err != nil {
		resp.problem("note.NewSigner refuses our signer key: %v", err)
	} else if msg, err := note.Sign(&note.Note{Text: req.Text}, signer); err != nil {
		resp.problem("note.Sign with our signer key: %v", err)
	} else {
		resp.SignedWithOurKey = string(msg)
	}

	skey, vkey, err := note.GenerateKey(rand.Reader, req.GoKeyName)
	if err != nil {
		resp.problem("note.GenerateKey: %v", err)
		return
	}
	goSigner, err := note.NewSigner(skey)
	if err != nil {
		resp.problem("note.NewSigner(GenerateKey's key): %v", err)
		return
	}
	msg, err := note.Sign(&note.Note{Text: req.Text}, goSigner)
	if err != nil {
		resp.problem("note.Sign with a Go key: %v", err)
		return
	}
	resp.GoSignerKey, resp.GoVerifierKey, resp.SignedWithGoKey = skey, vkey, string(msg)
}
