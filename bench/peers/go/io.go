package main

// The loopback IO workloads, server side. The server runs on the Go runtime
// under test (net.Listener, one goroutine per connection). Their load client
// cannot run in this process without taking the measured runtime's Ps (every
// goroutine, locked to a thread or not, needs a P to run Go code), so it
// runs in a child process: this binary with --load-client (client.go),
// started once, before the first tcp iteration, and driven over its
// stdin/stdout one JSON line per command.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// clientCmd is a command to the load client; clientReport its answer.
type clientCmd struct {
	Op      string // "echo", "stream_connect", "stream_run"
	Port    int
	Conns   int64
	Msg     int64
	Reqs    int64
	Threads int64
	Bytes   int64
}

type clientReport struct {
	Err              string
	Completed        int64
	Corrupt          int64
	RxBytes          int64
	P50, P99, P999   float64 // us
	Sent, Returned   int64
	SentHash, RxHash uint64
}

type loadClient struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

var theClient *loadClient

func startLoadClient() (*loadClient, error) {
	if theClient != nil {
		return theClient, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &loadClient{cmd: exec.Command(exe, "--load-client")}
	c.cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	c.cmd.Stderr = os.Stderr
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewReader(stdout)
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the load client %s: %w", exe, err)
	}
	theClient = c
	return c, nil
}

func stopLoadClient() {
	if theClient != nil {
		theClient.in.Close()
		theClient.cmd.Wait()
		theClient = nil
	}
}

// dropLoadClient ends a client that broke the protocol, so that the next
// iteration starts a fresh one instead of failing on the same pipe.
func dropLoadClient() {
	if theClient != nil {
		theClient.cmd.Process.Kill()
		stopLoadClient()
	}
}

func (c *loadClient) send(cmd clientCmd) error {
	b, _ := json.Marshal(cmd)
	_, err := c.in.Write(append(b, '\n'))
	return err
}

// waitDone reads the client's "done" line: it is written as soon as its
// threads have finished, before it computes its report.
func (c *loadClient) waitDone() error {
	line, err := c.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("load client: %v", err)
	}
	if line != "done\n" {
		return fmt.Errorf("load client: unexpected %q", line)
	}
	return nil
}

func (c *loadClient) report() (clientReport, error) {
	var r clientReport
	line, err := c.out.ReadString('\n')
	if err == nil {
		err = json.Unmarshal([]byte(line), &r)
	}
	if err != nil {
		err = fmt.Errorf("load client report: %v", err)
	}
	return r, err
}

// server is one iteration's echo server.
type server struct {
	ln                     net.Listener
	bufSize                int
	wg                     sync.WaitGroup
	accepted, echoed, errs atomic.Int64
	firstErr               atomic.Value
	faultDone              atomic.Bool
}

func listen(bufSize int) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &server{ln: ln, bufSize: bufSize}, nil
}

func (s *server) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *server) error(err error) {
	if s.errs.Add(1) == 1 {
		s.firstErr.Store(err.Error())
	}
}

// serve accepts up to n connections (until the listener is closed) and
// echoes each in its own goroutine until EOF.
func (s *server) serve(n int64) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i := int64(0); i < n; i++ {
			c, err := s.ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					s.error(err)
				}
				return
			}
			s.accepted.Add(1)
			s.wg.Add(1)
			go s.echo(c)
		}
	}()
}

func (s *server) echo(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	buf := make([]byte, s.bufSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if faultInjection && !s.faultDone.Swap(true) {
				buf[n-1] ^= 0x5a // one corrupted byte
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				s.error(werr)
				return
			}
			s.echoed.Add(int64(n))
		}
		if err != nil {
			if err != io.EOF {
				s.error(err)
			}
			return
		}
	}
}

// stop closes the listener and waits for every server goroutine.
func (s *server) stop() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *server) failed(r *result) {
	if n := s.errs.Load(); n > 0 {
		r.fail("server errors: expected 0, got %d (the first: %v)", n, s.firstErr.Load())
	}
}

