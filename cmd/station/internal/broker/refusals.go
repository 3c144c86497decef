package broker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// refusalEvery is how often repeated refusals are summed up in the log.
const refusalEvery = 30 * time.Second

// maxRefusalKeys bounds the refusals remembered between two summaries;
// beyond it, refusals are summed per reason only.
const maxRefusalKeys = 4096

// refusalLog logs refused connections without letting a flood fill the
// log: the first refusal of an address for a reason is logged in full,
// the next ones within refusalEvery are only counted and then logged as
// one line with their number. Nothing secret is logged: never a password,
// and user names and client ids are cut to 64 bytes.
type refusalLog struct {
	log *slog.Logger

	mu       sync.Mutex
	repeated map[refusalKey]int
}

type refusalKey struct{ addr, reason string }

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, repeated: map[refusalKey]int{}}
}

// refuse records one refusal of a connection from addr (an address key)
// for reason; attrs describe this one (remote, user, client).
func (r *refusalLog) refuse(addr, reason string, attrs ...any) {
	k := refusalKey{addr, reason}
	r.mu.Lock()
	n, seen := r.repeated[k]
	if !seen && len(r.repeated) >= maxRefusalKeys {
		k.addr = "*"
		n, seen = r.repeated[k]
	}
	if seen {
		r.repeated[k] = n + 1
		r.mu.Unlock()
		return
	}
	r.repeated[k] = 0
	r.mu.Unlock()
	r.log.Warn("connection refused", append([]any{"reason", reason, "addr", addr}, attrs...)...)
}

// flush logs the refusals counted since the last flush.
func (r *refusalLog) flush() {
	r.mu.Lock()
	repeated := r.repeated
	r.repeated = map[refusalKey]int{}
	r.mu.Unlock()
	for k, n := range repeated {
		if n > 0 {
			r.log.Warn("connections refused again", "reason", k.reason, "addr", k.addr, "count", n, "within", refusalEvery.String())
		}
	}
}

// run flushes every refusalEvery until ctx ends, then once more.
func (r *refusalLog) run(ctx context.Context) {
	t := time.NewTicker(refusalEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.flush()
		case <-ctx.Done():
			r.flush()
			return
		}
	}
}

// short cuts s (a user name or client id from the network) for a log line.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// mochiLog is mochi's logger, with its one log line per connection that
// comes before the login (a keepalive below 5 s) moved to debug: a flood
// of connections asking for keepalive 1 would otherwise write a warning
// each, which refusalLog is there to prevent.
type mochiLog struct{ slog.Handler }

func (h mochiLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == mqtt.ErrMinimumKeepalive.Error() && r.Level > slog.LevelDebug {
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.Handler.Handle(ctx, r)
}

func (h mochiLog) WithAttrs(as []slog.Attr) slog.Handler { return mochiLog{h.Handler.WithAttrs(as)} }
func (h mochiLog) WithGroup(g string) slog.Handler       { return mochiLog{h.Handler.WithGroup(g)} }
