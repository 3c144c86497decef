package store

import (
	"encoding/json"
	"math"
	"time"
	"unicode/utf8"

	"github.com/antt-gateway/antt/uplink/wire"
)

// fastDecodeEvent decodes the events gateways send, as wire.Event's own
// json.Marshal writes them, without encoding/json: on the read loop of
// every gateway before its PUBACK, encoding/json's reflection was the
// largest single cost of the station. It knows a strict subset of JSON:
// the keys of wire.Event spelt exactly, strings without escapes, integers
// without fraction or exponent, true/false, and attrs as an object (only
// checked with json.Valid and skipped). It reports false for anything
// else, and then ev is untouched and the caller decodes with
// encoding/json (decodeEvent): it never rejects a payload itself, so the
// two cannot disagree on what is refused. When it reports true, ev is
// what decodeEvent's encoding/json path gives (FuzzFastDecodeEvent).
func fastDecodeEvent(p []byte, ev *wire.Event) bool {
	d := fastDec{p: p}
	var e wire.Event
	attrs := false // the last "attrs" was an object
	d.ws()
	if !d.byte('{') {
		return false
	}
	d.ws()
	if d.byte('}') {
		return d.end(ev, &e, attrs)
	}
	for {
		key, ok := d.rawString()
		if !ok {
			return false
		}
		d.ws()
		if !d.byte(':') {
			return false
		}
		d.ws()
		switch string(key) {
		case "seq":
			n, ok := d.uint()
			if !ok {
				return false
			}
			e.Seq = n
		case "id":
			if e.ID, ok = d.str(); !ok {
				return false
			}
		case "epoch":
			if e.Epoch, ok = d.str(); !ok {
				return false
			}
		case "kind":
			if e.Kind, ok = d.str(); !ok {
				return false
			}
		case "source":
			if e.Source, ok = d.str(); !ok {
				return false
			}
		case "state":
			if e.State, ok = d.str(); !ok {
				return false
			}
		case "boot":
			if e.Boot, ok = d.str(); !ok {
				return false
			}
		case "time":
			start := d.i
			if _, ok := d.rawString(); !ok {
				return false
			}
			// What encoding/json calls for a time.Time: its UnmarshalJSON
			// on the quoted value.
			var t time.Time
			if t.UnmarshalJSON(p[start:d.i]) != nil {
				return false
			}
			e.Time = t
		case "clock_synced":
			if e.ClockSynced, ok = d.bool(); !ok {
				return false
			}
		case "test":
			if e.Test, ok = d.bool(); !ok {
				return false
			}
		case "uptime_ms":
			if e.UptimeMS, ok = d.int(); !ok {
				return false
			}
		case "attrs":
			switch {
			case d.literal("null"):
				attrs = false
			case d.object():
				attrs = true
			default:
				return false
			}
		default:
			return false
		}
		d.ws()
		if d.byte('}') {
			return d.end(ev, &e, attrs)
		}
		if !d.byte(',') {
			return false
		}
		d.ws()
	}
}

// fastDec is fastDecodeEvent's position in its input.
type fastDec struct {
	p []byte
	i int
}

// end finishes an object read to its '}': only white space may follow.
// An event whose attrs the store reads is left to encoding/json.
func (d *fastDec) end(ev, e *wire.Event, attrs bool) bool {
	d.ws()
	if d.i != len(d.p) || (attrs && needsAttrs(e.Kind)) {
		return false
	}
	*ev = *e
	return true
}

func (d *fastDec) ws() {
	for d.i < len(d.p) {
		switch d.p[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDec) byte(c byte) bool {
	if d.i < len(d.p) && d.p[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *fastDec) literal(s string) bool {
	if len(d.p)-d.i >= len(s) && string(d.p[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// rawString reads a string without escapes or control characters, and
// returns its bytes between the quotes; non-ASCII must be valid UTF-8
// (encoding/json would replace what is not).
func (d *fastDec) rawString() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	ascii := true
	for ; d.i < len(d.p); d.i++ {
		switch c := d.p[d.i]; {
		case c == '"':
			s := d.p[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// str reads a string; the event's few kinds are not allocated each time.
func (d *fastDec) str() (string, bool) {
	s, ok := d.rawString()
	if !ok {
		return "", false
	}
	if k, ok := kinds[string(s)]; ok {
		return k, true
	}
	return string(s), true
}

// kinds holds the strings most events repeat, so that decoding them does
// not allocate.
var kinds = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{wire.KindMotion, wire.KindContact, wire.KindTamper, wire.KindPanic,
		wire.KindCameraOffline, wire.KindCameraOnline, wire.KindBoot, wire.KindCaptureFailed,
		"active", "inactive", "open", "closed"} {
		m[k] = k
	}
	return m
}()

func (d *fastDec) bool() (bool, bool) {
	switch {
	case d.literal("true"):
		return true, true
	case d.literal("false"):
		return false, true
	}
	return false, false
}

// digits reads a JSON integer's digits (no leading zero but "0"), with no
// fraction or exponent after them, as a uint64.
func (d *fastDec) digits() (uint64, bool) {
	start := d.i
	var n uint64
	for d.i < len(d.p) && d.p[d.i] >= '0' && d.p[d.i] <= '9' {
		c := uint64(d.p[d.i] - '0')
		if n > (math.MaxUint64-c)/10 {
			return 0, false
		}
		n = n*10 + c
		d.i++
	}
	switch {
	case d.i == start, d.p[start] == '0' && d.i-start > 1:
		return 0, false
	case d.i < len(d.p) && (d.p[d.i] == '.' || d.p[d.i] == 'e' || d.p[d.i] == 'E'):
		return 0, false
	}
	return n, true
}

func (d *fastDec) uint() (uint64, bool) { return d.digits() }

func (d *fastDec) int() (int64, bool) {
	neg := d.byte('-')
	n, ok := d.digits()
	switch {
	case !ok:
		return 0, false
	case neg && n <= 1<<63:
		return -int64(n), true // -(1<<63) wraps to itself, the least int64
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

// object skips an object, its end found by matching brackets outside
// strings and the whole checked with json.Valid: a valid JSON value that
// starts at '{' has only one end.
func (d *fastDec) object() bool {
	if d.i >= len(d.p) || d.p[d.i] != '{' {
		return false
	}
	start, depth, inStr := d.i, 0, false
	for ; d.i < len(d.p); d.i++ {
		c := d.p[d.i]
		if inStr {
			switch c {
			case '\\':
				d.i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				d.i++
				return json.Valid(d.p[start:d.i])
			}
		}
	}
	return false
}
