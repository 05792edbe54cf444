package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Resolver looks up a host's addresses. *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ContextDialer dials a network address. *net.Dialer implements it.
type ContextDialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Dialer resolves a host once, checks every address against the host's
// Policy and dials only addresses that passed, so what is dialed is what
// was checked. Its DialContext fits http.Transport.DialContext.
type Dialer struct {
	// Policy returns the policy for a host (normalized, see Normalize), or
	// an error (a *RefusedError) when the host may not be reached at all.
	// Nil refuses every host.
	Policy func(host string) (*Policy, error)
	// Resolver looks names up. Nil means net.DefaultResolver.
	Resolver Resolver
	// Dialer connects to a checked address (always an IP:port). Nil means
	// a zero net.Dialer.
	Dialer ContextDialer
	// CacheTTL keeps a name's looked-up addresses this long, so a new
	// connection to a host seen recently skips the lookup. Every dial
	// still checks the addresses against the host's Policy and dials only
	// those that passed: the cache changes when lookups happen, never
	// what may be dialed. Failed lookups are not kept. Zero looks the name
	// up on every dial.
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[lookupKey]lookedUp // guarded by mu; at most maxCached entries
}

// maxCached bounds the lookup cache; past it, expired entries are dropped,
// then all of them.
const maxCached = 1024

type lookupKey struct{ network, host string }

type lookedUp struct {
	ips     []netip.Addr
	expires time.Time
}

// DialContext dials address ("host:port") over network ("tcp", "tcp4" or
// "tcp6") after the checks. It returns a *RefusedError (matching
// ErrRefused) when no address of the host may be dialed.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("egress: network %q not supported (tcp only)", network)
	}
	hostPort, err := d.Resolve(ctx, network, address)
	if err != nil {
		return nil, err
	}
	dialer := d.Dialer
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	var errs []error
	for _, ap := range hostPort {
		c, err := dialer.DialContext(ctx, network, ap.String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Resolve returns the addresses of address ("host:port") that may be dialed,
// in the resolver's order, or a *RefusedError naming the first refused one
// when none may. An IP literal is checked as it is, without a lookup.
func (d *Dialer) Resolve(ctx context.Context, network, address string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("egress: address %q: %w", address, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("egress: address %q: port %q is not a number from 1 to 65535", address, portStr)
	}
	host = Normalize(host)
	if d.Policy == nil {
		return nil, &RefusedError{Host: host, Reason: "host not allowed (no policy)"}
	}
	pol, err := d.Policy(host)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, perr := netip.ParseAddr(host); perr == nil {
		ips = []netip.Addr{ip}
	} else {
		if ips, err = d.lookup(ctx, network, host); err != nil {
			return nil, err
		}
	}
	var ok []netip.AddrPort
	var first error
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip, uint16(port))
		if err := pol.Check(host, ap); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		ok = append(ok, ap)
	}
	if len(ok) == 0 {
		return nil, first
	}
	return ok, nil
}

// lookup resolves host for network, from the cache when CacheTTL allows.
func (d *Dialer) lookup(ctx context.Context, network, host string) ([]netip.Addr, error) {
	lookup := "ip"
	switch network {
	case "tcp4":
		lookup = "ip4"
	case "tcp6":
		lookup = "ip6"
	}
	key := lookupKey{lookup, host}
	if d.CacheTTL > 0 {
		d.mu.Lock()
		e, ok := d.cache[key]
		d.mu.Unlock()
		if ok && time.Now().Before(e.expires) {
			return e.ips, nil
		}
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, lookup, host)
	if err != nil {
		return nil, fmt.Errorf("egress: resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("egress: resolve %s: no addresses", host)
	}
	if d.CacheTTL > 0 {
		now := time.Now()
		d.mu.Lock()
		if d.cache == nil {
			d.cache = map[lookupKey]lookedUp{}
		}
		if len(d.cache) >= maxCached {
			for k, e := range d.cache {
				if !now.Before(e.expires) {
					delete(d.cache, k)
				}
			}
			if len(d.cache) >= maxCached {
				clear(d.cache)
			}
		}
		d.cache[key] = lookedUp{ips: ips, expires: now.Add(d.CacheTTL)}
		d.mu.Unlock()
	}
	return ips, nil
}
