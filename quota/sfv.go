package quota

import (
	"errors"
	"strings"
)

// This file is a parser for the subset of RFC 8941 structured fields that
// rate-limit headers use: Lists and Dictionaries of Items (and Inner Lists,
// parsed so that they can be skipped) with Parameters; bare items are
// Integers, Decimals, Strings, Tokens, Byte Sequences and Booleans. As the RFC
// requires, any syntax error fails the whole field.

// sfKind is the type of a bare item.
type sfKind uint8

const (
	sfInt sfKind = iota + 1
	sfDec
	sfStr
	sfTok
	sfBytes // str holds the base64 text, validated but not decoded
	sfBool
	sfInner // an Inner List; items holds its members
)

// Limits against hostile input.
const (
	sfMaxLen     = 16 << 10 // longest field we parse
	sfMaxMembers = 64       // most members in a List or Dictionary
	sfMaxParams  = 32       // most parameters on one item
)

var errSF = errors.New("quota: malformed structured field")

// sfItem is an Item or an Inner List with its Parameters.
type sfItem struct {
	kind   sfKind
	num    float64 // sfInt, sfDec
	str    string  // sfStr, sfTok, sfBytes
	b      bool    // sfBool
	items  []sfItem
	params []sfParam
}

// sfParam is one Parameter; a parameter without a value is Boolean true.
type sfParam struct {
	key string
	val sfItem // never has params or items
}

// sfMember is a Dictionary member.
type sfMember struct {
	key string
	val sfItem
}

// param returns the last parameter named key (later ones override, RFC 8941
// 4.2.3.2).
func (it sfItem) param(key string) (sfItem, bool) {
	for i := len(it.params) - 1; i >= 0; i-- {
		if it.params[i].key == key {
			return it.params[i].val, true
		}
	}
	return sfItem{}, false
}

// number returns the item's value when it is an Integer or Decimal.
func (it sfItem) number() (float64, bool) {
	if it.kind == sfInt || it.kind == sfDec {
		return it.num, true
	}
	return 0, false
}

// paramNum returns a numeric parameter.
func (it sfItem) paramNum(key string) (float64, bool) {
	p, ok := it.param(key)
	if !ok {
		return 0, false
	}
	return p.number()
}

// name returns a String or Token item's text.
func (it sfItem) name() (string, bool) {
	if it.kind == sfStr || it.kind == sfTok {
		return it.str, true
	}
	return "", false
}

type sfParser struct {
	s string
}

