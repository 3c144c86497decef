package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/uplink/outbox"
)

// cmdOutbox inspects the outbox without changing it: straight from the file
// when no gateway holds it, through the running gateway's local API when one
// does (bbolt allows one process at a time).
func cmdOutbox(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "stats" && args[0] != "dump") {
		fmt.Fprintln(stderr, "usage: gateway outbox stats|dump [-data DIR | -config FILE] [-api ADDR]")
		return exitUsage
	}
	verb := args[0]
	fs := flag.NewFlagSet("outbox "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "", "the gateway's data directory (gateway.data_dir)")
	cfgPath := fs.String("config", "", "read data_dir and api.listen from this configuration instead")
	api := fs.String("api", config.DefaultAPIListen, "the running gateway's local API, used when the file is locked")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "gateway outbox: %v\n", err)
			return exitUsage
		}
		*dataDir, *api = cfg.Gateway.DataDir, cfg.API.Listen
	}
	if *dataDir == "" {
		fmt.Fprintln(stderr, "gateway outbox: -data DIR or -config FILE is required")
		return exitUsage
	}
	path := filepath.Join(*dataDir, device.OutboxFile)

	r, err := outbox.ReadOnly(path)
	if errors.Is(err, outbox.ErrLocked) {
		if err := viaAPI(verb, *api, stdout); err != nil {
			fmt.Fprintf(stderr, "gateway outbox %s: %s is in use by a running gateway, and its API at %s failed: %v\n", verb, path, *api, err)
			return 1
		}
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway outbox %s: %v\n", verb, err)
		return 1
	}
	defer r.Close()
	switch verb {
	case "stats":
		st, err := r.Stats(time.Now())
		if err != nil {
			fmt.Fprintf(stderr, "gateway outbox stats: %v\n", err)
			return 1
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	case "dump":
		err := r.Records(0, func(rec outbox.Record) error {
			_, err := fmt.Fprintf(stdout, "%s\n", rec.Data)
			return err
		})
		if err != nil {
			fmt.Fprintf(stderr, "gateway outbox dump: %v\n", err)
			return 1
		}
	}
	return 0
}

// viaAPI asks the running gateway: dump streams GET /api/outbox, stats prints
// the outbox part of GET /api/status.
func viaAPI(verb, addr string, stdout io.Writer) error {
	client := &http.Client{Timeout: 30 * time.Second}
	path := "/api/outbox"
	if verb == "stats" {
		path = "/api/status"
	}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	if verb == "dump" {
		_, err = io.Copy(stdout, resp.Body)
		return err
	}
	var st device.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st.Outbox)
}
