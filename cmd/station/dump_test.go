package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// The station stores events and snapshots before acknowledging them;
// "station dump" lists them in arrival order with the notice of a new
// epoch, then the gaps, the payloads refused as invalid and the counters; it refuses to run beside the
// station, and writes a snapshot's JPEG.
func TestDump(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := new(devtest.Buffer), new(devtest.Buffer)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-data", data, "-snapshot-max-bytes", "64MiB"}, nil, stdout, stderr)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("station exit %d:\n%s", code, stderr.String())
		}
	}
	defer stop()
	addr := stderr.WaitMatch(t, waitLimit, regexp.MustCompile(`station: broker listening on (\S+)`))
	if !strings.Contains(stderr.String(), "station: store open "+data+"\n") {
		t.Fatalf("no store line before the listener:\n%s", stderr.String())
	}
	stderr.WaitContains(t, waitLimit, "station: subscribed")

	gw := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("cong-khu-3").SetUsername("cong-khu-3"))
	if tok := gw.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("gateway connect: %v", tok.Error())
	}
	defer gw.Disconnect(0)
	pub := func(topic string, payload []byte) {
		t.Helper()
		if tok := gw.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	ev := func(epoch string, seq uint64) []byte {
		b, _ := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID("cong-khu-3", seq), Epoch: epoch, Kind: wire.KindMotion, Time: time.Now()})
		return b
	}
	jpeg := []byte("\xff\xd8\xff\xe0 a picture")
	pub("antt/cong-khu-3/event", ev("e0", 1))
	pub("antt/cong-khu-3/event", ev("e0", 3))
	pub("antt/cong-khu-3/snapshot/3", jpeg)
	pub("antt/cong-khu-3/event", ev("e1", 1))
	// Never storable (its id names another gateway): acknowledged, and
	// kept in quarantine.
	pub("antt/cong-khu-3/event", []byte(`{"seq":9,"id":"other/9"}`))
	// Acknowledged means stored: a dump is refused while the station runs.
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"dump", "-data", data, "-wait", "200ms"}, nil, io.Discard, &errOut); code == 0 ||
		!strings.Contains(errOut.String(), "is the station running?") {
		t.Fatalf("dump beside the station: exit %d: %s", code, errOut.String())
	}
	stop()
	if !regexp.MustCompile(`station: broker stats .*inflight_dropped=0 .*stored=4 `).MatchString(stderr.String()) {
		t.Fatalf("no broker stats line with 4 stored:\n%s", stderr.String())
	}

	var out bytes.Buffer
	if code := run(context.Background(), []string{"dump", "-data", data}, nil, &out, &errOut); code != 0 {
		t.Fatalf("dump: exit %d: %s", code, errOut.String())
	}
	var got []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		switch l["type"] {
		case "event":
			s := "event " + l["epoch"].(string) + "/" + jsonNum(l["seq"])
			if sn, ok := l["snapshot"].(map[string]any); ok {
				s += " snapshot " + jsonNum(sn["bytes"])
			}
			if e, _ := l["event"].(map[string]any); e["id"] != "cong-khu-3/"+jsonNum(l["seq"]) {
				t.Fatalf("event line without its event: %s", sc.Text())
			}
			got = append(got, s)
		case "notice":
			got = append(got, "notice "+l["kind"].(string)+" "+l["old_epoch"].(string)+"/"+jsonNum(l["old_last_seq"])+" -> "+l["new_epoch"].(string))
		case "gap":
			got = append(got, "gap "+l["epoch"].(string)+" "+jsonNum(l["first"])+"-"+jsonNum(l["last"]))
		case "quarantine":
			if !strings.Contains(l["error"].(string), `want "cong-khu-3/9"`) {
				t.Errorf("quarantine line without its error: %s", sc.Text())
			}
			got = append(got, "quarantine "+l["topic"].(string)+" "+l["payload"].(string))
		case "counters":
			got = append(got, "counters received="+jsonNum(l["received"])+" snapshots="+jsonNum(l["snapshots"]))
		default:
			t.Fatalf("line of unknown type: %s", sc.Text())
		}
	}
	want := []string{"event e0/1", "event e0/3 snapshot " + strconv.Itoa(len(jpeg)), "notice storage_replaced e0/3 -> e1", "event e1/1",
		"gap e0 2-2", `quarantine event {"seq":9,"id":"other/9"}`, "counters received=3 snapshots=1"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("dump\n %q\nwant\n %q", got, want)
	}

	out.Reset()
	if code := run(context.Background(), []string{"dump", "-data", data, "-snapshot", "cong-khu-3/e0/3"}, nil, &out, &errOut); code != 0 || !bytes.Equal(out.Bytes(), jpeg) {
		t.Fatalf("dump -snapshot: exit %d, %q: %s", code, out.Bytes(), errOut.String())
	}
	for _, ref := range []string{"cong-khu-3/e0/4", "cong-khu-3/e0", "Bad/e0/3", "cong-khu-3/E!/3", "cong-khu-3//x"} {
		errOut.Reset()
		if code := run(context.Background(), []string{"dump", "-data", data, "-snapshot", ref}, nil, io.Discard, &errOut); code == 0 || errOut.Len() == 0 {
			t.Errorf("dump -snapshot %s: exit %d %q", ref, code, errOut.String())
		}
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"dump", "-data", filepath.Join(data, "none")}, nil, io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), "no such file") {
		t.Errorf("dump of a missing store: exit %d %q", code, errOut.String())
	}
}

func jsonNum(v any) string {
	f, _ := v.(float64)
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "123": 123, "4MiB": 4 << 20, "16GiB": 16 << 30, "2 GB": 2e9, "10B": 10, "1TiB": 1 << 40} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5GiB", "5PB", "99999999999TiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("%q accepted as %d", in, b)
		}
	}
	if code := run(context.Background(), []string{"-listen", "127.0.0.1:0", "-data", t.TempDir(), "-snapshot-max-bytes", "1MiB"}, nil, io.Discard, io.Discard); code == 0 {
		t.Error("a snapshot bound below one snapshot accepted")
	}
}
