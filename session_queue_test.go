package keeper_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keeper-go/keeper"
	"github.com/keeper-go/keeper/keepertest"
)

// takeNext waits for s's EventsReady signal and takes what is queued,
// until at least one event came.
func takeNext(t *testing.T, s *keeper.Session) ([]keeper.Event, bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-s.EventsReady():
			if evs, ended := s.TakeEvents(nil); len(evs) > 0 {
				return evs, ended
			}
		case <-deadline:
			t.Fatalf("session %d: no events within 20s", s.ID())
		}
	}
}

// EventsOnly sessions: one change that fires the watches of many
// sessions signals every one's consumer, and TakeEvents hands each the
// change's event; a session's end signals its consumer too, and
// TakeEvents then reports that nothing follows.
func TestEventsOnlySessionsAreSignalled(t *testing.T) {
	n := keepertest.NewCluster(t, 1).WaitLeader()
	ctx := context.Background()
	if _, err := n.Create(ctx, "/w", nil, keeper.Persistent); err != nil {
		t.Fatal(err)
	}
	const sessions = 50
	ss := make([]*keeper.Session, sessions)
	for i := range ss {
		s, err := n.NewSession(ctx, keeper.SessionOptions{Events: true, EventsOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		if _, _, _, err := s.GetW(ctx, "/w"); err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	st, err := n.Set(ctx, "/w", []byte("x"), -1)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range ss {
		evs, ended := takeNext(t, s)
		want := fmt.Sprintf("[{%v /w %d}]", keeper.NodeDataChanged, st.Mzxid)
		if got := describe(evs); got != want || ended {
			t.Fatalf("session %d: took %s ended %v, want %s, not ended", i, got, ended, want)
		}
	}
	s := ss[0]
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	evs, ended := takeNext(t, s)
	if len(evs) != 1 || evs[0].Type != keeper.SessionStateChanged || evs[0].State != keeper.StateClosed || !ended {
		t.Fatalf("after Close: took %+v ended %v, want the Closed state event, ended", evs, ended)
	}
}

// describe prints events as {type path zxid}.
func describe(evs []keeper.Event) string {
	s := "["
	for i, ev := range evs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("{%v %s %d}", ev.Type, ev.Path, ev.Zxid)
	}
	return s + "]"
}
