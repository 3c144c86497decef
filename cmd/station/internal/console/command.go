package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/uplink/wire"
)

// ErrNoReply is returned (wrapped) by Command when the gateway does not
// answer before the context ends. The web console maps it to its own
// ErrNoReply through errors.Is on context errors as well.
var ErrNoReply = errors.New("no reply from the gateway")

// ErrNotConnected is returned by Command while the station has no
// connection to the broker.
var ErrNotConnected = errors.New("station not connected to the broker")

// commands holds the requests waiting for their reply, by gateway and id.
type commands struct {
	mu      sync.Mutex
	client  paho.Client
	pending map[string]chan []byte
}

func (c *commands) setClient(cl paho.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.client = cl
}

// deliver hands a reply to the request waiting for it, if any; a reply
// nobody waits for (late, or for another station) is only printed.
func (c *commands) deliver(gw, id string, payload []byte) {
	c.mu.Lock()
	ch, ok := c.pending[gw+"/"+id]
	c.mu.Unlock()
	if ok {
		select {
		case ch <- append([]byte(nil), payload...):
		default: // answered twice: the first stands
		}
	}
}

// Command publishes command name with args and a new request id on
// {prefix}/{gw}/cmd/{name} at QoS 1, and waits for the gateway's reply on
// reply/{id} until ctx ends. It returns the whole reply.
func (c *Console) Command(ctx context.Context, gw, name string, args map[string]any) (json.RawMessage, error) {
	if !wire.ValidID(gw) {
		return nil, fmt.Errorf("command %s: gateway %q: not a gateway id", name, gw)
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	id := "st-" + hex.EncodeToString(rnd[:])
	body := map[string]any{}
	for k, v := range args {
		body[k] = v
	}
	body["id"] = id
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("command %s to %s: %w", name, gw, err)
	}
	cm := &c.cmds
	ch := make(chan []byte, 1)
	key := gw + "/" + id
	cm.mu.Lock()
	cl := cm.client
	if cm.pending == nil {
		cm.pending = map[string]chan []byte{}
	}
	cm.pending[key] = ch
	cm.mu.Unlock()
	defer func() {
		cm.mu.Lock()
		delete(cm.pending, key)
		cm.mu.Unlock()
	}()
	if cl == nil || !cl.IsConnectionOpen() {
		return nil, fmt.Errorf("command %s to %s: %w", name, gw, ErrNotConnected)
	}
	topic := wire.Topics{Prefix: c.cfg.Prefix, Gateway: gw}.Cmd(name)
	tok := cl.Publish(topic, 1, false, b)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("command %s to %s: publish: %w", name, gw, err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("command %s to %s: publish: %w", name, gw, ctx.Err())
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("command %s to %s (request %s): %w: %w", name, gw, id, ErrNoReply, ctx.Err())
	}
}
