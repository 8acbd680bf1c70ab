package transport

import "time"

// Partition splits the network into groups that cannot reach each other.
// Members not named in any group form one more group together. It replaces
// any earlier partition; isolation set by Isolate stays.
func (m *Memory) Partition(groups ...[]uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.group = make(map[uint64]int)
	for i, g := range groups {
		for _, id := range g {
			m.group[id] = i + 1
		}
	}
}

// Isolate cuts member id off from every other member until Heal.
func (m *Memory) Isolate(id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.isolated[id] = true
}

// Heal removes every partition and isolation. Drop, delay and duplicate
// settings stay; reset them with DropAll(0), Delay(0, 0) and Duplicate(0).
func (m *Memory) Heal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.group = make(map[uint64]int)
	m.isolated = make(map[uint64]bool)
}

// Drop makes the link from one member to another lose each frame with
// probability fraction (0 removes the setting). The larger of this and the
// DropAll fraction applies.
func (m *Memory) Drop(from, to uint64, fraction float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := linkKey{from, to}
	if fraction <= 0 {
		delete(m.drop, k)
		return
	}
	m.drop[k] = fraction
}

// DropAll makes every link lose each frame with probability fraction.
func (m *Memory) DropAll(fraction float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropAll = fraction
}

// Delay holds every frame sent from now on for d plus a uniformly drawn
// jitter in [0, jitter]. A non-zero jitter reorders frames on a link.
func (m *Memory) Delay(d, jitter time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay, m.jitter = d, jitter
}

// Duplicate makes each frame sent from now on arrive twice with probability
// fraction; the second copy is a separate byte slice.
func (m *Memory) Duplicate(fraction float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dup = fraction
}

// CutStreams makes each of the next n streams (SendStream) break after its
// receiver has read after bytes of its body, as a connection reset would.
// n = 0 removes the setting.
func (m *Memory) CutStreams(n int, after int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cutStreams, m.cutAfter = n, after
}
