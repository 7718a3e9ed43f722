package scan

// A small Aho-Corasick automaton (Aho and Corasick, "Efficient string
// matching", CACM 1975), compiled to a full DFA over bytes with ASCII case
// folding, so the hot loop is one table load and one bit test per input
// byte. Keyword sets are a few hundred short words: the table is
// states*256*4 bytes, about 1-2 MB.
//
// Bytes are first mapped to classes (each byte that occurs in a keyword,
// case-folded, is a class; all others share class 0), which shrinks a row
// from 256 entries to a few dozen and keeps the table in cache. A DFA
// entry packs the row offset of the next state and whether that state
// reports matches: entry = offset<<1 | accepting.

import "strings"

type acHit struct {
	rule int32 // index into Engine.rules
	klen int32 // keyword length
}

type acAutomaton struct {
	class [256]uint32 // byte -> class
	width uint32      // classes per row
	delta []uint32    // row offset + class -> next row offset<<1 | accepting
	out   [][]acHit   // per state (row offset / width): the rules whose keywords end here
	empty bool        // no keywords at all
}

// newAC builds the automaton for keywords; kwRules[i] are the rules of
// keywords[i]. Keywords are matched ASCII case-insensitively.
func newAC(keywords []string, kwRules [][]int32) *acAutomaton {
	type node struct {
		next [256]int32
		fail int32
		out  []acHit
	}
	nodes := []*node{{}}
	for i := range nodes[0].next {
		nodes[0].next[i] = -1
	}
	for k, kw := range keywords {
		kw = strings.ToLower(kw)
		s := int32(0)
		for j := 0; j < len(kw); j++ {
			c := kw[j]
			if nodes[s].next[c] < 0 {
				n := &node{}
				for i := range n.next {
					n.next[i] = -1
				}
				nodes = append(nodes, n)
				nodes[s].next[c] = int32(len(nodes) - 1)
			}
			s = nodes[s].next[c]
		}
		for _, r := range kwRules[k] {
			nodes[s].out = append(nodes[s].out, acHit{rule: r, klen: int32(len(kw))})
		}
	}
	// Breadth-first: failure links, inherited outputs, full transitions.
	queue := make([]int32, 0, len(nodes))
	for c := range 256 {
		if nodes[0].next[c] < 0 {
			nodes[0].next[c] = 0
		} else {
			queue = append(queue, nodes[0].next[c])
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for c := range 256 {
			t := nodes[s].next[c]
			if t < 0 {
				nodes[s].next[c] = nodes[f].next[c]
				continue
			}
			if s != 0 {
				nodes[t].fail = nodes[f].next[c]
			}
			queue = append(queue, t)
		}
	}
	a := &acAutomaton{empty: len(keywords) == 0}
	// Byte classes: one per (lowercased) keyword byte, 0 for the rest.
	var rep [256]int // class -> a representative lowercase byte
	a.width = 1
	for _, kw := range keywords {
		for j := 0; j < len(kw); j++ {
			c := strings.ToLower(kw)[j]
			if a.class[c] == 0 {
				a.class[c] = a.width
				rep[a.width] = int(c)
				a.width++
			}
		}
	}
	rep[0] = -1
	for c := 'A'; c <= 'Z'; c++ {
		a.class[c] = a.class[c+'a'-'A']
	}
	a.delta = make([]uint32, len(nodes)*int(a.width))
	a.out = make([][]acHit, len(nodes))
	for s, n := range nodes {
		a.out[s] = n.out
		for k := uint32(0); k < a.width; k++ {
			var t int32
			if rep[k] >= 0 {
				t = n.next[rep[k]]
			} else {
				t = 0 // a byte in no keyword: back to the root
			}
			e := uint32(t) * a.width << 1
			if len(nodes[t].out) > 0 {
				e |= 1
			}
			a.delta[uint32(s)*a.width+k] = e
		}
	}
	return a
}

// scan calls hit(end, hits) for every position end (exclusive) where
// keywords end; hits lists their rules and lengths.
func (a *acAutomaton) scan(b []byte, hit func(end int, hits []acHit)) {
	if a.empty {
		return
	}
	delta, class := a.delta, &a.class
	st := uint32(0)
	for i, c := range b {
		st = delta[st>>1+class[c]]
		if st&1 != 0 {
			hit(i+1, a.out[st>>1/a.width])
		}
	}
}
