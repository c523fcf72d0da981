package sip

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// portsExhaustedError reports that every RTP port of the range is in use.
type portsExhaustedError struct{ min, max int }

func (e *portsExhaustedError) Error() string {
	return fmt.Sprintf("rtp: no free port in %d-%d", e.min, e.max)
}

// rtpPort is one reserved RTP port: the bound socket holds it.
type rtpPort struct {
	port int
	conn *net.UDPConn
}

// portPool hands out RTP ports from a range. A port is reserved by binding
// a UDP socket on it, so ports other programs hold are skipped, and it is
// released by closing the socket.
type portPool struct {
	ip         netip.Addr
	candidates []int // even ports of the range (RTP's convention), or the one port

	mu    sync.Mutex
	next  int // index in candidates to try first
	inUse map[int]*rtpPort
}

func newPortPool(ip netip.Addr, lo, hi int) (*portPool, error) {
	if lo < 1 || hi > 65535 || lo > hi {
		return nil, fmt.Errorf("rtp: bad port range %d-%d", lo, hi)
	}
	p := &portPool{ip: ip, inUse: map[int]*rtpPort{}}
	if lo == hi {
		p.candidates = []int{lo}
		return p, nil
	}
	for port := lo + lo%2; port <= hi; port += 2 {
		p.candidates = append(p.candidates, port)
	}
	if len(p.candidates) == 0 {
		p.candidates = []int{lo}
	}
	return p, nil
}

// acquire reserves the next free port, or returns a *portsExhaustedError.
func (p *portPool) acquire() (*rtpPort, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.candidates)
	for i := 0; i < n; i++ {
		idx := (p.next + i) % n
		port := p.candidates[idx]
		if _, used := p.inUse[port]; used {
			continue
		}
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
		if err != nil {
			continue // held by someone else
		}
		rp := &rtpPort{port: port, conn: conn}
		p.inUse[port] = rp
		p.next = (idx + 1) % n
		return rp, nil
	}
	return nil, &portsExhaustedError{min: p.candidates[0], max: p.candidates[n-1]}
}

// release frees a port acquired from the pool; nil and double releases are
// ignored.
func (p *portPool) release(rp *rtpPort) {
	if rp == nil {
		return
	}
	p.mu.Lock()
	if cur, ok := p.inUse[rp.port]; ok && cur == rp {
		delete(p.inUse, rp.port)
	}
	p.mu.Unlock()
	_ = rp.conn.Close()
}

// inUseCount is the number of ports currently reserved.
func (p *portPool) inUseCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse)
}
