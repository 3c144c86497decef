package broker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// Raw MQTT 3.1.1 over a plain socket, for what a paho client will not send.

// varint is MQTT's remaining-length encoding.
func varint(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// connectPacket is a clean-session CONNECT with user name and password.
func connectPacket(clientID, user, password string, keepalive uint16) []byte {
	var body bytes.Buffer
	body.Write(mqttString("MQTT"))
	body.WriteByte(4)    // protocol level 3.1.1
	body.WriteByte(0xc2) // user name, password, clean session
	body.Write(binary.BigEndian.AppendUint16(nil, keepalive))
	body.Write(mqttString(clientID))
	body.Write(mqttString(user))
	body.Write(mqttString(password))
	return append(append([]byte{0x10}, varint(body.Len())...), body.Bytes()...)
}

// dialFrom connects to addr from the loopback address src (e.g.
// "127.0.0.2"), the way an attacker's or a gateway's address is chosen.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: wait}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d.Dial("tcp", addr)
}

// errClosed is what readConnack returns when the broker closed the
// connection without a CONNACK.
var errClosed = errors.New("closed without CONNACK")

// readConnack reads a CONNACK and returns its return code (0: accepted).
func readConnack(c net.Conn) (byte, error) {
	c.SetReadDeadline(time.Now().Add(wait))
	var b [4]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return 0, errClosed
		}
		return 0, err
	}
	if b[0] != 0x20 || b[1] != 2 {
		return 0, fmt.Errorf("not a CONNACK: % x", b)
	}
	return b[3], nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// rawLogin connects from src with a raw CONNECT and returns the CONNACK
// code and the open connection (closed by the caller, or at test end).
func rawLogin(t *testing.T, src, addr, clientID, user, password string, keepalive uint16) (byte, net.Conn, error) {
	t.Helper()
	c, err := dialFrom(src, addr)
	if err != nil {
		return 0, nil, err
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(connectPacket(clientID, user, password, keepalive)); err != nil {
		return 0, c, err
	}
	code, err := readConnack(c)
	return code, c, err
}

// waitClosed reads from c until the broker closes it and returns how long
// that took; it fails the test if c is still open after limit.
func waitClosed(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, bufio.NewReader(c))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start)
}
