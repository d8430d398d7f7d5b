// Package report holds what the journey benchmarks share to report their
// results: Write puts <name>.json (the figures) and <name>.md (the report)
// in one folder; CPUModel, Kernel, Revision, KafkaVersion... describe the
// machine and software measured; Int, Num, Ratios and Dash format the
// markdown tables' cells.
package report

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
)

// Write writes v as dir/<name>.json and what markdown writes as
// dir/<name>.md, creating dir.
func Write(dir, name string, v any, markdown func(io.Writer)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	markdown(&md)
	return os.WriteFile(filepath.Join(dir, name+".md"), md.Bytes(), 0o644)
}
