package main

// The load client of tcp_echo and tcp_stream: a child process (this binary
// with --load-client), so that it takes none of the measured runtime's Ps.
// Each client "thread" is a goroutine locked to its own OS thread
// (runtime.LockOSThread, GOMAXPROCS = the thread count) making raw system
// calls on its sockets, as weft's client threads do: tcp_echo's threads
// drive their connections with poll(2), tcp_stream's writer and reader use
// blocking sockets with a 10 s SO_SNDTIMEO/SO_RCVTIMEO. No Go netpoller is
// involved, so the client's cost is close to weft's C client's.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const stallMs = 10000 // a call that makes no progress for this long fails

func loadClientMain() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	streamFd := -1
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return // the parent closed stdin: done
		}
		var cmd clientCmd
		var rep clientReport
		if err := json.Unmarshal([]byte(line), &cmd); err != nil {
			rep.Err = "bad command: " + err.Error()
		} else {
			switch cmd.Op {
			case "echo":
				rep = clientEcho(cmd)
			case "stream_connect":
				if streamFd >= 0 {
					syscall.Close(streamFd)
				}
				streamFd, err = dial(cmd.Port, false)
				if err == nil {
					tv := syscall.Timeval{Sec: stallMs / 1000}
					syscall.SetsockoptTimeval(streamFd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
					syscall.SetsockoptTimeval(streamFd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
				}
				fmt.Fprint(out, "done\n")
				out.Flush()
				continue // no report: a connect error shows in stream_run
			case "stream_run":
				if streamFd < 0 {
					rep.Err = "no connection (stream_connect failed)"
				} else {
					rep = clientStream(streamFd, cmd.Bytes)
					syscall.Close(streamFd)
					streamFd = -1
				}
			default:
				rep.Err = "unknown command " + cmd.Op
			}
		}
		b, _ := json.Marshal(rep)
		out.Write(b)
		out.WriteByte('\n')
		out.Flush()
	}
}

// doneLine tells the parent the threads have finished (its clock stops);
// the report follows.
func doneLine() {
	os.Stdout.WriteString("done\n")
}

func dial(port int, nonblock bool) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %v", err)
	}
	sa := &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	for {
		err = syscall.Connect(fd, sa)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("connect to 127.0.0.1:%d: %v", port, err)
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if nonblock {
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			return -1, fmt.Errorf("O_NONBLOCK: %v", err)
		}
	}
	return fd, nil
}

func ioMix(x uint64) uint64 { return splitmix64(x) }

// echoFill: the message of request req on connection conn, as weft's te_fill.
func echoFill(buf []byte, conn, req int64) {
	x := ioMix(uint64(conn)<<32 ^ uint64(req))
	for j := range buf {
		buf[j] = byte(x >> 56)
		x = x*6364136223846793005 + 1442695040888963407
	}
}

type pollFd struct {
	fd             int32
	events, revent int16
}

const (
	pollIn  = 0x1
	pollOut = 0x4
	pollErr = 0x8
	pollHup = 0x10
)

func poll(fds []pollFd, timeoutMs int) (int, syscall.Errno) {
	n, _, e := syscall.Syscall(syscall.SYS_POLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), uintptr(timeoutMs))
	return int(n), e
}

type echoConn struct {
	fd         int
	id, req    int64
	sent, rcvd int64
	tSend      time.Time
	tx, rx     []byte
}

type echoThread struct {
	first, count, msg, reqs int64
	port                    int
	lat                     []time.Duration
	completed, corrupt, rx  int64
	err                     string
}

func (t *echoThread) start(c *echoConn) bool {
	echoFill(c.tx, c.id, c.req)
	c.sent, c.rcvd = 0, 0
	c.tSend = time.Now()
	return t.sendMore(c)
}

func (t *echoThread) sendMore(c *echoConn) bool {
	for c.sent < t.msg {
		n, err := syscall.Write(c.fd, c.tx[c.sent:])
		if n > 0 {
			c.sent += int64(n)
			continue
		}
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return true
		}
		t.err = fmt.Sprintf("connection %d: send: %v", c.id, err)
		return false
	}
	return true
}

