package processortest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// jsonNode is a parsed JSON value that keeps the order of object keys.
type jsonNode struct {
	delim byte   // '{' or '[' for containers, 0 for a scalar
	raw   string // a scalar as JSON
	keys  []string
	vals  []*jsonNode
}

// indentJSON formats JSON for golden files: objects and arrays holding only
// scalars on one line, compact; others one member a line, each level
// indented by two spaces after prefix.
func indentJSON(data []byte, prefix string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseJSON(dec)
	if err != nil {
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("trailing data after the JSON value")
	}
	var b strings.Builder
	writeJSON(&b, n, prefix)
	return b.String(), nil
}

func parseJSON(dec *json.Decoder) (*jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		raw, err := json.Marshal(tok)
		return &jsonNode{raw: string(raw)}, err
	}
	n := &jsonNode{delim: byte(d)}
	for dec.More() {
		if n.delim == '{' {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k.(string))
		}
		v, err := parseJSON(dec)
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, v)
	}
	_, err = dec.Token() // the closing delimiter
	return n, err
}

func (n *jsonNode) flat() bool {
	for _, v := range n.vals {
		if v.delim != 0 {
			return false
		}
	}
	return true
}

func writeJSON(b *strings.Builder, n *jsonNode, indent string) {
	if n.delim == 0 {
		b.WriteString(n.raw)
		return
	}
	end := byte('}')
	if n.delim == '[' {
		end = ']'
	}
	b.WriteByte(n.delim)
	flat := n.flat()
	for i, v := range n.vals {
		if i > 0 {
			b.WriteByte(',')
		}
		if !flat {
			b.WriteString("\n" + indent + "  ")
		}
		if n.delim == '{' {
			k, _ := json.Marshal(n.keys[i])
			b.Write(k)
			b.WriteByte(':')
			if !flat {
				b.WriteByte(' ')
			}
		}
		writeJSON(b, v, indent+"  ")
	}
	if !flat && len(n.vals) > 0 {
		b.WriteString("\n" + indent)
	}
	b.WriteByte(end)
}