// tcp_echo: C connections from T client threads (in the load-client
// process) each send S bytes, wait for the whole echo, check it, and send
// the next, R times (closed loop); latency from each request's first send
// to the echo's last byte. Timed from sending the command to the client
// (it connects, then runs) to its threads' end and the server's.
func runTCPEcho(p params, _ string) (r result) {
	conns, msg, reqs, threads := p["conns"], p["msg_bytes"], p["requests"], p["client_threads"]
	lc, err := startLoadClient()
	if err != nil {
		r.fail("%v", err)
		return
	}
	s, err := listen(4096)
	if err != nil {
		r.fail("listen: %v", err)
		return
	}
	t0 := time.Now()
	s.serve(conns)
	err = lc.send(clientCmd{Op: "echo", Port: s.port(), Conns: conns, Msg: msg, Reqs: reqs, Threads: threads})
	if err == nil {
		err = lc.waitDone()
	}
	s.stop()
	r.elapsed = time.Since(t0)
	var rep clientReport
	if err == nil {
		rep, err = lc.report()
	}
	if err != nil {
		dropLoadClient()
		r.fail("%v", err)
		return
	}
	r.units = float64(conns * reqs)
	r.lat = &latency{rep.P50, rep.P99, rep.P999}
	r.record("requests", float64(rep.Completed))
	r.record("requests_per_s", float64(rep.Completed)/r.elapsed.Seconds())
	r.record("bytes_echoed", float64(s.echoed.Load()))
	r.record("corrupted_echoes", float64(rep.Corrupt))
	if rep.Err != "" {
		r.fail("client: %s", rep.Err)
	}
	s.failed(&r)
	r.expect("connections accepted", s.accepted.Load(), conns)
	r.expect("corrupted echoes", rep.Corrupt, 0)
	r.expect("requests completed", rep.Completed, conns*reqs)
	r.expect("bytes echoed by the server", s.echoed.Load(), conns*reqs*msg)
	return
}

// tcp_stream: one connection (made by the client before the clock starts)
// streams B bytes through an echo goroutine and back: a writer thread sends
// and half-closes, a reader thread reads to EOF, both hashing what they saw.
// Timed from the command to run to the end of both threads and the server.
func runTCPStream(p params, _ string) (r result) {
	bytes := p["bytes"]
	lc, err := startLoadClient()
	if err != nil {
		r.fail("%v", err)
		return
	}
	s, err := listen(64 << 10)
	if err != nil {
		r.fail("listen: %v", err)
		return
	}
	// connected before the clock starts; the kernel completes it from the backlog
	if err = lc.send(clientCmd{Op: "stream_connect", Port: s.port()}); err == nil {
		err = lc.waitDone()
	}
	if err != nil {
		s.stop()
		dropLoadClient()
		r.fail("%v", err)
		return
	}
	t0 := time.Now()
	s.serve(1)
	err = lc.send(clientCmd{Op: "stream_run", Bytes: bytes})
	if err == nil {
		err = lc.waitDone()
	}
	s.stop()
	r.elapsed = time.Since(t0)
	var rep clientReport
	if err == nil {
		rep, err = lc.report()
	}
	if err != nil {
		dropLoadClient()
		r.fail("%v", err)
		return
	}
	r.units = float64(bytes)
	r.record("bytes_returned", float64(rep.Returned))
	r.record("GiB_per_s", float64(bytes)/float64(1<<30)/r.elapsed.Seconds())
	if rep.Err != "" {
		r.fail("client %s", rep.Err)
	}
	s.failed(&r)
	r.expect("connections accepted", s.accepted.Load(), 1)
	r.expect("bytes sent", rep.Sent, bytes)
	r.expect("bytes echoed by the server", s.echoed.Load(), bytes)
	r.expect("bytes returned", rep.Returned, bytes)
	if rep.SentHash != rep.RxHash {
		r.fail("checksum of the returned stream: expected %016x, got %016x", rep.SentHash, rep.RxHash)
	}
	return
}
