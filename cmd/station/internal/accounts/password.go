package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's parameters: passes over memory, memory in KiB,
// threads, and the salt and key lengths in bytes.
type Params struct {
	Time    uint32
	Memory  uint32
	Threads uint8
	SaltLen int
	KeyLen  int
}

// DefaultParams are sized for the station PC (at least 2 cores and 4 GB):
// RFC 9106's second recommended option (t=3, m=64 MiB), with 2 lanes
// rather than 4 to match two cores. One check took 255 ms on this
// project's shared 2-core VM (BenchmarkHash), less on a quiet PC, and takes
// 64 MiB while it runs; with Options'
// MaxChecks of 2 a login flood costs at most 128 MiB and two cores, and
// the web server's per-address and per-user limits stop it after a few
// attempts. An attacker with a stolen file pays 64 MiB per guess.
var DefaultParams = Params{Time: 3, Memory: 64 << 10, Threads: 2, SaltLen: 16, KeyLen: 32}

func (p Params) check() error {
	if p.Time < 1 || p.Memory < 8*uint32(p.Threads) || p.Threads < 1 || p.SaltLen < 8 || p.KeyLen < 16 || p.Memory > 4<<20 {
		return fmt.Errorf("argon2id parameters %+v: want t>=1, 1<=p, 8p KiB<=m<=4 GiB, salt>=8, key>=16", p)
	}
	return nil
}

// Hash returns the PHC string of password under p:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<key> (unpadded standard base64).
func (p Params) Hash(password string) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// parseHash reads a PHC argon2id string.
func parseHash(s string) (p Params, salt, key []byte, err error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("password hash: not an argon2id PHC string")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("password hash: version %q, want v=%d", f[2], argon2.Version)
	}
	var m, t, th uint64
	for _, kv := range strings.Split(f[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(v, 10, 32)
		if perr != nil {
			return p, nil, nil, fmt.Errorf("password hash: parameter %q: %w", kv, perr)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			th = n
		default:
			return p, nil, nil, fmt.Errorf("password hash: unknown parameter %q", k)
		}
	}
	if salt, err = base64.RawStdEncoding.DecodeString(f[4]); err != nil {
		return p, nil, nil, fmt.Errorf("password hash: salt: %w", err)
	}
	if key, err = base64.RawStdEncoding.DecodeString(f[5]); err != nil {
		return p, nil, nil, fmt.Errorf("password hash: key: %w", err)
	}
	if th > 255 {
		return p, nil, nil, fmt.Errorf("password hash: p=%d: at most 255", th)
	}
	p = Params{Time: uint32(t), Memory: uint32(m), Threads: uint8(th), SaltLen: len(salt), KeyLen: len(key)}
	if err := p.check(); err != nil {
		return p, nil, nil, fmt.Errorf("password hash: %w", err)
	}
	return p, salt, key, nil
}

// verifyPassword checks password against a PHC string, with the string's
// own parameters.
func verifyPassword(hash, password string) (bool, error) {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}
