package writepath_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// proxy forwards NATS client connections to a server. It can cut every
// connection it carries (the client sees a disconnect and reconnects through
// it), drop one fast-batch publish on the way to the server (a lost
// message: the server sees a gap), and mute the server's answers (the
// server stores what it gets; the client hears nothing until unmute).
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []net.Conn
	drop  func(reply string) bool // drops the publish when true; once
	watch func(reply string) bool // closes seen when true; once
	seen  chan struct{}
	hold  chan struct{}           // forwarding waits for it after seen closes
	mute  func(reply string) bool // sets muted before forwarding the publish when true; once
	muted chan struct{}           // server → client waits for it while set
	wg    sync.WaitGroup
}

// startProxy listens on loopback and forwards to target (host:port).
func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) url() string { return "nats://" + p.ln.Addr().String() }

// dropOnce makes the proxy drop the first publish whose reply subject fn
// accepts.
func (p *proxy) dropOnce(fn func(reply string) bool) {
	p.mu.Lock()
	p.drop = fn
	p.mu.Unlock()
}

// when returns a channel closed once the proxy has forwarded a publish whose
// reply subject fn accepts. That connection then forwards nothing more
// until release is called, so a fault injected in between lands exactly
// after that publish, however fast the client writes.
func (p *proxy) when(fn func(reply string) bool) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watch, p.seen, p.hold = fn, make(chan struct{}), make(chan struct{})
	return p.seen
}

// release lets the connection held by when forward again.
func (p *proxy) release() { p.open(&p.hold) }

// open closes *gate, if set, and unsets it.
func (p *proxy) open(gate *chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *gate != nil {
		close(*gate)
		*gate = nil
	}
}

// cut closes every connection the proxy carries now.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// muteWhen makes the proxy stop passing the server's answers to the
// client just before it forwards a publish whose reply subject fn accepts:
// no answer to that publish or to any after it reaches the client until
// unmute. Client → server goes on.
func (p *proxy) muteWhen(fn func(reply string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mute = fn
}

// unmute passes on, in order, what the server said while muted.
func (p *proxy) unmute() { p.open(&p.muted) }

// gate returns when server → client may go on.
func (p *proxy) gate() {
	p.mu.Lock()
	m := p.muted
	p.mu.Unlock()
	if m != nil {
		<-m
	}
}

func (p *proxy) close() {
	p.release()
	p.mu.Lock()
	p.mute = nil // no new mute, then open the one in place
	p.mu.Unlock()
	p.unmute()
	_ = p.ln.Close()
	p.cut()
	p.wg.Wait()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { // server → client: as it is, unless muted
			defer p.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					p.gate()
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			_ = c.Close()
		}()
		go func() { // client → server: frame by frame
			defer p.wg.Done()
			p.forward(s, c)
			_ = s.Close()
		}()
	}
}

// forward copies the client's protocol to the server, dropping the publish
// the drop function picks.
func (p *proxy) forward(dst io.Writer, src io.Reader) {
	r := bufio.NewReaderSize(src, 64<<10)
	w := bufio.NewWriterSize(dst, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		var payload []byte
		isPub := bytes.HasPrefix(line, []byte("PUB ")) || bytes.HasPrefix(line, []byte("HPUB "))
		dropped := false
		var signal, hold chan struct{}
		if isPub {
			// A copy first: ReadSlice's line (and fields into it) is
			// overwritten by the next read of r, the payload's.
			line = append([]byte(nil), line...)
			f := bytes.Fields(line)
			n, err := strconv.Atoi(string(f[len(f)-1]))
			if err != nil {
				return
			}
			payload = make([]byte, n+2)
			if _, err := io.ReadFull(r, payload); err != nil {
				return
			}
			reply := ""
			if (f[0][0] == 'P' && len(f) == 4) || (f[0][0] == 'H' && len(f) == 5) {
				reply = string(f[2])
			}
			p.mu.Lock()
			if p.drop != nil && p.drop(reply) {
				p.drop, dropped = nil, true
			}
			if !dropped && p.mute != nil && p.mute(reply) {
				p.mute, p.muted = nil, make(chan struct{})
			}
			if !dropped && p.watch != nil && p.watch(reply) {
				signal, hold, p.watch = p.seen, p.hold, nil
			}
			p.mu.Unlock()
		}
		if dropped {
			continue
		}
		if _, err := w.Write(line); err != nil {
			return
		}
		if payload != nil {
			if _, err := w.Write(payload); err != nil {
				return
			}
		}
		if r.Buffered() == 0 || signal != nil {
			if err := w.Flush(); err != nil {
				return
			}
		}
		if signal != nil {
			close(signal) // once the publish is on its way to the server
			<-hold
		}
	}
}
