package store

import "strconv"

// validID is wire.ValidID and validEpoch wire.ValidEpoch without regexp:
// the store checks both on every event before its PUBACK, where the
// regular expressions cost more than decoding the rest of the event.
// FuzzValidators keeps them equal to wire's.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !lowerDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func validEpoch(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !lowerDigit(s[i]) {
			return false
		}
	}
	return true
}

func lowerDigit(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// isEventID reports whether id is wire.EventID(gw, seq), without building
// it.
func isEventID(id, gw string, seq uint64) bool {
	if len(id) <= len(gw)+1 || id[:len(gw)] != gw || id[len(gw)] != '/' {
		return false
	}
	var b [20]byte
	return id[len(gw)+1:] == string(strconv.AppendUint(b[:0], seq, 10))
}