// recv reads what is there; a complete echo is recorded and checked and the
// next request started (or the connection closed after the last).
func (t *echoThread) recv(c *echoConn, active *int) bool {
	for {
		n, err := syscall.Read(c.fd, c.rx[c.rcvd:])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return true
		}
		if n <= 0 {
			what := "the server closed the connection"
			if err != nil {
				what = err.Error()
			}
			t.err = fmt.Sprintf("connection %d, request %d: %s", c.id, c.req, what)
			return false
		}
		c.rcvd += int64(n)
		t.rx += int64(n)
		if c.rcvd < t.msg {
			continue
		}
		t.lat = append(t.lat, time.Since(c.tSend))
		if string(c.tx) != string(c.rx) {
			t.corrupt++
		}
		t.completed++
		c.req++
		if c.req == t.reqs {
			syscall.Close(c.fd)
			c.fd = -1
			*active--
			return true
		}
		if !t.start(c) {
			return false
		}
	}
}

func (t *echoThread) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	conns := make([]echoConn, t.count)
	for i := range conns {
		conns[i].fd = -1
	}
	defer func() {
		for _, c := range conns {
			if c.fd >= 0 {
				syscall.Close(c.fd)
			}
		}
	}()
	for i := range conns {
		c := &conns[i]
		c.id = t.first + int64(i)
		c.tx, c.rx = make([]byte, t.msg), make([]byte, t.msg)
		fd, err := dial(t.port, true)
		if err != nil {
			t.err = err.Error()
			return
		}
		c.fd = fd
	}
	active := len(conns)
	for i := range conns {
		if !t.start(&conns[i]) {
			return
		}
	}
	pfd := make([]pollFd, 0, len(conns))
	idx := make([]int, 0, len(conns))
	for active > 0 {
		pfd, idx = pfd[:0], idx[:0]
		for i := range conns {
			if conns[i].fd < 0 {
				continue
			}
			ev := int16(pollIn)
			if conns[i].sent < t.msg {
				ev |= pollOut
			}
			pfd = append(pfd, pollFd{fd: int32(conns[i].fd), events: ev})
			idx = append(idx, i)
		}
		n, e := poll(pfd, stallMs)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			t.err = "poll: " + e.Error()
			return
		}
		if n == 0 {
			t.err = fmt.Sprintf("no echo for %d ms (%d of %d connections unfinished)", stallMs, active, t.count)
			return
		}
		for k := range pfd {
			if pfd[k].revent == 0 {
				continue
			}
			c := &conns[idx[k]]
			if pfd[k].revent&pollOut != 0 && !t.sendMore(c) {
				return
			}
			if pfd[k].revent&(pollIn|pollHup|pollErr) != 0 && !t.recv(c, &active) {
				return
			}
		}
	}
}

func clientEcho(cmd clientCmd) (rep clientReport) {
	threads := cmd.Threads
	if threads > cmd.Conns {
		threads = cmd.Conns
	}
	if int(threads) != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(int(threads))
	}
	ts := make([]*echoThread, threads)
	var wg sync.WaitGroup
	first := int64(0)
	for i := range ts {
		count := cmd.Conns / threads
		if int64(i) < cmd.Conns%threads {
			count++
		}
		ts[i] = &echoThread{first: first, count: count, msg: cmd.Msg, reqs: cmd.Reqs, port: cmd.Port,
			lat: make([]time.Duration, 0, count*cmd.Reqs)}
		first += count
		wg.Add(1)
		go func(t *echoThread) {
			defer wg.Done()
			t.run()
		}(ts[i])
	}
	wg.Wait()
	doneLine()
	var lat []time.Duration
	for _, t := range ts {
		rep.Completed += t.completed
		rep.Corrupt += t.corrupt
		rep.RxBytes += t.rx
		if rep.Err == "" {
			rep.Err = t.err
		}
		lat = append(lat, t.lat...)
	}
	l := percentiles(lat)
	rep.P50, rep.P99, rep.P999 = l.p50, l.p99, l.p999
	return
}

// ---- tcp_stream ----------------------------------------------------------------------

const streamChunk = 256 << 10

