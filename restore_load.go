package keeper

import (
	"errors"

	"github.com/keeper-go/keeper/storage"
)

// treeLoad is the writing half of a restore (restoreTree): it runs on a
// goroutine of its own, so that building the sstables overlaps reading and
// checking the stream. The reading goroutine queues what each record adds
// to the store (put for a znode, set for an index, session or staging key)
// and hands the queue over in batches of about loadBatchBytes; the loading
// goroutine adds the znodes to the Loader and the other keys to the batch,
// in the order queued. The Loader and the batch belong to the loading
// goroutine from start until wait returns.
type treeLoad struct {
	ld *storage.Loader
	b  *storage.Batch

	cur  *loadBatch
	full chan *loadBatch // to the loading goroutine
	free chan *loadBatch // back to the reading one
	done chan struct{}   // closed when the loading goroutine has ended
	err  error           // the loading goroutine's; read after done
}

// loadBatch is a queue of keys and values to add, in one buffer.
type loadBatch struct {
	buf []byte
	ops []loadOp
}

// loadOp is one key and value of a loadBatch: buf[start:keyEnd] is the key,
// buf[keyEnd:end] the value.
type loadOp struct {
	put                bool // a znode, for the Loader; else a batch key
	start, keyEnd, end int
}

// loadBatchBytes is about how many bytes a loadBatch holds when it is
// handed over; loadBatches is how many exist, which bounds the memory a
// restore holds in flight.
const (
	loadBatchBytes = 1 << 20
	loadBatches    = 4
)

// errLoadEnded is what the reading goroutine's queueing returns once the
// loading goroutine has stopped on an error; wait returns that error.
var errLoadEnded = errors.New("keeper: restore: the load stopped")

// startLoad starts the loading goroutine over ld and b.
func startLoad(ld *storage.Loader, b *storage.Batch) *treeLoad {
	l := &treeLoad{
		ld:   ld,
		b:    b,
		full: make(chan *loadBatch, loadBatches),
		free: make(chan *loadBatch, loadBatches),
		done: make(chan struct{}),
	}
	for range loadBatches {
		l.free <- &loadBatch{buf: make([]byte, 0, loadBatchBytes+loadBatchBytes/4)}
	}
	l.cur = <-l.free
	go l.run()
	return l
}

// put queues a znode's key and value for the Loader.
func (l *treeLoad) put(key, value []byte) error { return l.queue(true, key, value) }

// set queues a key and value for the batch.
func (l *treeLoad) set(key, value []byte) error { return l.queue(false, key, value) }

func (l *treeLoad) queue(put bool, key, value []byte) error {
	c := l.cur
	start := len(c.buf)
	c.buf = append(c.buf, key...)
	c.buf = append(c.buf, value...)
	c.ops = append(c.ops, loadOp{put: put, start: start, keyEnd: start + len(key), end: len(c.buf)})
	if len(c.buf) < loadBatchBytes {
		return nil
	}
	return l.handOver()
}

// handOver sends the current batch to the loading goroutine and takes an
// empty one.
func (l *treeLoad) handOver() error {
	select {
	case <-l.done:
		return errLoadEnded
	default:
	}
	select {
	case l.full <- l.cur:
	case <-l.done:
		return errLoadEnded
	}
	select {
	case l.cur = <-l.free:
	case <-l.done:
		return errLoadEnded
	}
	return nil
}

// wait hands over what is queued, lets the loading goroutine add it, and
// returns once that goroutine has ended, with its error. The Loader and
// the batch are the caller's again. Call it exactly once, also on failure.
func (l *treeLoad) wait() error {
	if len(l.cur.ops) > 0 {
		_ = l.handOver()
	}
	close(l.full)
	<-l.done
	return l.err
}

// run is the loading goroutine: it adds the keys of each batch handed
// over until the queue is closed or an add fails; after a failure it
// ends, and the reading goroutine's next hand-over sees it.
func (l *treeLoad) run() {
	defer close(l.done)
	for c := range l.full {
		for _, op := range c.ops {
			k, v := c.buf[op.start:op.keyEnd], c.buf[op.keyEnd:op.end]
			var err error
			if op.put {
				err = l.ld.Add(k, v)
			} else if err = l.b.Set(k, v); err == nil {
				err = flushAt(l.b, indexBatchSize)
			}
			if err != nil {
				l.err = err
				return
			}
		}
		c.buf, c.ops = c.buf[:0], c.ops[:0]
		l.free <- c
	}
}