// parseSFList parses a List (RFC 8941 4.2.1).
func parseSFList(s string) ([]sfItem, error) {
	if len(s) > sfMaxLen {
		return nil, errSF
	}
	p := sfParser{s: strings.TrimLeft(s, " ")}
	var out []sfItem
	for p.s != "" {
		it, err := p.itemOrInner()
		if err != nil {
			return nil, err
		}
		if out = append(out, it); len(out) > sfMaxMembers {
			return nil, errSF
		}
		if err := p.nextMember(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseSFDict parses a Dictionary (RFC 8941 4.2.2).
func parseSFDict(s string) ([]sfMember, error) {
	if len(s) > sfMaxLen {
		return nil, errSF
	}
	p := sfParser{s: strings.TrimLeft(s, " ")}
	var out []sfMember
	for p.s != "" {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var it sfItem
		if p.s != "" && p.s[0] == '=' {
			p.s = p.s[1:]
			if it, err = p.itemOrInner(); err != nil {
				return nil, err
			}
		} else {
			it = sfItem{kind: sfBool, b: true}
			if it.params, err = p.params(); err != nil {
				return nil, err
			}
		}
		if out = append(out, sfMember{key: key, val: it}); len(out) > sfMaxMembers {
			return nil, errSF
		}
		if err := p.nextMember(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// nextMember consumes the separator after a member: OWS, then either the end
// or a comma followed by OWS and another member.
func (p *sfParser) nextMember() error {
	p.s = strings.TrimLeft(p.s, " \t")
	if p.s == "" {
		return nil
	}
	if p.s[0] != ',' {
		return errSF
	}
	p.s = strings.TrimLeft(p.s[1:], " \t")
	if p.s == "" {
		return errSF // trailing comma
	}
	return nil
}

func (p *sfParser) itemOrInner() (sfItem, error) {
	if p.s != "" && p.s[0] == '(' {
		return p.innerList()
	}
	return p.item()
}

func (p *sfParser) innerList() (sfItem, error) {
	p.s = p.s[1:]
	it := sfItem{kind: sfInner}
	for {
		p.s = strings.TrimLeft(p.s, " ")
		if p.s == "" {
			return sfItem{}, errSF
		}
		if p.s[0] == ')' {
			p.s = p.s[1:]
			var err error
			it.params, err = p.params()
			return it, err
		}
		m, err := p.item()
		if err != nil {
			return sfItem{}, err
		}
		if it.items = append(it.items, m); len(it.items) > sfMaxMembers {
			return sfItem{}, errSF
		}
		if p.s != "" && p.s[0] != ' ' && p.s[0] != ')' {
			return sfItem{}, errSF
		}
	}
}

func (p *sfParser) item() (sfItem, error) {
	it, err := p.bare()
	if err != nil {
		return sfItem{}, err
	}
	it.params, err = p.params()
	return it, err
}

func (p *sfParser) params() ([]sfParam, error) {
	var out []sfParam
	for p.s != "" && p.s[0] == ';' {
		p.s = strings.TrimLeft(p.s[1:], " ")
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		val := sfItem{kind: sfBool, b: true}
		if p.s != "" && p.s[0] == '=' {
			p.s = p.s[1:]
			if val, err = p.bare(); err != nil {
				return nil, err
			}
		}
		if out == nil {
			out = make([]sfParam, 0, 2) // q and w, or r and t: one allocation
		}
		if out = append(out, sfParam{key: key, val: val}); len(out) > sfMaxParams {
			return nil, errSF
		}
	}
	return out, nil
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool   { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isTChar reports an RFC 9110 tchar.
func isTChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *sfParser) key() (string, error) {
	if p.s == "" || !isLCAlpha(p.s[0]) && p.s[0] != '*' {
		return "", errSF
	}
	i := 1
	for i < len(p.s) && (isLCAlpha(p.s[i]) || isDigit(p.s[i]) || strings.IndexByte("_-.*", p.s[i]) >= 0) {
		i++
	}
	k := p.s[:i]
	p.s = p.s[i:]
	return k, nil
}

func (p *sfParser) bare() (sfItem, error) {
	if p.s == "" {
		return sfItem{}, errSF
	}
	switch c := p.s[0]; {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || isAlpha(c):
		i := 1
		for i < len(p.s) && (isTChar(p.s[i]) || p.s[i] == ':' || p.s[i] == '/') {
			i++
		}
		it := sfItem{kind: sfTok, str: p.s[:i]}
		p.s = p.s[i:]
		return it, nil
	case c == ':':
		end := strings.IndexByte(p.s[1:], ':')
		if end < 0 {
			return sfItem{}, errSF
		}
		b64 := p.s[1 : 1+end]
		for i := 0; i < len(b64); i++ {
			if !isAlpha(b64[i]) && !isDigit(b64[i]) && strings.IndexByte("+/=", b64[i]) < 0 {
				return sfItem{}, errSF
			}
		}
		p.s = p.s[end+2:]
		return sfItem{kind: sfBytes, str: b64}, nil
	case c == '?':
		if len(p.s) < 2 || p.s[1] != '0' && p.s[1] != '1' {
			return sfItem{}, errSF
		}
		it := sfItem{kind: sfBool, b: p.s[1] == '1'}
		p.s = p.s[2:]
		return it, nil
	}
	return sfItem{}, errSF
}

// number parses an Integer (at most 15 digits) or a Decimal (at most 12
// integer and 3 fractional digits), RFC 8941 4.2.4.
func (p *sfParser) number() (sfItem, error) {
	i, neg := 0, false
	if p.s[0] == '-' {
		neg, i = true, 1
	}
	start, dot := i, -1
	for ; i < len(p.s); i++ {
		c := p.s[i]
		if c == '.' && dot < 0 {
			if i-start > 12 {
				return sfItem{}, errSF
			}
			dot = i
			continue
		}
		if !isDigit(c) {
			break
		}
		if dot < 0 && i-start >= 15 || dot >= 0 && i-dot > 3 {
			return sfItem{}, errSF
		}
	}
	text := p.s[start:i]
	if text == "" || !isDigit(text[0]) || dot == i-1 {
		return sfItem{}, errSF // no digits, or a trailing dot
	}
	v, ok := parseNum(text)
	if !ok {
		return sfItem{}, errSF
	}
	if neg {
		v = -v
	}
	p.s = p.s[i:]
	if dot >= 0 {
		return sfItem{kind: sfDec, num: v}, nil
	}
	return sfItem{kind: sfInt, num: v}, nil
}

func (p *sfParser) str() (sfItem, error) {
	// Most strings hold no escape: return them as a substring, unallocated.
	if end := strings.IndexAny(p.s[1:], "\"\\"); end >= 0 && p.s[1+end] == '"' {
		text := p.s[1 : 1+end]
		for i := 0; i < len(text); i++ {
			if text[i] < 0x20 || text[i] > 0x7e {
				return sfItem{}, errSF
			}
		}
		p.s = p.s[end+2:]
		return sfItem{kind: sfStr, str: text}, nil
	}
	var b strings.Builder
	for i := 1; i < len(p.s); i++ {
		c := p.s[i]
		switch {
		case c == '\\':
			i++
			if i == len(p.s) || p.s[i] != '"' && p.s[i] != '\\' {
				return sfItem{}, errSF
			}
			b.WriteByte(p.s[i])
		case c == '"':
			p.s = p.s[i+1:]
			return sfItem{kind: sfStr, str: b.String()}, nil
		case c < 0x20 || c > 0x7e:
			return sfItem{}, errSF
		default:
			b.WriteByte(c)
		}
	}
	return sfItem{}, errSF
}
