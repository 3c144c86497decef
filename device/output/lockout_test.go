package output_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/device/output/outputtest"
)

// changesWith returns the reported changes with the given Lockout value.
func (r *rig) lockouts(v string) []output.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []output.Change
	for _, c := range r.changes {
		if c.Lockout == v {
			out = append(out, c)
		}
	}
	return out
}

// After a cut-off a new "on" (a new intrusion) sounds at once: the default
// rest is none.
func TestNewActivationAfterCutOff(t *testing.T) {
	r := newRig(t, rigOpt{cfg: output.Config{Name: "siren", MaxOn: time.Minute}})
	if _, err := r.set(output.Request{On: true, Reason: "alarm: gate"}); err != nil {
		t.Fatal(err)
	}
	r.advance(time.Minute, 10*time.Second)
	if r.high() || !r.lastChange().CutOff {
		t.Fatalf("not cut off at max_on: high %v, %+v", r.high(), r.lastChange())
	}
	st, err := r.set(output.Request{On: true, Reason: "alarm: back-door"})
	if err != nil {
		t.Fatalf("a new activation right after a cut-off: %v", err)
	}
	if !r.high() || st.CutOffAt.Sub(r.clock.Now()) != time.Minute {
		t.Fatalf("new activation: high %v, cut-off in %s", r.high(), st.CutOffAt.Sub(r.clock.Now()))
	}
}

// An activation that ends at the time it asked for is not a cut-off, even
// when that time is max_on (an alarm's trigger time equal to max_on, the
// default): it counts towards nothing.
func TestTimeOverIsNotCutOff(t *testing.T) {
	r := newRig(t, rigOpt{cfg: output.Config{Name: "siren", MaxOn: time.Minute}})
	if _, err := r.set(output.Request{On: true, For: time.Minute, Reason: "alarm"}); err != nil {
		t.Fatal(err)
	}
	r.advance(time.Minute, 10*time.Second)
	c := r.lastChange()
	if r.high() || c.CutOff || c.Reason != "time over" {
		t.Fatalf("end at the asked time: high %v, %+v", r.high(), c)
	}
	if st := r.out.State(); st.CutOffs != 0 || st.CutOffsHour != 0 {
		t.Fatalf("counted as cut-off: %+v", st)
	}
}

// A runaway caller repeating "on" with the default settings: it gets
// max_on three times, then the output is locked out (a trouble change) for
// LockoutTime or until a reset; the lockout ends by its timer.
func TestStuckCallerLockedOut(t *testing.T) {
	r := newRig(t, rigOpt{cfg: output.Config{Name: "siren", MaxOn: time.Minute}})
	var onFor time.Duration
	var locked int
	for range 2 * 60 * 60 / 10 { // every 10 s for 2 hours
		_, err := r.set(output.Request{On: true, Reason: "stuck rule"})
		switch {
		case err == nil:
		case errors.Is(err, output.ErrLockedOut):
			locked++
			if !strings.Contains(err.Error(), "disarm the site") {
				t.Fatalf("lockout refusal does not say how to clear it: %v", err)
			}
		default:
			t.Fatal(err)
		}
		for range 10 {
			if r.high() {
				onFor += time.Second
			}
			r.advance(time.Second, time.Second)
		}
	}
	if onFor != 3*time.Minute || locked == 0 {
		t.Fatalf("on for %s in 2 h (want 3m0s), %d refusals", onFor, locked)
	}
	ls := r.lockouts("on")
	if len(ls) != 1 || ls[0].CutOffs != 3 || !strings.Contains(ls[0].Reason, "3 cut-offs within 1h0m0s") {
		t.Fatalf("lockout changes %+v", ls)
	}
	st := r.out.State()
	if st.LockedUntil.IsZero() || st.CutOffs != 3 {
		t.Fatalf("state %+v", st)
	}
	// It ends by itself LockoutTime after it began, reported.
	r.advance(output.LockoutTime-2*time.Hour+3*time.Minute, time.Minute)
	if off := r.lockouts("off"); len(off) != 1 || !strings.Contains(off[0].Reason, "lockout over") {
		t.Fatalf("lockout end %+v", off)
	}
	if _, err := r.set(output.Request{On: true}); err != nil {
		t.Fatalf("on after the lockout: %v", err)
	}
}