// fnv4 is weft's stream hash: 4-lane FNV-1a over 64-bit little-endian words
// (word i to lane i % 4), a final partial word zero-padded, the byte count
// folded in; independent of how the stream was cut into calls.
type fnv4 struct {
	h     [4]uint64
	tail  [32]byte
	ntail int
	total uint64
}

const fnvPrime = 0x100000001b3

func newFnv4() *fnv4 {
	f := &fnv4{}
	for i := range f.h {
		f.h[i] = 0xcbf29ce484222325 + uint64(i)
	}
	return f
}

func (f *fnv4) block(p []byte) {
	for i := 0; i < 4; i++ {
		f.h[i] = (f.h[i] ^ binary.LittleEndian.Uint64(p[8*i:])) * fnvPrime
	}
}

func (f *fnv4) update(p []byte) {
	f.total += uint64(len(p))
	if f.ntail > 0 {
		k := copy(f.tail[f.ntail:], p)
		f.ntail += k
		p = p[k:]
		if f.ntail < 32 {
			return
		}
		f.block(f.tail[:])
		f.ntail = 0
	}
	for ; len(p) >= 32; p = p[32:] {
		f.block(p)
	}
	f.ntail = copy(f.tail[:], p)
}

func (f *fnv4) final() uint64 {
	for i := f.ntail; i < 32; i++ {
		f.tail[i] = 0
	}
	if f.ntail > 0 {
		f.block(f.tail[:])
	}
	h := f.total
	for i := 0; i < 4; i++ {
		h = (h ^ f.h[i]) * fnvPrime
	}
	return h
}

func clientStream(fd int, bytes int64) (rep clientReport) {
	if runtime.GOMAXPROCS(0) != 2 {
		runtime.GOMAXPROCS(2)
	}
	var wg sync.WaitGroup
	var werr, rerr string
	wg.Add(2)
	go func() { // the writer: a Weyl sequence of 64-bit words, then half-close
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, streamChunk)
		f := newFnv4()
		word := uint64(0)
		for rep.Sent < bytes && werr == "" {
			n := bytes - rep.Sent
			if n > streamChunk {
				n = streamChunk
			}
			for i := int64(0); i < (n+7)/8; i++ {
				binary.LittleEndian.PutUint64(buf[8*i:], (word+1)*0x9e3779b97f4a7c15)
				word++
			}
			f.update(buf[:n])
			for off := int64(0); off < n; {
				k, err := syscall.Write(fd, buf[off:n])
				if k > 0 {
					off += int64(k)
					continue
				}
				if err == syscall.EINTR {
					continue
				}
				if err == syscall.EAGAIN {
					werr = fmt.Sprintf("writer: send after %d bytes: no progress for 10 s", rep.Sent+off)
				} else {
					werr = fmt.Sprintf("writer: send after %d bytes: %v", rep.Sent+off, err)
				}
				break
			}
			if werr == "" {
				rep.Sent += n
			}
		}
		if werr == "" {
			if err := syscall.Shutdown(fd, syscall.SHUT_WR); err != nil {
				werr = "writer: shutdown: " + err.Error()
			}
		}
		if werr != "" {
			syscall.Shutdown(fd, syscall.SHUT_RDWR) // unblock the reader and the server
		}
		rep.SentHash = f.final()
	}()
	go func() { // the reader: until EOF
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		buf := make([]byte, streamChunk)
		f := newFnv4()
		for {
			k, err := syscall.Read(fd, buf)
			if k > 0 {
				f.update(buf[:k])
				rep.Returned += int64(k)
				continue
			}
			if k == 0 && err == nil {
				break
			}
			if err == syscall.EINTR {
				continue
			}
			rerr = fmt.Sprintf("reader: recv after %d bytes: %v", rep.Returned, err)
			if err == syscall.EAGAIN {
				rerr = fmt.Sprintf("reader: recv after %d bytes: no progress for 10 s", rep.Returned)
			}
			syscall.Shutdown(fd, syscall.SHUT_RDWR)
			break
		}
		rep.RxHash = f.final()
	}()
	wg.Wait()
	doneLine()
	if werr != "" {
		rep.Err = werr
	} else {
		rep.Err = rerr
	}
	return
}
