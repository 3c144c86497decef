package audit

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Command runs "station audit verify|list": args are what follows
// "audit". It exits non-nil on a broken chain, naming the first bad entry.
func Command(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("audit needs a subcommand: verify or list")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("station audit "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./station-data", "the station's data directory (holds "+FileName+")")
	switch sub {
	case "verify":
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("audit verify: unexpected argument %q", fs.Arg(0))
		}
		path := filepath.Join(*dataDir, FileName)
		n, err := Verify(path)
		if err != nil {
			return fmt.Errorf("%s: %w (the %d entries before it are intact)", path, err, n)
		}
		fmt.Fprintf(stdout, "%s: %d entries, chain intact\n", path, n)
		return nil
	case "list":
		var (
			actor   = fs.String("actor", "", "only entries by this user")
			action  = fs.String("action", "", "only this action (login, login_failed, user_add, ...)")
			gateway = fs.String("gateway", "", "only entries about this gateway")
			since   = fs.String("since", "", "only entries at or after this time (RFC 3339 or YYYY-MM-DD)")
			until   = fs.String("until", "", "only entries before this time (RFC 3339 or YYYY-MM-DD)")
			limit   = fs.Int("limit", 100, "at most this many entries, the newest")
			asJSON  = fs.Bool("json", false, "print the entries as JSON lines, as stored")
		)
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("audit list: unexpected argument %q", fs.Arg(0))
		}
		f := Filter{Actor: *actor, Action: *action, Gateway: *gateway}
		var err error
		if f.Since, err = ParseTime(*since); err != nil {
			return fmt.Errorf("-since: %w", err)
		}
		if f.Until, err = ParseTime(*until); err != nil {
			return fmt.Errorf("-until: %w", err)
		}
		es, err := Open(filepath.Join(*dataDir, FileName)).List(f, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			for i := len(es) - 1; i >= 0; i-- {
				if err := enc.Encode(es[i]); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "N\tTIME\tACTOR\tACTION\tTARGET\tGATEWAY\tOK\tADDR")
		for i := len(es) - 1; i >= 0; i-- {
			e := es[i]
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%v\t%s\n", e.N, e.Time.Format(time.RFC3339),
				dash(e.Actor), e.Action, dash(e.Target), dash(e.Gateway), e.OK, dash(e.Addr))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown audit subcommand %q (want verify or list)", sub)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "\t", " ")
}

// ParseTime reads an RFC 3339 time or a date (YYYY-MM-DD, midnight in
// Vietnam's time, UTC+7); "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, Vietnam)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-12-01T08:00:00+07:00) nor a date (2026-12-01)", s)
	}
	return t, nil
}

// Vietnam is the station's time zone, Asia/Ho_Chi_Minh: UTC+7 all year
// (no daylight saving since 1975), so a fixed zone is exact and needs no
// tzdata on the station PC.
var Vietnam = time.FixedZone("ICT", 7*3600)
