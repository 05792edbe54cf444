package quota

import (
	"net/http"
	"strings"
	"time"
)

// joined returns every line of a header joined with ", ", as RFC 9110
// combines field lines (pitfall 7: Header.Get returns only the first).
func joined(h http.Header, name string) string {
	return strings.Join(h.Values(name), ", ")
}

// parseIETF reads draft-ietf-httpapi-ratelimit-headers in its current
// structured form (-08 to -11, also under the Beta- prefix Atlassian uses),
// then the -07 dictionary form, then the separate headers of -06 and older.
func parseIETF(h http.Header, c clock) []Observation {
	if obs := ietfStructured(h, "Ratelimit", "Ratelimit-Policy", c); len(obs) > 0 {
		return obs
	}
	if obs := ietfStructured(h, "Beta-Ratelimit", "Beta-Ratelimit-Policy", c); len(obs) > 0 {
		return obs
	}
	if obs := ietf07(h, c); len(obs) > 0 {
		return obs
	}
	return ietf06(h, c)
}

// ietfPolicy is one member of RateLimit-Policy.
type ietfPolicy struct {
	name, pk string
	q        float64
	unit     Unit
	w        float64
	used     bool
}

// ietfStructured reads the -08+ fields: RateLimit-Policy: "burst";q=100;w=60
// and RateLimit: "burst";r=50;t=30. A malformed field is ignored whole.
func ietfStructured(h http.Header, limitName, policyName string, c clock) []Observation {
	var pols []ietfPolicy
	if items, err := parseSFList(joined(h, policyName)); err == nil {
		for _, it := range items {
			name, ok := it.name()
			q, qok := it.paramNum("q")
			if !ok || !qok {
				continue
			}
			p := ietfPolicy{name: name, q: q, unit: Requests}
			if pk, ok := it.param("pk"); ok {
				p.pk = pk.str
			}
			if u, ok := it.param("qu"); ok {
				p.unit = ietfUnit(u.str)
			}
			p.w, _ = it.paramNum("w")
			pols = append(pols, p)
		}
	}
	var obs []Observation
	if items, err := parseSFList(joined(h, limitName)); err == nil {
		for _, it := range items {
			name, ok := it.name()
			r, rok := it.paramNum("r")
			if !ok || !rok {
				continue
			}
			pk := ""
			if v, ok := it.param("pk"); ok {
				pk = v.str
			}
			o := Observation{Unit: Requests, Limit: Unknown}
			for i := range pols {
				if p := &pols[i]; p.name == name && (p.pk == pk || p.pk == "" || pk == "") {
					p.used = true
					o.Unit, o.Window = p.unit, secs(p.w)
					o.Limit = quotaCount(p.q, true)
					break
				}
			}
			o.Bucket = ietfBucket(name, pk)
			o.Remaining = capRemaining(quotaCount(r, true), o.Limit)
			if t, ok := it.paramNum("t"); ok && t >= 0 {
				o.Reset = c.after(secs(t))
			}
			obs = append(obs, o)
		}
	}
	for _, p := range pols {
		if !p.used {
			obs = append(obs, Observation{Bucket: ietfBucket(p.name, p.pk), Unit: p.unit,
				Limit: quotaCount(p.q, true), Remaining: Unknown, Window: secs(p.w)})
		}
	}
	return obs
}

// ietfBucket names an IETF policy's bucket, with its partition key.
func ietfBucket(name, pk string) string {
	if pk != "" {
		return "ietf:" + name + ":" + pk
	}
	return "ietf:" + name
}

// ietfUnit maps a qu parameter to a Unit.
func ietfUnit(s string) Unit {
	switch s {
	case "requests", "":
		return Requests
	case "content-bytes":
		return Bytes
	case "concurrent-requests":
		return ConcurrentRequests
	}
	return UnitUnknown
}

// ietf07 reads the -07 form: RateLimit: limit=100, remaining=50, reset=5
// with RateLimit-Policy: 100;w=10.
func ietf07(h http.Header, c clock) []Observation {
	members, err := parseSFDict(joined(h, "Ratelimit"))
	if err != nil {
		return nil
	}
	var lim, rem, reset float64
	var limOK, remOK, resetOK bool
	for _, m := range members {
		v, ok := m.val.number()
		switch m.key {
		case "limit":
			lim, limOK = v, ok
		case "remaining":
			rem, remOK = v, ok
		case "reset":
			reset, resetOK = v, ok
		}
	}
	if !limOK && !remOK {
		return nil
	}
	o := counter("ietf", Requests, lim, rem, limOK, remOK)
	if resetOK {
		o.Reset = c.reset(reset, false)
	}
	o.Window = policyWindow(joined(h, "Ratelimit-Policy"), o.Limit)
	return []Observation{o}
}

// ietf06 reads -06 and older: RateLimit-Limit: 100 (or -03's
// "10, 10;w=1"), RateLimit-Remaining: 50, RateLimit-Reset: 50 (delta
// seconds), and RateLimit-Policy: 10;w=1, 50;w=60.
func ietf06(h http.Header, c clock) []Observation {
	lim, limOK := headerNum(h, "Ratelimit-Limit")
	rem, remOK := headerNum(h, "Ratelimit-Remaining")
	if !limOK && !remOK {
		return nil
	}
	o := counter("ietf", Requests, lim, rem, limOK, remOK)
	if v, ok := headerNum(h, "Ratelimit-Reset"); ok {
		o.Reset = c.reset(v, false)
	}
	o.Window = policyWindow(joined(h, "Ratelimit-Policy"), o.Limit)
	if o.Window == 0 {
		o.Window = policyWindow(joined(h, "Ratelimit-Limit"), o.Limit)
	}
	return []Observation{o}
}

// policyWindow returns the window of the numeric policy item ("100;w=10")
// whose quota is limit, or of the first one.
func policyWindow(s string, limit float64) (w time.Duration) {
	items, err := parseSFList(s)
	if err != nil {
		return 0
	}
	first := true
	for _, it := range items {
		q, ok := it.number()
		win, wok := it.paramNum("w")
		if !ok || !wok {
			continue
		}
		if q == limit || first {
			w = secs(win)
			first = false
			if q == limit {
				return w
			}
		}
	}
	return w
}

// parseGitLab reads GitLab's RateLimit-* headers: the names of IETF -06
// but RateLimit-Reset in epoch seconds, with RateLimit-ResetTime as an
// HTTP-date.
func parseGitLab(h http.Header, c clock) []Observation {
	lim, limOK := headerNum(h, "Ratelimit-Limit")
	rem, remOK := headerNum(h, "Ratelimit-Remaining")
	if !limOK && !remOK {
		return nil
	}
	o := counter("gitlab", Requests, lim, rem, limOK, remOK)
	if v, ok := headerNum(h, "Ratelimit-Reset"); ok {
		o.Reset = c.reset(v, true)
	}
	if o.Reset.IsZero() {
		if t, ok := parseTimestamp(h.Get("Ratelimit-Resettime")); ok {
			o.Reset = c.at(t)
		}
	}
	return []Observation{o}
}
