package accounts

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// CLI is what the "station user" and "station token" commands need from
// main: the streams and how to read a password (a prompt on a terminal,
// a line of stdin otherwise).
type CLI struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	ReadPassword   func(stdin io.Reader, stderr io.Writer, user string) (string, error)
	// Options open the accounts file (the zero value: the defaults).
	Options Options
}

// Command runs "station user add|passwd|role|remove|list" and "station
// token add|list|revoke": cmd is "user" or "token", args what follows it.
// Every change is written to the data directory's audit log, by actor
// "cli:<os user>".
func (c CLI) Command(cmd string, args []string) error {
	if len(args) == 0 {
		if cmd == "token" {
			return errors.New("token needs a subcommand: add, list or revoke")
		}
		return errors.New("user needs a subcommand: add, passwd, role, remove or list")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("station "+cmd+" "+sub, flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	dataDir := fs.String("data", "./station-data", "the station's data directory (holds "+FileName+" and the audit log)")
	var role, sites, gateways *string
	if sub == "add" || sub == "role" {
		def := "viewer"
		role = fs.String("role", def, "admin, officer (trực ban) or viewer")
		sites = fs.String("sites", "", "limit to these sites (comma-separated ids); none: all")
		gateways = fs.String("gateways", "", "limit to these gateways (comma-separated ids); none: all")
	}
	asJSON := fs.Bool("json", false, "list: print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	name := fs.Arg(0)
	wantArgs := 1
	if sub == "list" {
		wantArgs, name = 0, ""
	}
	if fs.NArg() != wantArgs {
		if wantArgs == 0 {
			return fmt.Errorf("%s %s takes no arguments", cmd, sub)
		}
		return fmt.Errorf("%s %s needs one name (got %d arguments)", cmd, sub, fs.NArg())
	}
	var lim Limits
	var r Role
	if role != nil {
		var err error
		if r, err = ParseRole(*role); err != nil {
			return fmt.Errorf("-role: %w", err)
		}
		lim = Limits{Sites: splitList(*sites), Gateways: splitList(*gateways)}
		if err := CheckLimits(lim); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	db, err := Open(filepath.Join(*dataDir, FileName), c.Options)
	if err != nil {
		return err
	}
	log := audit.Open(filepath.Join(*dataDir, audit.FileName))
	record := func(action, target string, detail map[string]string) error {
		_, err := log.Append(audit.Entry{Actor: cliActor(), Action: action, Target: target, OK: true, Detail: detail})
		if err != nil {
			return fmt.Errorf("done, but not recorded in the audit log: %w", err)
		}
		return nil
	}
	limDetail := func() map[string]string {
		d := map[string]string{"role": string(r)}
		if s := lim.String(); s != "" {
			d["limits"] = s
		}
		return d
	}
	switch cmd + " " + sub {
	case "user add":
		if err := CheckName(name); err != nil {
			return err
		}
		if _, ok, err := db.Lookup(name); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("user %s: %w (use 'station user passwd' or 'station user role')", name, ErrExists)
		}
		pw, err := c.ReadPassword(c.Stdin, c.Stderr, name)
		if err != nil {
			return err
		}
		if err := db.Add(name, r, lim, pw); err != nil {
			return err
		}
		fmt.Fprintf(c.Stderr, "station: user %s (%s) added\n", name, r)
		return record(audit.UserAdd, name, limDetail())
	case "user passwd":
		if _, ok, err := db.Lookup(name); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		pw, err := c.ReadPassword(c.Stdin, c.Stderr, name)
		if err != nil {
			return err
		}
		if err := db.SetPassword(name, pw); err != nil {
			return err
		}
		fmt.Fprintf(c.Stderr, "station: password of %s changed; its sessions are over\n", name)
		return record(audit.UserPassword, name, nil)
	case "user role":
		if err := db.SetRole(name, r, lim); err != nil {
			return err
		}
		fmt.Fprintf(c.Stderr, "station: user %s is now %s\n", name, r)
		return record(audit.UserChange, name, limDetail())
	case "user remove":
		if err := db.Remove(name); err != nil {
			return err
		}
		fmt.Fprintf(c.Stderr, "station: user %s removed\n", name)
		return record(audit.UserRemove, name, nil)
	case "user list":
		us, err := db.Users()
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(c.Stdout).Encode(us)
		}
		tw := tabwriter.NewWriter(c.Stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tLIMITS\tCHANGED")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, orAll(u.Limits.String()), u.Changed.Format(time.RFC3339))
		}
		return tw.Flush()
	case "token add":
		if r == Admin {
			return errors.New("-role: a token is viewer or officer")
		}
		secret, tok, err := db.AddToken(name, r, lim, cliActor())
		if err != nil {
			return err
		}
		fmt.Fprintln(c.Stdout, secret)
		fmt.Fprintf(c.Stderr, "station: token %s (%s, id %s) made; it is shown only this once\n", name, r, tok.ID)
		d := limDetail()
		d["id"] = tok.ID
		return record(audit.TokenAdd, name, d)
	case "token list":
		ts, err := db.Tokens()
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(c.Stdout).Encode(ts)
		}
		tw := tabwriter.NewWriter(c.Stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tLIMITS\tCREATED\tREVOKED")
		for _, t := range ts {
			rev := "-"
			if t.Revoked != nil {
				rev = t.Revoked.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, orAll(t.Limits.String()), t.Created.Format(time.RFC3339), rev)
		}
		return tw.Flush()
	case "token revoke":
		if err := db.RevokeToken(name); err != nil {
			return err
		}
		fmt.Fprintf(c.Stderr, "station: token %s revoked\n", name)
		return record(audit.TokenRevoke, name, nil)
	}
	return fmt.Errorf("unknown command %q %q", cmd, sub)
}

func orAll(s string) string {
	if s == "" {
		return "all"
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func cliActor() string {
	if u, err := user.Current(); err == nil {
		return "cli:" + u.Username
	}
	return "cli"
}
