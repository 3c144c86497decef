package broker

import (
	"errors"
	"sync"
	"sync/atomic"
)

// DefaultMaxInflightBytes bounds the bytes of the packets that the network
// clients' read loops hold at once (see Limits.MaxInflightBytes): as much
// as the store's queue (store.DefaultQueueBytes), some fifteen snapshots
// of the largest size, or hundreds of thousands of events.
const DefaultMaxInflightBytes = 64 << 20

// budget is the station-wide bound on the bytes of packets being read or
// handled by the clients' read loops. A read loop that blocks in the
// store's Submit (the store's queue is full) holds the packet it read, up
// to MaxPacketSize: without a bound, 2,000 clients could hold 8 GiB. With
// it, a read loop charges a packet's size before mochi reads (and
// allocates) its body and gives it back when mochi asks for the next
// packet, so when the budget is spent the next reader waits before
// reading: backpressure on its gateway, never a drop.
type budget struct {
	max int64

	mu      sync.Mutex
	used    int64
	wake    chan struct{} // closed and replaced when bytes are released to waiters
	waiting int           // acquires waiting on wake

	peak  atomic.Int64 // the most ever charged at once, for tests
	waits atomic.Int64 // charges that had to wait
}

func newBudget(max int64) *budget {
	return &budget{max: max, wake: make(chan struct{})}
}

// acquire charges n bytes, waiting while they do not fit (a packet larger
// than the whole budget goes alone, when nothing else is charged). It
// reports false, having charged nothing, if gone is closed first.
func (b *budget) acquire(n int64, gone <-chan struct{}) bool {
	waited := false
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			used := b.used
			b.mu.Unlock()
			for p := b.peak.Load(); used > p && !b.peak.CompareAndSwap(p, used); p = b.peak.Load() {
			}
			return true
		}
		wake := b.wake
		b.waiting++
		b.mu.Unlock()
		if !waited {
			waited = true
			b.waits.Add(1)
		}
		var ok bool
		select {
		case <-wake:
			ok = true
		case <-gone:
		}
		b.mu.Lock()
		b.waiting--
		b.mu.Unlock()
		if !ok {
			return false
		}
	}
}

// release gives back n bytes charged by acquire.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	// Every read loop releases a packet before it charges the next: a new
	// channel each time, with nobody waiting, showed in the profile.
	if b.waiting > 0 {
		close(b.wake)
		b.wake = make(chan struct{})
	}
	b.mu.Unlock()
}

// inUse is what is charged now.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// errReaderGone is returned by a read that waited for the budget when its
// connection was closed meanwhile.
var errReaderGone = errors.New("connection closed while waiting for the in-flight byte budget")

// framedReader sits between a connection and mochi's buffered reader and
// hands mochi one packet at a time, so that it knows when mochi is done
// with a packet: mochi reads a packet whole, handles it (the ingest hook's
// Submit included), then asks for the next one. When mochi asks for bytes
// past the end of the packet it was given, the packet is over: its
// charge is given back and the next packet's fixed header is read (into
// buf, with whatever follows it) and its size charged before any of its
// bytes are handed on. The first packet (the CONNECT, bounded on its own
// by maxConnectSize) and packets above maxPacket (which mochi refuses
// without reading them) are not charged.
type framedReader struct {
	b         *budget
	maxPacket int
	gone      <-chan struct{}

	buf  []byte // holds pend
	pend []byte // read from the connection, not yet handed on
	left int    // bytes of the current packet not yet handed on
	seen bool   // the first packet has begun
	err  error  // from the connection, reported once pend is handed on
	held atomic.Int64
}

// framedBufSize is the read buffer of a framedReader: mochi's own is 2 KiB.
const framedBufSize = 16 << 10

func newFramedReader(b *budget, maxPacket int, gone <-chan struct{}) *framedReader {
	return &framedReader{b: b, maxPacket: maxPacket, gone: gone}
}

// read reads at most the rest of the current packet into p, from pend or
// through rd (the connection).
func (f *framedReader) read(p []byte, rd func([]byte) (int, error)) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.left == 0 {
		f.b.release(f.held.Swap(0))
		total, remaining, err := f.header(rd)
		if err != nil {
			return 0, err
		}
		f.left = total
		if f.seen && remaining <= f.maxPacket {
			if !f.b.acquire(int64(total), f.gone) {
				return 0, errReaderGone
			}
			f.held.Store(int64(total))
		}
		f.seen = true
	}
	p = p[:min(len(p), f.left)]
	if len(f.pend) > 0 {
		n := copy(p, f.pend)
		f.pend = f.pend[n:]
		f.left -= n
		return n, nil
	}
	if f.err != nil {
		return 0, f.err
	}
	n, err := rd(p)
	f.left -= n
	return n, err
}

// header makes sure pend starts with a whole fixed header (a type byte and
// the remaining length in one to four bytes) and returns the packet's
// size and its remaining length.
func (f *framedReader) header(rd func([]byte) (int, error)) (total, remaining int, err error) {
	for {
		if len(f.pend) >= 2 {
			var length, i int
			for i = 1; i < len(f.pend) && i <= 4; i++ {
				x := f.pend[i]
				length |= int(x&0x7f) << (7 * (i - 1))
				if x&0x80 == 0 {
					return i + 1 + length, length, nil
				}
			}
			if i > 4 {
				return 0, 0, errors.New("packet length longer than four bytes")
			}
		}
		if f.err != nil {
			return 0, 0, f.err
		}
		if f.buf == nil {
			f.buf = make([]byte, framedBufSize)
		}
		k := copy(f.buf, f.pend)
		n, err := rd(f.buf[k:])
		f.pend = f.buf[:k+n]
		f.err = err
	}
}

// end gives back what the reader holds; its connection is over.
func (f *framedReader) end() { f.b.release(f.held.Swap(0)) }
