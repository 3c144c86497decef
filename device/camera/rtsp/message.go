// Package rtsp is a focused RTSP 1.0 (RFC 2326) client for pulling one live
// stream from an IP camera: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN and a
// keep-alive, with RTP carried inside the RTSP TCP connection (interleaved)
// or over UDP, and Basic or Digest authentication.
//
// It is built for cameras that misbehave: every step has a deadline, every
// message read from the network is bounded in size and checked, and a
// malformed answer is an error naming what was wrong, never a panic.
// Credentials are never logged or put into errors; URLs in logs and errors
// go through Redact.
package rtsp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"
)

// Limits applied to everything read from the server unless Config says otherwise.
const (
	DefaultMaxHeaderBytes = 16 << 10
	DefaultMaxBodyBytes   = 1 << 20
	maxHeaderLines        = 100
	readerBufferSize      = 8 << 10
)

// ErrMalformed is wrapped by every error about a message that breaks the protocol.
var ErrMalformed = errors.New("rtsp: malformed message")

// response is an RTSP response read from the server.
type response struct {
	StatusCode int
	Reason     string
	Header     textproto.MIMEHeader
	Body       []byte
}

// CSeq returns the response's sequence number, or -1 when it has none.
func (r *response) CSeq() int {
	v, err := strconv.Atoi(strings.TrimSpace(r.Header.Get("CSeq")))
	if err != nil {
		return -1
	}
	return v
}

// message is what the connection reader returns: a response to one of our
// requests, or a request the server sent us (some cameras send
// GET_PARAMETER or ANNOUNCE to the client).
type message struct {
	resp      *response
	reqMethod string // set when the server sent a request
	reqCSeq   string
}

// reader reads RTSP messages and interleaved frames from one connection.
// Interleaved frames ($, channel, 16-bit length, data) may arrive before,
// between and after responses; they are handed to onFrame in place, without
// copying, so the hot path does not allocate.
type reader struct {
	br             *bufio.Reader
	maxHeaderBytes int
	maxBodyBytes   int
	frame          []byte
}

func newReader(r io.Reader, maxHeader, maxBody int) *reader {
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderBytes
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	return &reader{
		br:             bufio.NewReaderSize(r, readerBufferSize),
		maxHeaderBytes: maxHeader,
		maxBodyBytes:   maxBody,
		frame:          make([]byte, 65536),
	}
}

// next reads until a complete message, delivering interleaved frames on the way.
func (r *reader) next(onFrame func(channel byte, data []byte)) (message, error) {
	for {
		m, ok, err := r.step(onFrame)
		if err != nil || ok {
			return m, err
		}
	}
}

// step reads one interleaved frame (ok false) or one message (ok true).
func (r *reader) step(onFrame func(channel byte, data []byte)) (m message, ok bool, err error) {
	b, err := r.br.ReadByte()
	if err != nil {
		return message{}, false, err
	}
	switch b {
	case '$':
		// Peek and Discard rather than ReadFull into a local array, which
		// would escape to the heap on every packet.
		h, err := r.br.Peek(3)
		if err != nil {
			return message{}, false, fmt.Errorf("read interleaved header: %w", noEOF(err))
		}
		ch, n := h[0], int(h[1])<<8|int(h[2])
		_, _ = r.br.Discard(3)
		if _, err := io.ReadFull(r.br, r.frame[:n]); err != nil {
			return message{}, false, fmt.Errorf("read interleaved frame of %d bytes: %w", n, noEOF(err))
		}
		if onFrame != nil {
			onFrame(ch, r.frame[:n])
		}
		return message{}, false, nil
	case '\r', '\n':
		return message{}, false, nil // stray line ends between messages
	}
	if err := r.br.UnreadByte(); err != nil {
		return message{}, false, err
	}
	m, err = r.readMessage()
	return m, err == nil, err
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (r *reader) line(total *int) (string, error) {
	l, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", fmt.Errorf("%w: header line longer than %d bytes", ErrMalformed, readerBufferSize)
	}
	if err != nil {
		return "", noEOF(err)
	}
	*total += len(l)
	if *total > r.maxHeaderBytes {
		return "", fmt.Errorf("%w: header larger than %d bytes", ErrMalformed, r.maxHeaderBytes)
	}
	return string(bytes.TrimRight(l, "\r\n")), nil
}

func (r *reader) readMessage() (message, error) {
	total := 0
	first, err := r.line(&total)
	if err != nil {
		return message{}, err
	}
	var m message
	resp := &response{}
	if strings.HasPrefix(first, "RTSP/") {
		proto, rest, ok := strings.Cut(first, " ")
		if !ok || !strings.HasPrefix(proto, "RTSP/1.") {
			return message{}, fmt.Errorf("%w: status line %.80q", ErrMalformed, first)
		}
		code, reason, _ := strings.Cut(rest, " ")
		c, err := strconv.Atoi(code)
		if err != nil || c < 100 || c > 999 {
			return message{}, fmt.Errorf("%w: status code in %.80q", ErrMalformed, first)
		}
		resp.StatusCode, resp.Reason = c, reason
	} else {
		f := strings.Fields(first)
		if len(f) != 3 || !strings.HasPrefix(f[2], "RTSP/1.") {
			return message{}, fmt.Errorf("%w: expected a status line, got %.80q", ErrMalformed, first)
		}
		m.reqMethod = f[0]
	}
	resp.Header = make(textproto.MIMEHeader)
	for lines := 0; ; lines++ {
		if lines > maxHeaderLines {
			return message{}, fmt.Errorf("%w: more than %d header lines", ErrMalformed, maxHeaderLines)
		}
		l, err := r.line(&total)
		if err != nil {
			return message{}, err
		}
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return message{}, fmt.Errorf("%w: header line %.80q", ErrMalformed, l)
		}
		resp.Header.Add(textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 {
			return message{}, fmt.Errorf("%w: Content-Length %.40q", ErrMalformed, cl)
		}
		if n > r.maxBodyBytes {
			return message{}, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, n, r.maxBodyBytes)
		}
		resp.Body = make([]byte, n)
		if _, err := io.ReadFull(r.br, resp.Body); err != nil {
			return message{}, fmt.Errorf("read body: %w", noEOF(err))
		}
	}
	if m.reqMethod != "" {
		m.reqCSeq = resp.Header.Get("CSeq")
		return m, nil
	}
	m.resp = resp
	return m, nil
}

// request is one RTSP request to write.
type request struct {
	method string
	url    string // without userinfo
	header [][2]string
	body   []byte
}

func (q *request) write(w *bytes.Buffer, cseq int, userAgent, session, auth string) {
	fmt.Fprintf(w, "%s %s RTSP/1.0\r\nCSeq: %d\r\n", q.method, q.url, cseq)
	if userAgent != "" {
		fmt.Fprintf(w, "User-Agent: %s\r\n", userAgent)
	}
	if session != "" {
		fmt.Fprintf(w, "Session: %s\r\n", session)
	}
	if auth != "" {
		fmt.Fprintf(w, "Authorization: %s\r\n", auth)
	}
	for _, h := range q.header {
		fmt.Fprintf(w, "%s: %s\r\n", h[0], h[1])
	}
	if len(q.body) > 0 {
		fmt.Fprintf(w, "Content-Length: %d\r\n", len(q.body))
	}
	w.WriteString("\r\n")
	w.Write(q.body)
}
