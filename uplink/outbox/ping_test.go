package outbox

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestPingAnswersWithoutCommitting(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), testOptions())
	commits := o.Commits()
	for range 3 {
		if err := o.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := o.Commits(); got != commits {
		t.Errorf("pings committed %d transactions, want none", got-commits)
	}
	if _, err := o.Append(context.Background(), motion(1)); err != nil {
		t.Fatal(err)
	}
	if got := len(all(t, o)); got != 1 {
		t.Errorf("%d records after pings and one append", got)
	}
}

// A writer stuck in a commit (as in a hung fsync) does not answer Ping;
// once it gets going again, it does.
func TestPingStuckWriter(t *testing.T) {
	opt := testOptions()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	opt.FailCommit = func() error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return nil
	}
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), opt)
	appended := make(chan error, 1)
	go func() {
		_, err := o.Append(context.Background(), motion(1))
		appended <- err
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the append never reached the commit")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := o.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping with the writer stuck = %v, want the deadline", err)
	}

	close(release)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if err := o.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after the writer recovered: %v", err)
	}
}

// A Ping that arrives with appends shares their commit and answers with them.
func TestPingInBatch(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), testOptions())
	errs := make(chan error, 20)
	for i := range 10 {
		go func() {
			_, err := o.Append(context.Background(), motion(i))
			errs <- err
		}()
		go func() { errs <- o.Ping(context.Background()) }()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := len(all(t, o)); got != 10 {
		t.Errorf("%d records, want 10", got)
	}
}

func TestPingClosed(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), testOptions())
	o.Close()
	if err := o.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Close = %v, want ErrClosed", err)
	}
}
