package keeper

import "sync"

// eventQueueMax bounds the events an EventsOnly session holds for its
// consumer; past it the consumer gets WatchOverflowed and nothing more.
const eventQueueMax = 1 << 16

// eventQueue is an EventsOnly session's events: a queue with no buffer
// set aside in advance, so an idle session costs almost nothing, and a
// burst (a multi's thousand changes under a recursive watch) is held
// whole, up to eventQueueMax. Its own mu guards it (the registry's is held
// too when events are pushed), so that ten thousand consumers woken by one
// change do not queue up on the registry's lock; ready gets a signal
// after events were queued since the consumer last took them (when the
// registry is done pushing, see sessionRegistry.wake).
type eventQueue struct {
	mu    sync.Mutex
	evs   []Event
	ready chan struct{}
	done  bool // the final state event was queued, or the queue overflowed
	// listed: the registry holds the queue among those to signal once it
	// has released its mu (sessionRegistry.wake); the registry's mu
	// guards it.
	listed bool
}

func newEventQueue() *eventQueue { return &eventQueue{ready: make(chan struct{}, 1)} }

// push queues ev, or the overflow event in its place once the queue is
// full; state is the session's state then. The caller signals the
// consumer after (sessionRegistry.wake).
func (q *eventQueue) push(ev Event, state SessionState) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.done {
		return
	}
	if len(q.evs) >= eventQueueMax {
		ev = Event{Type: WatchOverflowed, Zxid: ev.Zxid, State: state, Err: ErrWatchOverflow}
		q.done = true
	}
	q.evs = append(q.evs, ev)
}

// end marks the queue finished after the final state event; the caller
// signals the consumer after (sessionRegistry.wake).
func (q *eventQueue) end() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done = true
}

// signal tells the consumer that the queue has news; a signal not yet
// taken covers this one.
func (q *eventQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take appends the queued events to dst and empties the queue; ended
// reports that no event will follow them.
func (q *eventQueue) take(dst []Event) (events []Event, ended bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dst = append(dst, q.evs...)
	clear(q.evs)
	if cap(q.evs) > 1024 {
		q.evs = nil // a burst's memory goes with it
	} else {
		q.evs = q.evs[:0]
	}
	return dst, q.done
}

// EventsReady returns the channel that signals an EventsOnly session's
// consumer (SessionOptions.EventsOnly) that TakeEvents has events for it;
// nil for other sessions.
func (s *Session) EventsReady() <-chan struct{} {
	if s.queue == nil {
		return nil
	}
	return s.queue.ready
}

// TakeEvents appends an EventsOnly session's queued events to dst, in the
// order Events would have delivered them, and empties its queue; ended
// reports that the session's final state event (or WatchOverflowed, after
// eventQueueMax events not taken) is among them or was taken before, so
// none will follow. It never blocks; for other sessions it returns dst and
// true.
func (s *Session) TakeEvents(dst []Event) (events []Event, ended bool) {
	if s.queue == nil {
		return dst, true
	}
	return s.queue.take(dst)
}