// A reset (the site disarmed, a person's off) clears the lockout at once.
func TestResetClearsLockout(t *testing.T) {
	r := newRig(t, rigOpt{cfg: output.Config{Name: "siren", MaxOn: time.Second, MaxCutOffs: 2}})
	for range 2 {
		if _, err := r.set(output.Request{On: true}); err != nil {
			t.Fatal(err)
		}
		r.advance(time.Second, time.Second)
	}
	if _, err := r.set(output.Request{On: true}); !errors.Is(err, output.ErrLockedOut) {
		t.Fatalf("third on: %v, want ErrLockedOut", err)
	}
	// An off without Reset (Tắt còi) does not clear it.
	if _, err := r.set(output.Request{On: false, Reason: "silenced"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.set(output.Request{On: true}); !errors.Is(err, output.ErrLockedOut) {
		t.Fatalf("on after a plain off: %v, want ErrLockedOut", err)
	}
	if _, err := r.set(output.Request{On: false, Reset: true, User: "officer1", Reason: "disarmed"}); err != nil {
		t.Fatal(err)
	}
	off := r.lockouts("off")
	if len(off) != 1 || off[0].User != "officer1" {
		t.Fatalf("reset changes %+v", off)
	}
	if st, err := r.set(output.Request{On: true}); err != nil || st.CutOffsHour != 0 {
		t.Fatalf("on after a reset: %v, %+v", err, st)
	}
}

// The lockout and the cut-offs of the last hour survive a reboot: a crash
// loop cannot reset the count, nor a restart lift the lockout.
func TestLockoutAcrossReboot(t *testing.T) {
	dir := t.TempDir()
	cfg := output.Config{Name: "siren", MaxOn: 10 * time.Second}
	a := newRig(t, rigOpt{cfg: cfg, dir: dir})
	for range 2 {
		if _, err := a.set(output.Request{On: true}); err != nil {
			t.Fatal(err)
		}
		a.advance(10*time.Second, time.Second)
	}
	a.cancel = nil // power cut after two cut-offs
	// Reboot 30 s later (another kernel boot: the wall clock tells).
	at := a.clock.Now().Add(30 * time.Second)
	b := newRig(t, rigOpt{cfg: cfg, dir: dir, boot: &outputtest.Boot{BootID: "boot-b"}, start: at})
	if st := b.out.State(); st.CutOffsHour != 2 {
		t.Fatalf("cut-offs after the reboot %d, want 2", st.CutOffsHour)
	}
	if _, err := b.set(output.Request{On: true}); err != nil {
		t.Fatal(err)
	}
	b.advance(10*time.Second, time.Second) // third cut-off: locked out
	if len(b.lockouts("on")) != 1 {
		t.Fatal("no lockout at the third cut-off across a reboot")
	}
	b.cancel = nil
	c := newRig(t, rigOpt{cfg: cfg, dir: dir, boot: &outputtest.Boot{BootID: "boot-c"}, start: b.clock.Now().Add(time.Minute)})
	if ls := c.lockouts("on"); len(ls) != 1 || !strings.Contains(ls[0].Reason, "before the restart") {
		t.Fatalf("lockout not reported after the second reboot: %+v", ls)
	}
	if _, err := c.set(output.Request{On: true}); !errors.Is(err, output.ErrLockedOut) {
		t.Fatalf("on after a reboot while locked out: %v, want ErrLockedOut", err)
	}
	// An hour later the cut-offs have aged out of the record, but the
	// lockout holds its whole time.
	c.cancel = nil
	d := newRig(t, rigOpt{cfg: cfg, dir: dir, boot: &outputtest.Boot{BootID: "boot-d"}, start: c.clock.Now().Add(2 * time.Hour)})
	if _, err := d.set(output.Request{On: true}); !errors.Is(err, output.ErrLockedOut) {
		t.Fatalf("on 2 h into the lockout: %v, want ErrLockedOut", err)
	}
}

func TestMaxCutOffsValidate(t *testing.T) {
	for _, n := range []int{-1, output.MaxMaxCutOffs + 1} {
		err := output.Config{Name: "siren", MaxCutOffs: n}.Validate()
		if err == nil || !strings.Contains(err.Error(), "max_cut_offs") {
			t.Fatalf("max_cut_offs %d: %v", n, err)
		}
	}
}
