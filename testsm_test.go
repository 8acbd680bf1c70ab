package keeper

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// testDisk stands in for the members' tree files: it keeps, per data dir,
// the state a testSM last synced. A crash loses everything applied since.
type testDisk struct {
	mu    sync.Mutex
	state map[string]testSMState
}

func newTestDisk() *testDisk { return &testDisk{state: make(map[string]testSMState)} }

// testSMState is what a testSM persists: the applied index, a running hash of
// every applied entry, the op count and the membership.
type testSMState struct {
	Applied uint64
	Digest  uint64
	Ops     uint64
	Members []byte
	KV      map[string]string // payloads "kv:key=value" set key
}

// open is an openOptions.openStateMachine.
func (d *testDisk) open(dir string, _ uint64) (stateMachine, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.state[dir]
	s.KV = maps.Clone(s.KV)
	if s.KV == nil {
		s.KV = make(map[string]string)
	}
	sm := &testSM{disk: d, dir: dir, st: s}
	sm.dig.Store(s.Digest)
	return sm, nil
}

// testSM is a deterministic state machine for the loop's tests: apply hashes
// each entry into a running digest, so replicas that applied the same log
// agree, and any divergence shows.
type testSM struct {
	disk *testDisk
	dir  string
	st   testSMState
	dig  atomic.Uint64 // st.Digest, for digest() from any goroutine
	mu   sync.Mutex    // guards st.KV against get
}

// get reads key from the applied state; safe from any goroutine.
func (s *testSM) get(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.KV[key]
}

func (s *testSM) apply(ents []committed) ([]*applyResult, error) {
	res := make([]*applyResult, len(ents))
	for i, e := range ents {
		if e.Index != s.st.Applied+1 {
			return nil, fmt.Errorf("test sm: apply index %d after %d", e.Index, s.st.Applied)
		}
		h := fnv.New64a()
		var b [17]byte
		binary.BigEndian.PutUint64(b[:], s.st.Digest)
		binary.BigEndian.PutUint64(b[8:], e.Index)
		b[16] = byte(e.Kind)
		h.Write(b[:])
		h.Write(e.Data)
		s.st.Digest = h.Sum64()
		s.st.Applied = e.Index
		switch e.Kind {
		case entryOp:
			s.st.Ops++
			if kv, ok := strings.CutPrefix(string(e.Data), "kv:"); ok {
				k, v, _ := strings.Cut(kv, "=")
				s.mu.Lock()
				s.st.KV[k] = v
				s.mu.Unlock()
			}
			res[i] = &applyResult{Ops: []OpResult{{Path: string(e.Data), Stat: Stat{Mzxid: Zxid(e.Index)}}}}
		case entryConf:
			s.st.Members = append([]byte(nil), e.Data...)
		}
	}
	s.dig.Store(s.st.Digest)
	return res, nil
}

func (s *testSM) applied() uint64    { return s.st.Applied }
func (s *testSM) digest() uint64     { return s.dig.Load() }
func (s *testSM) membership() []byte { return s.st.Members }

func (s *testSM) sync() error {
	s.disk.mu.Lock()
	defer s.disk.mu.Unlock()
	st := s.st
	st.Members = append([]byte(nil), st.Members...)
	s.mu.Lock()
	st.KV = maps.Clone(st.KV)
	s.mu.Unlock()
	s.disk.state[s.dir] = st
	return nil
}

func (s *testSM) close() error { return s.sync() }

// crash drops the unsynced state.
func (s *testSM) crash() {}
